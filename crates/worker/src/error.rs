use techbalance_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The baseline file cannot be read, parsed or is inconsistent.
    #[error("baseline {origin}: {problem}")]
    Baseline { origin: String, problem: String },
    #[error(transparent)]
    Source(#[from] crate::sources::SourceError),
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

    /// Whether running again may succeed. A write that breaks a constraint, or one the store
    /// refuses as invalid, fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkerError::Store(e) => {
                !(e.is_constraint_violation() || matches!(e, StoreError::Invalid(_)))
            }
            _ => true,
        }
    }
}
