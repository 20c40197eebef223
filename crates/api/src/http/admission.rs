//! Admission of GraphQL executions over HTTP: at most as many run at once as the pool has
//! connections for requests (on PostgreSQL one is the change listener's), so that an admitted
//! execution's statements find a connection instead of timing out in the pool's queue. Other
//! requests queue here, first come first served, for at most the request timeout (30 s without
//! one), and are then refused with 503 `SERVICE_UNAVAILABLE`.

use std::sync::Arc;
use std::time::Duration;
use techbalance_store::{DatabaseBackend, DatabaseConnection, Store};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request queues without a request timeout.
const LONGEST_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub(crate) struct Admission {
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// The refusal after the wait.
pub(super) const BUSY_CODE: crate::error::ErrorCode = crate::error::ErrorCode::ServiceUnavailable;
pub(super) const BUSY_MESSAGE: &str =
    "too many requests are waiting for the database; try again shortly";

impl Admission {
    pub(super) fn new(store: &Store, request_timeout: Option<Duration>) -> Self {
        let connection = store.connection();
        let pool = match connection {
            DatabaseConnection::SqlxPostgresPoolConnection(_) => connection
                .get_postgres_connection_pool()
                .options()
                .get_max_connections(),
            DatabaseConnection::SqlxSqlitePoolConnection(_) => connection
                .get_sqlite_connection_pool()
                .options()
                .get_max_connections(),
            _ => 1,
        };
        let listener = u32::from(store.backend() == DatabaseBackend::Postgres);
        let permits = usize::try_from(pool.saturating_sub(listener).max(1)).unwrap_or(1);
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            wait: request_timeout.unwrap_or(LONGEST_WAIT),
        }
    }

    /// A place among the executions running now, once one is free; `None` after the wait.
    pub(super) async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }
}
