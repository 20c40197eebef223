//! One refresh: open a run → fetch and parse (no transaction held) → in one transaction, add
//! countries the source named, record every batch against the current versions, and mark the run
//! succeeded. Any failure marks the run failed and records nothing.

use crate::sources::{CountryInfo, FetchRequest, Progress, Source};
use crate::WorkerError;
use techbalance_store::entities::country;
use techbalance_store::revisions::{record_batch, RecordSummary};
use techbalance_store::runs::{add_missing_countries, complete_run, RunResult, Trigger};
use techbalance_store::Store;

/// What a successful refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub run_id: i64,
    pub summary: RecordSummary,
    pub pages_fetched: u32,
    pub release: Option<String>,
    /// Series the source no longer publishes.
    pub retired: Vec<String>,
}

/// A failed refresh: the run that recorded the failure, and why.
#[derive(Debug, thiserror::Error)]
#[error("run {run_id} failed: {error}")]
pub struct RefreshFailure {
    pub run_id: i64,
    #[source]
    pub error: WorkerError,
}

pub async fn refresh(
    store: &Store,
    source: &dyn Source,
    countries: &[String],
    trigger: Trigger,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<RefreshOutcome, RefreshFailure> {
    let run = store
        .start_run(source.id(), trigger)
        .await
        .map_err(|e| RefreshFailure {
            run_id: 0,
            error: e.into(),
        })?;
    let span = tracing::info_span!("refresh", source = source.id(), run = run.id);
    let _entered = span.enter();
    match fetch_and_record(store, source, countries, run.id, progress).await {
        Ok(outcome) => {
            tracing::info!(
                inserted = outcome.summary.inserted,
                revised = outcome.summary.revised,
                withdrawn = outcome.summary.withdrawn,
                unchanged = outcome.summary.unchanged,
                "refresh succeeded"
            );
            Ok(outcome)
        }
        Err(error) => {
            tracing::warn!(%error, "refresh failed; nothing recorded");
            if let Err(e) = store.fail_run(run.id, &error.to_string()).await {
                tracing::error!(error = %e, "could not mark the run failed");
            }
            Err(RefreshFailure {
                run_id: run.id,
                error,
            })
        }
    }
}

async fn fetch_and_record(
    store: &Store,
    source: &dyn Source,
    countries: &[String],
    run_id: i64,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<RefreshOutcome, WorkerError> {
    let fetched = source
        .fetch(&FetchRequest {
            countries,
            progress,
        })
        .await?;

    let at = techbalance_store::now();
    let txn = store.begin().await?;
    let discovered: Vec<country::Model> = fetched.countries.iter().map(country_row).collect();
    add_missing_countries(&txn, &discovered).await?;
    let mut summary = RecordSummary::default();
    for batch in &fetched.batches {
        summary.add(record_batch(&txn, batch, at, Some(run_id)).await?);
    }
    let notes = (!fetched.retired.is_empty()).then(|| {
        format!(
            "series retired upstream, values kept: {}",
            fetched.retired.join(", ")
        )
    });
    let result = RunResult {
        summary,
        pages_fetched: fetched.pages,
        release: fetched.release.clone(),
        notes,
    };
    complete_run(&txn, run_id, &result, at).await?;
    Store::commit(txn).await?;
    Ok(RefreshOutcome {
        run_id,
        summary,
        pages_fetched: fetched.pages,
        release: fetched.release,
        retired: fetched.retired,
    })
}

fn country_row(info: &CountryInfo) -> country::Model {
    country::Model {
        code: info.code.clone(),
        iso2: info.iso2.clone(),
        name: info.name.clone(),
        flag: flag_emoji(&info.iso2),
    }
}

/// The flag of an ISO 3166-1 alpha-2 code, as regional indicator symbols.
pub fn flag_emoji(iso2: &str) -> String {
    iso2.chars()
        .filter(char::is_ascii_alphabetic)
        .filter_map(|c| char::from_u32(0x1F1E6 + (c.to_ascii_uppercase() as u32 - 'A' as u32)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_are_made_of_regional_indicators() {
        assert_eq!(super::flag_emoji("US"), "🇺🇸");
        assert_eq!(super::flag_emoji("de"), "🇩🇪");
    }
}
