//! The refresh worker: how it claims and retries runs, and how often it re-reads schedules.
//!
//! `TECHBALANCE_WORKER_LEASE_SECS`, `TECHBALANCE_WORKER_POLL_MS`, `TECHBALANCE_RUN_MAX_ATTEMPTS`,
//! `TECHBALANCE_RUN_RETRY_SECS`, `TECHBALANCE_RUN_RETRY_AFTER_MAX_SECS`,
//! `TECHBALANCE_SCHEDULE_RELOAD_MS`.

use std::time::Duration;
use techbalance_store::queue::RetryPolicy;

/// How workers claim and retry runs, and how often schedules are re-read.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub lease: Duration,
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    pub schedule_reload: Duration,
}

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// Seconds a claimed run holds without renewal; a dead worker's run is claimed again after it
    #[arg(long = "worker-lease-secs", env = "TECHBALANCE_WORKER_LEASE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    lease_secs: u64,
    /// Milliseconds between an idle worker's looks for queued runs (at least 10)
    #[arg(long = "worker-poll-ms", env = "TECHBALANCE_WORKER_POLL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..))]
    poll_ms: u64,
    /// Attempts of a failing run before it is left failed
    #[arg(long = "run-max-attempts", env = "TECHBALANCE_RUN_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(1..))]
    run_max_attempts: i32,
    /// Backoff base in seconds: attempt n+1 waits base × 2^(n-1)
    #[arg(
        long = "run-retry-secs",
        env = "TECHBALANCE_RUN_RETRY_SECS",
        default_value_t = 60
    )]
    retry_secs: u64,
    /// Longest a run waits, in seconds, for the time a source asked for with `Retry-After`
    #[arg(
        long = "run-retry-after-max-secs",
        env = "TECHBALANCE_RUN_RETRY_AFTER_MAX_SECS",
        default_value_t = 21_600
    )]
    retry_after_max_secs: u64,
    /// Milliseconds between running workers' re-reads of schedules (at least 10)
    #[arg(long = "schedule-reload-ms", env = "TECHBALANCE_SCHEDULE_RELOAD_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(10..))]
    schedule_reload_ms: u64,
}

impl Variables {
    pub fn settings(self) -> WorkerConfig {
        WorkerConfig {
            lease: Duration::from_secs(self.lease_secs),
            poll_interval: Duration::from_millis(self.poll_ms),
            retry: RetryPolicy {
                max_attempts: self.run_max_attempts,
                base: Duration::from_secs(self.retry_secs),
                max_retry_after: Duration::from_secs(self.retry_after_max_secs),
            },
            schedule_reload: Duration::from_millis(self.schedule_reload_ms),
        }
    }
}
