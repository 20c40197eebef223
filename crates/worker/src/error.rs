use crate::sources::SourceError;
use techbalance_store::runs::RunFailure;
use techbalance_store::StoreError;

/// Why a refresh failed. Its text masks credentials in URLs; [`WorkerError::classify`] says what
/// of it the public may read.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The baseline file cannot be read, parsed or is inconsistent.
    #[error("baseline {origin}: {problem}")]
    Baseline { origin: String, problem: String },
    /// A run names a source this worker does not have.
    #[error("this worker has no source \"{0}\"")]
    UnknownSource(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WorkerError {
    /// The instant the source asked to be called again (HTTP 429/503 with `Retry-After`).
    pub fn retry_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            WorkerError::Source(error) => error.retry_at(),
            _ => None,
        }
    }

    /// Whether running again may succeed. A write that breaks a constraint, one the store
    /// refuses as invalid, or one that meets a broken invariant fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkerError::Store(e) => {
                !(e.is_constraint_violation()
                    || matches!(e, StoreError::Invalid(_) | StoreError::Internal(_)))
            }
            _ => true,
        }
    }

    /// The failure as a run records it: a stable code and a message anyone may read (no URL,
    /// credential, database message or path), and the full text for operators, with
    /// credentials masked.
    pub fn classify(&self) -> RunFailure {
        let (code, message) = match self {
            WorkerError::Baseline { .. } => (
                "BASELINE_INVALID",
                "the baseline could not be loaded".to_owned(),
            ),
            WorkerError::UnknownSource(source) => (
                "SOURCE_UNKNOWN",
                format!("no worker knows the source \"{source}\""),
            ),
            WorkerError::Source(SourceError::Unreachable { source_id, .. }) => (
                "UPSTREAM_UNREACHABLE",
                format!("{source_id}: the source could not be reached"),
            ),
            WorkerError::Source(SourceError::Refused { source_id, .. }) => (
                "UPSTREAM_REFUSED",
                format!("{source_id}: the source refused the request"),
            ),
            WorkerError::Source(SourceError::Throttled {
                source_id, problem, ..
            }) => (
                "UPSTREAM_THROTTLED",
                // `problem` is the status and the wait asked for; it holds no URL.
                format!("{source_id}: the source asked to be called again later ({problem})"),
            ),
            WorkerError::Source(SourceError::File { source_id, .. }) => (
                "BASELINE_INVALID",
                format!("{source_id}: the source file could not be read or is invalid"),
            ),
            WorkerError::Source(SourceError::Malformed { source_id, .. }) => (
                "UPSTREAM_MALFORMED",
                format!("{source_id}: the source's answer is malformed"),
            ),
            WorkerError::Store(StoreError::Unavailable(_)) => (
                "STORAGE_UNAVAILABLE",
                "the database was unavailable; nothing was recorded".to_owned(),
            ),
            WorkerError::Store(StoreError::DatabaseLost(_)) => (
                "STORAGE_LOST",
                "the database file was deleted or replaced; nothing was recorded".to_owned(),
            ),
            WorkerError::Store(StoreError::Conflict(_)) => (
                "RUN_CONFLICT",
                "another worker took the run over or recorded the same figures meanwhile; this attempt recorded nothing".to_owned(),
            ),
            WorkerError::Store(_) => (
                "STORAGE_FAILURE",
                "the figures could not be stored; nothing was recorded".to_owned(),
            ),
        };
        RunFailure {
            code,
            message,
            detail: crate::redact::text(&self.to_string()),
        }
    }
}
