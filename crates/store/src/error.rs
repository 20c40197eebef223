//! The store's one error type. It tells apart what the caller can fix (an invalid input, a
//! conflict with the current state, a name that does not exist), what may pass (the database is
//! unavailable) and what is the store's own failure (a database error, a broken invariant).
//! Callers map it once, at their edge: the API answers the caller's errors with what they say,
//! `SERVICE_UNAVAILABLE` (HTTP 503) for an outage, and an internal error whose details stay in the
//! server log for the rest.

use sea_orm::DbErr;

/// What can go wrong in the store. Callers map it once, at their edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused or lost, pool exhausted,
    /// server shutting down or starting up); trying again later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbErr),
    /// Any other database error: a bug or a broken invariant, never the caller's fault.
    #[error("database error: {0}")]
    Database(#[source] DbErr),
    /// The caller's input is wrong: it names something the store does not know (an unknown
    /// source), is malformed (a cron expression, a time zone, a figure without a value), or asks
    /// for what the current state does not allow (cancelling a finished run). The message is
    /// for the caller.
    #[error("{0}")]
    Invalid(String),
    /// A write conflicts with the current state or with a concurrent write (a second schedule
    /// with the same timing, a run another worker took over). The message is for the caller.
    #[error("{0}")]
    Conflict(String),
    /// A broken invariant inside the store, never the caller's fault. The message is for the
    /// server log only.
    #[error("internal store error: {0}")]
    Internal(String),
    /// An operation names something that does not exist.
    #[error("unknown {what} \"{id}\"")]
    NotFound { what: &'static str, id: String },
    /// The audit entry of a change could not be written, so the change was not made.
    #[error("the change was not made: its audit entry could not be written: {0}")]
    AuditFailed(#[source] Box<StoreError>),
    /// The SQLite file was deleted or replaced while the store had it open: writes would go to
    /// a file nobody will read again.
    #[error("{0}")]
    DatabaseLost(String),
}

impl StoreError {
    /// Whether trying again later may succeed (the database was unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// Whether a write broke a constraint (a foreign or unique key): the same write will break it
    /// again, so trying again is pointless.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            StoreError::Database(err) => matches!(
                err.sql_err(),
                Some(
                    sea_orm::SqlErr::UniqueConstraintViolation(_)
                        | sea_orm::SqlErr::ForeignKeyConstraintViolation(_)
                )
            ),
            _ => false,
        }
    }

    /// The outcome an audit entry records for this error: the `extensions.code` the API answers
    /// with (a test of the API crate checks that they agree).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            StoreError::Database(_) | StoreError::Internal(_) => "INTERNAL_SERVER_ERROR",
            StoreError::Invalid(_) => "BAD_USER_INPUT",
            StoreError::Conflict(_) => "CONFLICT",
            StoreError::NotFound { .. } => "NOT_FOUND",
            StoreError::AuditFailed(_) => "AUDIT_FAILED",
            StoreError::DatabaseLost(_) => "DATABASE_LOST",
        }
    }
}

/// Whether `err` is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Database(err)
        }
    }
}

/// Whether `err` says the database cannot be reached now, rather than that a statement is wrong.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    let sqlx = match err {
        // Acquiring a connection timed out, the pool is closed, or connecting failed.
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx {
        SqlxError::Io(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// Error codes that mean "not now" rather than "not this statement":
///
/// - PostgreSQL SQLSTATE class 08 (connection exception), `57P01` admin shutdown (the server is
///   stopping and ends every session), `57P02` crash shutdown, `57P03` cannot connect now (the
///   server is starting up or shutting down), `53300` too many connections;
/// - SQLite `SQLITE_BUSY` (5, and its extended codes): another connection holds the lock for
///   longer than the busy timeout.
fn unavailable_code(code: &str) -> bool {
    if code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    code.parse::<u32>().is_ok_and(|n| n & 0xff == 5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{RuntimeErr, SqlxError};
    use std::borrow::Cow;

    /// A database error as a driver reports it: a message and a code.
    #[derive(Debug)]
    struct Reported(&'static str);

    impl std::fmt::Display for Reported {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Reported {}

    impl sea_orm::sqlx::error::DatabaseError for Reported {
        fn message(&self) -> &str {
            "reported by the database"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sea_orm::sqlx::error::ErrorKind {
            sea_orm::sqlx::error::ErrorKind::Other
        }
    }

    fn query(err: SqlxError) -> StoreError {
        DbErr::Query(RuntimeErr::SqlxError(err)).into()
    }

    fn database(code: &'static str) -> StoreError {
        query(SqlxError::Database(Box::new(Reported(code))))
    }

    #[test]
    fn a_lost_or_refused_connection_is_unavailable() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(query(SqlxError::Io(refused)).is_unavailable());
        let reset = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        let exec: StoreError = DbErr::Exec(RuntimeErr::SqlxError(SqlxError::Io(reset))).into();
        assert!(exec.is_unavailable());
        assert!(query(SqlxError::PoolTimedOut).is_unavailable());
        assert!(query(SqlxError::PoolClosed).is_unavailable());
        let acquire: StoreError =
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout).into();
        assert!(acquire.is_unavailable());
    }

    #[test]
    fn a_server_shutting_down_or_starting_up_is_unavailable() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001", "53300"] {
            assert!(database(code).is_unavailable(), "{code}");
        }
        // SQLite: SQLITE_BUSY and an extended busy code (SQLITE_BUSY_SNAPSHOT).
        assert!(database("5").is_unavailable());
        assert!(database("517").is_unavailable());
    }

    #[test]
    fn a_bad_statement_is_a_database_error_not_an_outage() {
        // Undefined table, unique violation, syntax error; SQLite constraint and generic error.
        for code in ["42P01", "23505", "42601", "2067", "1"] {
            let err = database(code);
            assert!(
                matches!(err, StoreError::Database(_)),
                "{code} is not an outage"
            );
        }
        assert!(!query(SqlxError::RowNotFound).is_unavailable());
        assert!(!StoreError::Conflict("busy".into()).is_unavailable());
    }
}
