//! The store's one error type. Callers map it once, at their edge: the API turns
//! [`StoreError::Unavailable`] into `SERVICE_UNAVAILABLE` (HTTP 503) and everything else into an
//! internal error whose details stay in the server log.

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
    /// A write refers to something the store does not know (e.g. an unknown metric slug).
    #[error("{0}")]
    Invalid(String),
    /// A write conflicts with the current state (e.g. that source is already being refreshed).
    #[error("{0}")]
    Conflict(String),
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
