//! One refresh of one run: fetch and parse (no transaction held) → leave out countries that
//! conflict → in one transaction, add countries the source named, record every batch against the
//! current versions, and mark the run succeeded (or held). While it works, the run's lease is
//! renewed. Any failure records nothing.
//!
//! The withdrawal guard: a refresh of an upstream source never withdraws a whole series (a metric
//! × country that had values and would have none), nor more than
//! [`RefreshExecutor::max_withdrawal_share`] of the source's current values, on its own. Such
//! series are held: nothing of theirs is recorded, the rest is, and the run ends `held`, its
//! notes naming them. A run an operator set off to accept withdrawals (`accept_withdrawals`)
//! records them all.

use crate::sources::{CountryInfo, FetchRequest, Fetched, Progress, Source};
use crate::WorkerError;
use std::collections::HashMap;
use std::time::Duration;
use techbalance_store::changes::Notice;
use techbalance_store::entities::{country, refresh_run};
use techbalance_store::queue::{AfterFailure, RetryPolicy};
use techbalance_store::record::{
    count_current_values, record_batch_guarded, HeldSeries, RecordSummary, Withdrawals,
};
use techbalance_store::reference::upsert_reference;
use techbalance_store::runs::{add_missing_countries, complete_run, RunResult, RunTrigger};
use techbalance_store::{Store, StoreError};
use tracing::Instrument;

/// What a successful refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub run_id: i64,
    pub summary: RecordSummary,
    pub pages_fetched: u32,
    pub release: Option<String>,
    /// Series the source no longer publishes.
    pub retired: Vec<String>,
    /// Series the withdrawal guard held (the run is `held` when there are any).
    pub held: Vec<HeldSeries>,
    /// The run's notes: the baseline file read with its hash, retired series, refused or absent
    /// countries, conflicts, held withdrawals.
    pub notes: Option<String>,
}

/// The share of a source's current values one refresh may withdraw on its own (0.2: a fifth).
pub const DEFAULT_MAX_WITHDRAWAL_SHARE: f64 = 0.2;

/// Held series named in a run's notes; the rest are counted.
const HELD_NAMED: usize = 10;

/// A failed refresh: the run that recorded the failure, and why.
#[derive(Debug, thiserror::Error)]
#[error("run {run_id} failed: {error}")]
pub struct RefreshFailure {
    pub run_id: i64,
    #[source]
    pub error: WorkerError,
}

/// Who executes a run, and for how long a claim holds without renewal.
#[derive(Clone, Debug)]
pub struct RefreshExecutor {
    /// Unique per process: `host:pid:random`.
    pub worker_id: String,
    pub lease: Duration,
    /// The share (0 to 1) of a source's current values a refresh may withdraw without an
    /// operator; more holds every withdrawal of the run.
    pub max_withdrawal_share: f64,
    /// Runs started by [`RefreshExecutor::refresh_now`] record every withdrawal (an operator
    /// accepted).
    pub accept_withdrawals: bool,
    /// The operator who accepted them: audited in the transaction that records them.
    pub accepted_by: Option<String>,
}

