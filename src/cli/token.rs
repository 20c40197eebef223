//! `techbalance token create|revoke`: operator tokens, each change audited as the API's are.

use clap::Subcommand;
use techbalance::config::Config;
use techbalance_store::operations::{CreateToken, RevokeToken};
use techbalance_store::StoreError;

#[derive(Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (it is shown only this once).
    Create {
        /// A name for the token's holder, unique among active tokens (audited as the actor).
        name: String,
    },
    /// Revoke a token: requests with it are refused from now on.
    Revoke {
        /// The name the token was created with.
        name: String,
    },
}

pub async fn run(config: &Config, action: TokenAction) -> anyhow::Result<()> {
    let store = techbalance::open_store(config).await?;
    let actor = super::actor();
    match action {
        TokenAction::Create { name } => {
            let (token, token_hash) = techbalance_api::auth::new_token(&name)?;
            let create = CreateToken {
                name: name.clone(),
                token_hash,
            };
            store.perform(&actor, create).await?;
            println!("{token}");
            eprintln!("token \"{name}\" created; it is shown only this once");
        }
        TokenAction::Revoke { name } => {
            let revoke = RevokeToken { name: name.clone() };
            match store.perform(&actor, revoke).await {
                Err(StoreError::NotFound { .. }) => {
                    anyhow::bail!("no active token named \"{name}\"")
                }
                done => done?,
            }
            println!("token \"{name}\" revoked");
        }
    }
    Ok(())
}
