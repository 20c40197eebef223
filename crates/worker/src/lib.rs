//! Brings figures in from their sources and records their revisions through the store.
//!
//! The sources (the curated baseline `data/baseline.toml`, the World Bank, the OECD, Our World in
//! Data) are listed in one registry ([`sources::REGISTRY`]) and refreshed through the same
//! pipeline.

pub mod clock;
mod conflicts;
mod error;
pub mod fetch;
pub mod pipeline;
pub mod redact;
pub mod runner;
pub mod scheduler;
pub mod sources;

pub use error::WorkerError;

use pipeline::{RefreshExecutor, RefreshFailure, RefreshOutcome};
use sources::baseline::{BaselineFile, BaselineSource};
use techbalance_store::reference::ReferenceData;
use techbalance_store::Store;

/// Loads the baseline from `file`: the sources registered (the registry's rows), then the file's reference data and
/// figures recorded through the same pipeline as any source (an unchanged figure writes nothing,
/// an edited one becomes a new version, a removed one is withdrawn). The run's notes name the
/// file and its hash.
pub async fn seed(store: &Store, file: &BaselineFile) -> Result<RefreshOutcome, RefreshFailure> {
    let failure = |error: WorkerError| RefreshFailure { run_id: 0, error };
    let loaded = file.load().map_err(failure)?;
    let mut sources = loaded.baseline.reference_data().sources;
    sources.extend(sources::registry::reference_rows());
    let registered = ReferenceData {
        sources,
        ..ReferenceData::default()
    };
    store
        .upsert_reference_data(&registered)
        .await
        .map_err(|e| failure(e.into()))?;
    let source = BaselineSource::new(file.clone());
    RefreshExecutor::new(std::time::Duration::from_secs(60))
        .refresh_now(store, &source, &[], &|_| {})
        .await
}