impl RefreshExecutor {
    pub fn new(lease: Duration) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
        let worker_id = format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..));
        Self {
            worker_id,
            lease,
            max_withdrawal_share: DEFAULT_MAX_WITHDRAWAL_SHARE,
            accept_withdrawals: false,
            accepted_by: None,
        }
    }

    pub fn with_max_withdrawal_share(mut self, share: f64) -> Self {
        self.max_withdrawal_share = share;
        self
    }

    /// Runs started now accept every withdrawal (the operator's `--accept-withdrawals`).
    pub fn accepting_withdrawals(mut self, accept: bool) -> Self {
        self.accept_withdrawals = accept;
        self
    }

    /// Runs started now accept every withdrawal on behalf of `operator`, whose audit entry
    /// (`acceptWithdrawals`) is written in the transaction that records them: without it,
    /// nothing is recorded.
    pub fn accepted_by(mut self, operator: &str) -> Self {
        self.accept_withdrawals = true;
        self.accepted_by = Some(operator.to_owned());
        self
    }

    /// Executes a run this worker holds. The caller decides what a failure means (retry or not).
    pub async fn execute(
        &self,
        store: &Store,
        source: &dyn Source,
        countries: &[String],
        run: &refresh_run::Model,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<RefreshOutcome, WorkerError> {
        let span = tracing::info_span!(
            "refresh",
            source = source.id(),
            run = run.id,
            attempt = run.attempt
        );
        let heartbeat = tokio::spawn(renew_lease(
            store.clone(),
            run.id,
            self.worker_id.clone(),
            self.lease,
        ));
        let (report, reports) = tokio::sync::watch::channel(Progress::default());
        let reporter = tokio::spawn(report_progress(store.clone(), run.id, reports));
        let tracked = |p: Progress| {
            progress(p);
            let _ = report.send(p);
        };
        let outcome = self
            .fetch_and_record(store, source, countries, run, &tracked, &reporter)
            .instrument(span.clone())
            .await;
        heartbeat.abort();
        reporter.abort();
        let _entered = span.enter();
        match &outcome {
            Ok(o) => tracing::info!(
                inserted = o.summary.inserted,
                revised = o.summary.revised,
                withdrawn = o.summary.withdrawn,
                unchanged = o.summary.unchanged,
                held = o.summary.held,
                "refresh succeeded"
            ),
            Err(error) => tracing::warn!(%error, "refresh failed; nothing recorded"),
        }
        outcome
    }

    /// Refreshes `source` now, outside the queue (the command line, seeding): opens a run held by
    /// this process and executes it; a failure is final (no retry).
    pub async fn refresh_now(
        &self,
        store: &Store,
        source: &dyn Source,
        countries: &[String],
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<RefreshOutcome, RefreshFailure> {
        let run = store
            .start_run_accepting(
                source.id(),
                RunTrigger::Manual,
                &self.worker_id,
                self.lease,
                self.accept_withdrawals,
            )
            .await
            .map_err(|e| RefreshFailure {
                run_id: 0,
                error: e.into(),
            })?;
        match self.execute(store, source, countries, &run, progress).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                if let Err(e) = store
                    .fail_run(
                        run.id,
                        &self.worker_id,
                        &error.classify(),
                        RetryPolicy::FINAL,
                        None,
                    )
                    .await
                {
                    tracing::error!(error = %e, "could not mark the run failed");
                }
                Err(RefreshFailure {
                    run_id: run.id,
                    error,
                })
            }
        }
    }

    /// Records a failure of a run this worker holds, with the retry policy. While the database is
    /// unreachable (often the very cause of the failure) it keeps trying, with backoff, for as
    /// long as the lease would hold; past that, the lease expires and any worker claims the run.
    pub async fn fail(
        &self,
        store: &Store,
        run: &refresh_run::Model,
        error: &WorkerError,
        retry: RetryPolicy,
    ) -> AfterFailure {
        let deadline = tokio::time::Instant::now() + self.lease;
        let mut wait = Duration::from_millis(250);
        let failure = error.classify();
        loop {
            match store
                .fail_run(run.id, &self.worker_id, &failure, retry, error.retry_at())
                .await
            {
                Ok(after) => return after,
                Err(StoreError::Unavailable(e))
                    if tokio::time::Instant::now() + wait < deadline =>
                {
                    tracing::warn!(error = %e, run = run.id, "database unavailable; will record the failure when it is back");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, run = run.id, "could not record the failure; the run will be claimed again when its lease expires");
                    return AfterFailure::NotHeld;
                }
            }
        }
    }
}

