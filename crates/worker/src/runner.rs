//! The worker loop: claim a queued run, execute it, record the outcome; repeat until told to
//! stop. Several worker processes may run this against one PostgreSQL.

use crate::pipeline::RefreshExecutor;
use crate::sources::Source;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use techbalance_store::entities::StoredValue;
use techbalance_store::queue::{AfterFailure, RetryPolicy};
use techbalance_store::Store;
use tokio::sync::{watch, Notify};

#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// How long a claim holds without renewal; a dead worker's run is claimed again after it.
    pub lease: Duration,
    /// How often an idle worker looks for queued runs (it is also woken on local enqueues).
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    /// ISO3 codes refreshed.
    pub countries: Vec<String>,
    /// See [`RefreshExecutor::max_withdrawal_share`].
    pub max_withdrawal_share: f64,
}

pub struct Runner {
    store: Store,
    sources: HashMap<&'static str, Box<dyn Source>>,
    settings: RunnerSettings,
    executor: RefreshExecutor,
    wake: Arc<Notify>,
}

impl Runner {
    pub fn new(store: Store, sources: Vec<Box<dyn Source>>, settings: RunnerSettings) -> Self {
        let executor = RefreshExecutor::new(settings.lease)
            .with_max_withdrawal_share(settings.max_withdrawal_share);
        Self {
            store,
            sources: sources.into_iter().map(|s| (s.id(), s)).collect(),
            settings,
            executor,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notified when this process enqueues a run, so that it is claimed without waiting a poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn worker_id(&self) -> &str {
        &self.executor.worker_id
    }

    /// Claims and executes runs until `stop` turns true; a run in progress is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(worker = %self.executor.worker_id, "worker started");
        while !*stop.borrow() {
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not claim a run"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!(worker = %self.executor.worker_id, "worker stopped");
    }

    /// Claims one run and executes it; false when nothing was due.
    pub async fn run_one(&self) -> Result<bool, techbalance_store::StoreError> {
        let Some(run) = self
            .store
            .claim_run(&self.executor.worker_id, self.settings.lease)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(run = run.id, source = %run.source, attempt = run.attempt, claims = run.claims, "claimed");
        let Some(source) = self.sources.get(run.source.as_str()) else {
            let error = crate::WorkerError::UnknownSource(run.source.clone());
            self.executor
                .fail(&self.store, &run, &error, RetryPolicy::FINAL)
                .await;
            return Ok(true);
        };
        let outcome = self
            .executor
            .execute(
                &self.store,
                source.as_ref(),
                &self.settings.countries,
                &run,
                &|_| {},
            )
            .await;
        if let Err(error) = outcome {
            // A failure that would repeat (a broken key) is final at once.
            let retry = if error.is_retryable() {
                self.settings.retry
            } else {
                RetryPolicy::FINAL
            };
            match self.executor.fail(&self.store, &run, &error, retry).await {
                AfterFailure::Retry {
                    at,
                    attempt,
                    reason,
                } => {
                    tracing::info!(run = run.id, %at, attempt, reason = %reason.stored(), "will retry");
                }
                AfterFailure::Failed => tracing::warn!(run = run.id, "failed for good"),
                AfterFailure::NotHeld => {}
            }
        }
        Ok(true)
    }
}
