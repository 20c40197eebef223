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
