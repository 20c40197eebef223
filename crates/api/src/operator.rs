//! Who may act: every operator action (a mutation, an operator-only read) asks
//! [`require_operator`] first, per operation, over every transport. A refusal (no token, a bad
//! or a revoked one) is counted in the audit log (see `techbalance_store::audit`), with the
//! client address the request came from ([`Peer`]).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::types::store;
use async_graphql::{Context, Result};
use std::net::IpAddr;
use techbalance_store::audit::Refusal;

/// The client address of a request (the rate limiter's notion of it), for the audit log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peer(pub Option<IpAddr>);

/// The operator making this request; otherwise the error to answer with, after counting the
/// refused attempt at `action` (with its `arguments`, as JSON).
pub(crate) async fn require_operator(
    ctx: &Context<'_>,
    action: &str,
    arguments: &serde_json::Value,
) -> Result<String> {
    let caller = ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous);
    let (actor, error) = match caller {
        Caller::Operator(name) => return Ok(name.clone()),
        Caller::Anonymous => (
            "anonymous",
            ApiError::Unauthenticated(
                "an operator token is required: send Authorization: Bearer <token>".into(),
            ),
        ),
        Caller::Invalid => (
            "invalid token",
            ApiError::Unauthenticated("the token is not valid".into()),
        ),
        Caller::Revoked(name) => (
            name.as_str(),
            ApiError::Forbidden(format!("the token \"{name}\" has been revoked")),
        ),
        // The tokens could not be read: neither can the audit log be written.
        Caller::Unknown => return Err(ApiError::Unavailable.into_graphql()),
    };
    let address = ctx
        .data_opt::<Peer>()
        .and_then(|peer| peer.0)
        .map(|ip| ip.to_string());
    let refusal = Refusal {
        actor,
        address: address.as_deref(),
        action,
        arguments: &arguments.to_string(),
        outcome: error.code().as_str(),
    };
    if let Err(e) = store(ctx).record_refusal(refusal).await {
        tracing::error!(error = %e, action, "could not count a refused attempt");
    }
    Err(error.into_graphql())
}

/// Whether the caller is an operator, for operator-only fields inside an answer (not counted as
/// attempts: one query may hold many such fields).
pub(crate) fn check_operator(ctx: &Context<'_>) -> Result<()> {
    match ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous) {
        Caller::Operator(_) => Ok(()),
        Caller::Revoked(name) => Err(ApiError::Forbidden(format!(
            "the token \"{name}\" has been revoked"
        ))
        .into_graphql()),
        Caller::Unknown => Err(ApiError::Unavailable.into_graphql()),
        Caller::Anonymous | Caller::Invalid => Err(ApiError::Unauthenticated(
            "operators only: send Authorization: Bearer <token>".into(),
        )
        .into_graphql()),
    }
}
