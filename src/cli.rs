//! The command line: one module per command, each a thin shell over the library (`techbalance`)
//! and, for what an operator changes, over the store's audited operations
//! ([`Store::perform`](techbalance_store::Store::perform)), the path the API's mutations take.

use clap::Subcommand;
use std::net::SocketAddr;
use techbalance::config::Config;

mod migrate;
mod refresh;
mod schedule;
mod seed;
mod serve;
mod token;
mod worker;

#[derive(Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default). Migrates, and seeds an empty database.
    #[command(after_long_help = techbalance::config::variables::help())]
    Serve {
        /// Address to listen on, instead of TECHBALANCE_BIND
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Serve the API only; run `techbalance worker` processes for the refreshes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run schedules and claim queued refreshes, without the API (for scaling out).
    #[command(after_long_help = techbalance::config::variables::help())]
    Worker,
    /// Create or revoke operator tokens.
    Token {
        #[command(subcommand)]
        action: token::TokenAction,
    },
    /// List and change refresh schedules.
    Schedule {
        #[command(subcommand)]
        action: schedule::ScheduleAction,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load the baseline dataset; idempotent, and an edited figure becomes a new version.
    Seed,
    /// Refresh one source now (`baseline`, `worldbank`, `oecd-msti`) or `all` of them.
    Refresh {
        /// A source id (baseline, worldbank, oecd-msti), or all.
        source: String,
        /// Record every withdrawal the answer implies, instead of holding whole series (or more
        /// than TECHBALANCE_MAX_WITHDRAWAL_SHARE of the source's values) for an operator. Audited.
        #[arg(long)]
        accept_withdrawals: bool,
    },
    /// Print the GraphQL schema (SDL, fields sorted).
    Schema,
}

impl Command {
    /// What runs when no command is given.
    pub fn default_command() -> Self {
        Command::Serve {
            bind: None,
            no_worker: false,
        }
    }
}

/// Runs `command` (all but `schema`, which needs no configuration).
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { bind, no_worker } => serve::run(config, bind, no_worker).await,
        Command::Worker => worker::run(config).await,
        Command::Token { action } => token::run(&config, action).await,
        Command::Schedule { action } => schedule::run(&config, action).await,
        Command::Migrate => migrate::run(&config).await,
        Command::Seed => seed::run(&config).await,
        Command::Refresh {
            source,
            accept_withdrawals,
        } => refresh::run(&config, &source, accept_withdrawals).await,
        Command::Schema => {
            print!("{}", techbalance_api::sdl());
            Ok(())
        }
    }
}

/// A failure already printed in full: `main` only sets the exit code.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
pub struct AlreadyReported;

/// The audit log's name for an operator at the command line: `cli:` and the login name (`USER`,
/// else `LOGNAME`), or the user id when neither is set (`cli:uid-1000`).
pub fn actor() -> String {
    actor_from(|name| std::env::var(name).ok(), current_uid())
}

fn actor_from(var: impl Fn(&str) -> Option<String>, uid: Option<u32>) -> String {
    let login = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(var)
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty());
    match (login, uid) {
        (Some(name), _) => format!("cli:{name}"),
        (None, Some(uid)) => format!("cli:uid-{uid}"),
        (None, None) => "cli:unknown-user".to_owned(),
    }
}

#[cfg(unix)]
fn current_uid() -> Option<u32> {
    Some(rustix::process::getuid().as_raw())
}

#[cfg(not(unix))]
fn current_uid() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::actor_from;

    #[test]
    fn the_cli_actor_is_the_login_name_or_else_the_user_id() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(actor_from(env(&[("USER", "ada")]), Some(7)), "cli:ada");
        assert_eq!(actor_from(env(&[("LOGNAME", "bob")]), Some(7)), "cli:bob");
        assert_eq!(
            actor_from(env(&[("USER", " ")]), Some(1000)),
            "cli:uid-1000"
        );
        assert_eq!(actor_from(env(&[]), Some(0)), "cli:uid-0");
    }
}