/// Writes and announces a run's progress, at most twice a second, until aborted.
async fn report_progress(
    store: Store,
    run: i64,
    mut reports: tokio::sync::watch::Receiver<Progress>,
) {
    while reports.changed().await.is_ok() {
        let latest = *reports.borrow_and_update();
        if let Err(e) = store
            .record_progress(run, latest.pages_fetched, latest.observations)
            .await
        {
            tracing::debug!(run, error = %e, "could not record progress");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Renews the lease every third of its length until aborted.
async fn renew_lease(store: Store, run: i64, worker: String, lease: Duration) {
    let mut every = tokio::time::interval((lease / 3).max(Duration::from_millis(100)));
    every.tick().await;
    loop {
        every.tick().await;
        match store.renew_lease(run, &worker, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(run, "lease lost: another worker holds this run now");
                return;
            }
            Err(e) => tracing::warn!(run, error = %e, "could not renew the lease"),
        }
    }
}

impl RefreshExecutor {
    async fn fetch_and_record(
        &self,
        store: &Store,
        source: &dyn Source,
        countries: &[String],
        run: &refresh_run::Model,
        progress: &(dyn Fn(Progress) + Send + Sync),
        reporter: &tokio::task::JoinHandle<()>,
    ) -> Result<RefreshOutcome, WorkerError> {
        let mut fetched = source
            .fetch(&FetchRequest {
                countries,
                progress,
            })
            .await?;
        // Progress is about fetching; nothing else writes the run while its figures are recorded.
        reporter.abort();

        let mut known: HashMap<String, String> = store
            .countries()
            .await?
            .into_iter()
            .map(|c| (c.code, c.iso2))
            .collect();
        // Countries the source's own reference data brings (the baseline's) are recorded first.
        if let Some(reference) = &fetched.reference {
            known.extend(
                reference
                    .countries
                    .iter()
                    .map(|c| (c.code.clone(), c.iso2.clone())),
            );
        }
        let mut notes = Vec::new();
        if !fetched.retired.is_empty() {
            notes.push(format!(
                "series retired upstream, values kept: {}",
                fetched.retired.join(", ")
            ));
        }
        notes.append(&mut fetched.notes);
        notes.extend(crate::conflicts::resolve(source.id(), &mut fetched, &known));

        let policy = if run.accept_withdrawals || !source.upstream() {
            Withdrawals::Record
        } else {
            Withdrawals::HoldWholeSeries
        };
        let at = techbalance_store::now();
        let mut txn = store.begin().await?;
        let current = match policy {
            Withdrawals::Record => 0,
            _ => count_current_values(&txn, source.id()).await?,
        };
        let (mut summary, mut held, mut verdicts) =
            record(&txn, &fetched, at, run.id, policy).await?;
        let allowed = self.max_withdrawal_share * current as f64;
        if policy != Withdrawals::Record && summary.withdrawn as f64 > allowed {
            notes.push(format!(
                "{} of the source's {current} current values would have been withdrawn, more \
                 than the {}% allowed (TECHBALANCE_MAX_WITHDRAWAL_SHARE): every withdrawal held",
                summary.withdrawn,
                (self.max_withdrawal_share * 1000.0).round() / 10.0
            ));
            // Rare: start again, holding every series with a withdrawal.
            txn.rollback().await.map_err(StoreError::from)?;
            txn = store.begin().await?;
            (summary, held, verdicts) =
                record(&txn, &fetched, at, run.id, Withdrawals::HoldAll).await?;
        }
        if !held.is_empty() {
            notes.push(held_note(source.id(), run.id, summary.held, &held));
        }
        let notes = (!notes.is_empty()).then(|| notes.join("; "));
        let result = RunResult {
            summary,
            pages_fetched: fetched.pages,
            release: fetched.release.clone(),
            notes: notes.clone(),
        };
        if let (true, Some(operator)) = (run.accept_withdrawals, &self.accepted_by) {
            let arguments = serde_json::json!({ "source": source.id(), "run": run.id.to_string() });
            techbalance_store::audit::record_in(
                &txn,
                operator,
                "acceptWithdrawals",
                &arguments.to_string(),
            )
            .await?;
        }
        complete_run(&txn, run.id, &self.worker_id, &result, at).await?;
        let mut notices = vec![Notice::Run { run: run.id }];
        if summary.versions_written() > 0 {
            notices.push(Notice::Recorded { run: run.id });
        }
        if !verdicts.is_empty() {
            notices.push(Notice::Verdicts {
                run: run.id,
                sectors: std::mem::take(&mut verdicts),
            });
        }
        store.commit_and_announce(txn, &notices).await?;
        Ok(RefreshOutcome {
            run_id: run.id,
            summary,
            pages_fetched: fetched.pages,
            release: fetched.release,
            retired: fetched.retired,
            held,
            notes,
        })
    }
}

/// Adds the countries the source named, and records every batch under `policy`. Also returns
/// the sectors whose editorial verdict the source's reference data revised.
async fn record(
    txn: &techbalance_store::Transaction,
    fetched: &Fetched,
    at: techbalance_store::Timestamp,
    run: i64,
    policy: Withdrawals,
) -> Result<(RecordSummary, Vec<HeldSeries>, Vec<String>), StoreError> {
    let verdicts = match &fetched.reference {
        Some(reference) => upsert_reference(txn, reference, at, Some(run)).await?,
        None => Vec::new(),
    };
    let discovered: Vec<country::Model> = fetched.countries.iter().map(country_row).collect();
    add_missing_countries(txn, &discovered).await?;
    let mut summary = RecordSummary::default();
    let mut held = Vec::new();
    for batch in &fetched.batches {
        let recorded = record_batch_guarded(txn, batch, at, Some(run), policy).await?;
        summary.add(recorded.summary);
        held.extend(recorded.held);
    }
    held.sort();
    Ok((summary, held, verdicts))
}

/// What the guard held, and how an operator accepts it.
fn held_note(source: &str, run: i64, withdrawals: u64, held: &[HeldSeries]) -> String {
    let mut named: Vec<String> = held
        .iter()
        .take(HELD_NAMED)
        .map(|h| format!("{} {}", h.metric, h.country))
        .collect();
    if held.len() > HELD_NAMED {
        named.push(format!("{} more", held.len() - HELD_NAMED));
    }
    format!(
        "withdrawals held for an operator: {withdrawals} value(s) in {} series kept as they were \
         ({}); to accept them: acceptWithdrawals(run: \"{run}\") or \
         `techbalance refresh {source} --accept-withdrawals`",
        held.len(),
        named.join(", ")
    )
}

fn country_row(info: &CountryInfo) -> country::Model {
    country::Model {
        code: info.code.clone(),
        iso2: info.iso2.clone(),
        name: info.name.clone(),
        flag: flag_emoji(&info.iso2),
        kind: country::CountryKind::Country,
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
