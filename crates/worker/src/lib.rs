//! Brings figures in from their sources and records their revisions through the store.
//!
//! Today the one source is the curated baseline (`data/baseline.toml`); the public statistics
//! sources (World Bank, OECD) plug into the same path.

mod error;
pub mod sources;

pub use error::WorkerError;

use techbalance_store::revisions::RecordSummary;
use techbalance_store::{Store, Timestamp};

/// Loads the baseline: reference data upserted, figures recorded as versions (an unchanged figure
/// writes nothing, an edited one becomes a new version).
pub async fn seed(
    store: &Store,
    baseline: &sources::baseline::Baseline,
    at: Timestamp,
) -> Result<RecordSummary, WorkerError> {
    let mut reference = baseline.reference_data();
    reference.sources.extend(sources::public_sources());
    store.upsert_reference_data(&reference).await?;
    let summary = store.record(&baseline.batch(), at).await?;
    tracing::info!(
        inserted = summary.inserted,
        revised = summary.revised,
        withdrawn = summary.withdrawn,
        unchanged = summary.unchanged,
        "baseline loaded"
    );
    Ok(summary)
}
