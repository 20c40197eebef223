//! The credentials of a long-lived connection (a WebSocket, an event stream), checked again for
//! every operation and every so often while it is open, so that a token revoked meanwhile stops
//! working at once on connections already open, and those connections are told and closed.

use super::{identify, Caller};
use techbalance_store::Store;

/// What a connection presented, and who that makes its caller now.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The `Authorization` value presented, kept to check it again.
    authorization: Option<String>,
    caller: Caller,
    /// Whether the token was an operator's at some point.
    was_operator: bool,
}

impl Session {
    /// A connection that presented nothing.
    pub(crate) fn anonymous() -> Self {
        Self {
            authorization: None,
            caller: Caller::Anonymous,
            was_operator: false,
        }
    }

    /// Identifies the caller from what the connection presented.
    pub(crate) async fn open(store: &Store, authorization: Option<&str>) -> Self {
        let Some(authorization) = authorization else {
            return Self::anonymous();
        };
        let caller = identify(store, Some(authorization)).await;
        Self {
            authorization: Some(authorization.to_owned()),
            was_operator: matches!(caller, Caller::Operator(_)),
            caller,
        }
    }

    /// The caller as last checked.
    pub(crate) fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Whether there is anything to check again: a token that was valid, or that could not be
    /// checked (a bad or a revoked token never becomes valid).
    pub(crate) fn checks_again(&self) -> bool {
        self.authorization.is_some() && matches!(self.caller, Caller::Operator(_) | Caller::Unknown)
    }

    /// Checks the token again, as for a new request, and returns the caller it makes now.
    pub(crate) async fn recheck(&mut self, store: &Store) -> Caller {
        if self.checks_again() {
            let caller = identify(store, self.authorization.as_deref()).await;
            self.was_operator |= matches!(caller, Caller::Operator(_));
            self.caller = caller;
        }
        self.caller.clone()
    }

    /// Whether the connection was an operator's and no longer is (its token was revoked): it is
    /// to be told and closed. A token that could not be checked (database unavailable) is not
    /// taken as revoked.
    pub(crate) fn lost(&self) -> bool {
        self.was_operator && !matches!(self.caller, Caller::Operator(_) | Caller::Unknown)
    }
}
