//! Brings figures in from their sources and records their revisions through the store.
//!
//! Today the one source is the curated baseline (`data/baseline.toml`); the public statistics
//! sources (World Bank, OECD) plug into the same path.

mod conflicts;
mod error;
pub mod fetch;
pub mod pipeline;
pub mod runner;
pub mod scheduler;
pub mod sources;

pub use error::WorkerError;

use pipeline::{Executor, RefreshFailure, RefreshOutcome};
use sources::baseline::{Baseline, BaselineSource};
use techbalance_store::Store;

/// Loads the baseline: reference data upserted, then its figures refreshed through the same
/// pipeline as any source (an unchanged figure writes nothing, an edited one becomes a new
/// version, a removed one is withdrawn).
pub async fn seed(store: &Store, baseline: Baseline) -> Result<RefreshOutcome, RefreshFailure> {
    let mut reference = baseline.reference_data();
    reference.sources.extend(sources::public_sources());
    store
        .upsert_reference_data(&reference)
        .await
        .map_err(|e| RefreshFailure {
            run_id: 0,
            error: e.into(),
        })?;
    let source = BaselineSource::new(baseline);
    Executor::new(std::time::Duration::from_secs(60))
        .refresh_now(store, &source, &[], &|_| {})
        .await
}
