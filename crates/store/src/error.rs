use sea_orm::DbErr;

/// What can go wrong in the store. Callers map it once, at their edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connection refused, pool exhausted, connection lost).
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

fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    matches!(
        sqlx,
        SqlxError::Io(_)
            | SqlxError::PoolTimedOut
            | SqlxError::PoolClosed
            | SqlxError::WorkerCrashed
    )
}
