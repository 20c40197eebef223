//! The `techbalance` binary's wiring: configuration, database start-up, and the HTTP server.
//! `main.rs` parses the command line and calls into here; the end-to-end tests do the same.

pub mod config;
pub mod telemetry;

use anyhow::Context as _;
use config::Config;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use techbalance_api::Live;
use techbalance_store::queue::RetryPolicy;
use techbalance_store::record::RecordSummary;
use techbalance_store::reference::ReferenceData;
use techbalance_store::runs::{RunFilter, RunStatus};
use techbalance_store::Store;
use techbalance_worker::clock::SystemClock;
use techbalance_worker::pipeline::{RefreshExecutor, RefreshFailure, RefreshOutcome};
use techbalance_worker::runner::{Runner, RunnerSettings};
use techbalance_worker::scheduler;
use techbalance_worker::sources::registry::{self, SourceContext};
use techbalance_worker::sources::{Progress, Source};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Connects and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = &config.database.url;
    let opening = || format!("cannot open the database at {}", redact(url));
    if let Some(directory) = sqlite_directory(url) {
        if !directory.is_dir() {
            anyhow::bail!(
                "{}: the directory {} does not exist (create it, or name a file elsewhere)",
                opening(),
                directory.display()
            );
        }
    }
    let store = Store::connect(&config.database)
        .await
        .with_context(opening)?;
    let pending = store.pending_migrations().await.with_context(opening)?;
    if !pending.is_empty() {
        store.migrate().await.context("cannot apply migrations")?;
        tracing::info!(migrations = %pending.join(", "), "applied {} migrations", pending.len());
    }
    if let Some(message) = store.lost_before_start() {
        // Logged by the store too; said here as well, for whoever reads the terminal.
        eprintln!("WARNING: {message}");
    }
    Ok(store)
}

/// How often a serving process checks that its SQLite file is still the one it opened.
const FILE_WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// The directory of a SQLite file URL's file (`None` for other URLs and in-memory databases).
fn sqlite_directory(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.split('?').next().unwrap_or_default();
    let path = path.strip_prefix("//").unwrap_or(path);
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    let parent = std::path::Path::new(path).parent()?;
    (!parent.as_os_str().is_empty()).then(|| parent.to_path_buf())
}

/// Loads the configured baseline (see [`techbalance_worker::seed`]).
pub async fn seed(store: &Store, config: &Config) -> anyhow::Result<RecordSummary> {
    Ok(seed_run(store, config).await?.summary)
}

/// [`seed`], with the whole outcome (the run, and its notes naming the file and its hash).
pub async fn seed_run(store: &Store, config: &Config) -> anyhow::Result<RefreshOutcome> {
    Ok(techbalance_worker::seed(store, &config.baseline).await?)
}

/// Every refreshable source of the registry, configured.
pub fn sources(config: &Config) -> anyhow::Result<Vec<Box<dyn Source>>> {
    let refresh = &config.refresh;
    Ok(registry::build_all(&SourceContext {
        base_urls: &refresh.base_urls,
        fetch: &refresh.fetch,
        from_year: refresh.from_year,
        worldbank_per_page: refresh.worldbank_per_page,
        baseline: &config.baseline,
    })?)
}

/// The source ids `refresh` accepts.
pub fn source_ids() -> Vec<&'static str> {
    registry::ids()
}

/// Refreshes one source now, outside the queue, recording a manual run.
pub async fn refresh(
    store: &Store,
    config: &Config,
    source: &dyn Source,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<RefreshOutcome, RefreshFailure> {
    refresh_accepting(store, config, source, false, progress).await
}

/// [`refresh`]; with `accept_withdrawals`, the run records every withdrawal its answer implies
/// (the operator accepted them), instead of holding them.
pub async fn refresh_accepting(
    store: &Store,
    config: &Config,
    source: &dyn Source,
    accept_withdrawals: bool,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<RefreshOutcome, RefreshFailure> {
    executor(config)
        .accepting_withdrawals(accept_withdrawals)
        .refresh_now(store, source, &config.refresh.countries, progress)
        .await
}

/// [`refresh`], recording every withdrawal on behalf of `operator`, audited in the transaction
/// that records them (the command line's `--accept-withdrawals`).
pub async fn refresh_accepted_by(
    store: &Store,
    config: &Config,
    source: &dyn Source,
    operator: &str,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<RefreshOutcome, RefreshFailure> {
    executor(config)
        .accepted_by(operator)
        .refresh_now(store, source, &config.refresh.countries, progress)
        .await
}

fn executor(config: &Config) -> RefreshExecutor {
    RefreshExecutor::new(config.worker.lease)
        .with_max_withdrawal_share(config.refresh.max_withdrawal_share)
}

/// The worker's background tasks (scheduler and run queue); stopped by [`Background::stop`].
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    store: Store,
    pub worker_id: String,
}

impl Background {
    /// Starts the scheduler and a worker claiming queued runs.
    pub fn start(store: Store, config: &Config) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let settings = RunnerSettings {
            lease: config.worker.lease,
            poll_interval: config.worker.poll_interval,
            retry: config.worker.retry,
            countries: config.refresh.countries.clone(),
            max_withdrawal_share: config.refresh.max_withdrawal_share,
        };
        let runner = Runner::new(store.clone(), sources(config)?, settings);
        let worker_id = runner.worker_id().to_owned();
        let wake = runner.waker();
        let reload = config.worker.schedule_reload;
        let scheduler_stop = stopped.clone();
        let scheduler_store = store.clone();
        let scheduler = tokio::spawn(scheduler::run(
            scheduler_store,
            Arc::new(SystemClock),
            reload,
            wake,
            scheduler_stop,
        ));
        let worker = tokio::spawn(runner.run(stopped));
        Ok(Self {
            stop,
            tasks: vec![scheduler, worker],
            store,
            worker_id,
        })
    }

    /// Stops taking new runs and lets a run in progress finish, for at most `grace`. A run still
    /// going then is abandoned (nothing it fetched is recorded) and put back in the queue, to be
    /// claimed again at once by any worker.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        let mut tasks = self.tasks;
        while let Some(task) = tasks.last_mut() {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                break;
            }
            tasks.pop();
        }
        if tasks.is_empty() {
            return;
        }
        tracing::warn!(
            grace_secs = grace.as_secs_f64(),
            "the current refresh did not finish within the shutdown grace period; releasing it"
        );
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        release_runs(&self.store, &self.worker_id).await;
    }
}

/// Puts the runs `worker` holds back in the queue, due now, without using up their attempts'
/// budget: an interrupted run is not a failed one.
async fn release_runs(store: &Store, worker: &str) {
    let filter = RunFilter {
        source: None,
        status: Some(RunStatus::Running),
    };
    let held = match store.runs(&filter, None, 100).await {
        Ok(runs) => runs,
        Err(e) => {
            tracing::error!(error = %e, "cannot release the current run; its lease will expire");
            return;
        }
    };
    for run in held.iter().filter(|r| r.worker.as_deref() == Some(worker)) {
        let requeue = RetryPolicy {
            max_attempts: run.attempt.saturating_add(1),
            base: Duration::ZERO,
            max_retry_after: Duration::ZERO,
        };
        let reason = "interrupted: the worker shut down before the run finished";
        let failure = techbalance_store::runs::RunFailure {
            code: "INTERRUPTED",
            message: reason.to_owned(),
            detail: reason.to_owned(),
        };
        match store
            .fail_run(run.id, worker, &failure, requeue, None)
            .await
        {
            Ok(after) => tracing::info!(run = run.id, ?after, "run released to the queue"),
            Err(e) => {
                tracing::error!(run = run.id, error = %e, "cannot release the run; its lease will expire");
            }
        }
    }
}

/// Seeds a database that has no data yet, and gives it the default schedules. In a database
/// that has data, only the registry's `sources` rows are written (a source added since it was
/// seeded gets its row; its default schedule is not created: `schedule add` does that).
pub async fn seed_if_empty(store: &Store, config: &Config) -> anyhow::Result<()> {
    if store.is_empty().await? {
        tracing::info!("empty database: loading the baseline");
        seed(store, config).await?;
        store
            .create_default_schedules(&registry::default_schedules())
            .await?;
    } else {
        let sources = ReferenceData {
            sources: registry::reference_rows(),
            ..ReferenceData::default()
        };
        store.upsert_reference_data(&sources).await?;
    }
    Ok(())
}

/// Entries asked for in the kernel's accept queue (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 65_535;

/// A listener on `address`, or an error that says why and how to pick another address.
///
/// The accept queue is asked for [`LISTEN_BACKLOG`] entries (the kernel caps it at
/// `net.core.somaxconn`): with the default of a few hundred, a burst of new connections (clients
/// reconnecting after the server cut stalled ones off) overflows it, and a dropped SYN costs the
/// client a one-second retransmission.
pub async fn listen(address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    let bind = || {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        socket.listen(LISTEN_BACKLOG)
    };
    bind().map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => "the address is already in use (another process listens there)".to_owned(),
            std::io::ErrorKind::AddrNotAvailable => "the address is not one of this machine's".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied (ports below 1024 need privileges)".to_owned(),
            _ => e.to_string(),
        };
        anyhow::anyhow!(
            "cannot listen on {address}: {why}; choose another address with --bind ADDR (or TECHBALANCE_BIND)"
        )
    })
}

/// The HTTP application for `store`; `live` tracks (and on shutdown closes) its WebSockets.
pub fn app(store: Store, config: &Config, live: Live) -> axum::Router {
    let store = store.with_source_preference(registry::preference());
    let schema = techbalance_api::build_schema(store.clone(), config.limits);
    techbalance_api::router_with(schema, store, config.http, live)
}

/// Serves the API on `listener` until `shutdown` resolves, then closes WebSockets with 1001 and
/// lets in-flight requests finish. The process holds one change listener for its subscribers.
pub async fn serve(
    store: Store,
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_live(store, config, listener, shutdown, Live::new(config.http.ws)).await
}

/// [`serve`], with the caller keeping a handle on the live connections.
pub async fn serve_live(
    store: Store,
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    live: Live,
) -> anyhow::Result<()> {
    report_fd_limit(config.http.connections.max_connections);
    let listening = tokio::spawn(store.clone().listen_for_changes());
    let watching = tokio::spawn(store.clone().watch_file(FILE_WATCH_INTERVAL));
    let app = app(store, config, live.clone());
    let (began, shutdown_began) = tokio::sync::oneshot::channel();
    let listener = techbalance_api::observability::count_connections(listener);
    let server = techbalance_api::serve(listener, app, config.http.connections, async move {
        shutdown.await;
        live.close_all();
        let _ = began.send(());
    });
    let result = within_grace(server, shutdown_began, config.shutdown_grace)
        .await
        .context("HTTP server failed");
    listening.abort();
    watching.abort();
    result
}

/// Raises the open file limit to its hard limit and says what it is, warning when it cannot
/// hold `max_connections` (each takes a descriptor, and the database pool a few more).
fn report_fd_limit(max_connections: usize) {
    match techbalance_api::raise_fd_limit() {
        Some(limit) if limit < max_connections as u64 + 256 => tracing::warn!(
            open_file_limit = limit,
            max_connections,
            "the open file limit is below TECHBALANCE_MAX_CONNECTIONS + 256: raise the hard \
             limit (ulimit -Hn, LimitNOFILE=) or lower TECHBALANCE_MAX_CONNECTIONS"
        ),
        Some(limit) => tracing::info!(open_file_limit = limit, max_connections, "open file limit"),
        None => tracing::info!(max_connections, "open file limit: unlimited"),
    }
}

/// Runs `server` to its end, but for no longer than `grace` once shutdown has `began`: the
/// connections still open then are dropped with their requests.
async fn within_grace(
    server: impl Future<Output = std::io::Result<()>>,
    began: tokio::sync::oneshot::Receiver<()>,
    grace: Duration,
) -> std::io::Result<()> {
    let grace_over = async {
        match began.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = grace_over => {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                open_connections = techbalance_api::observability::open_connections(),
                "shutdown grace period over; dropping the connections still open"
            );
            Ok(())
        }
    }
}

/// A fatal error's message, each cause said once: the contexts, then the root cause. A message
/// that only repeats the one it wraps (database drivers print their whole chain at every level)
/// is left out.
pub fn error_report(err: &anyhow::Error) -> String {
    let messages: Vec<String> = err.chain().map(ToString::to_string).collect();
    let mut said: Vec<&str> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let repeats_its_cause = messages
            .get(i + 1)
            .is_some_and(|cause| message.contains(cause.as_str()));
        if !repeats_its_cause {
            said.push(message);
        }
    }
    said.join(": ")
}

/// The URL without its password, for messages (see [`techbalance_worker::redact`]).
pub fn redact(url: &str) -> String {
    techbalance_worker::redact::url(url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            super::redact("postgres://tb:secret@localhost:5432/tb"),
            "postgres://tb:***@localhost:5432/tb"
        );
        assert_eq!(
            super::redact("sqlite://techbalance.db?mode=rwc"),
            "sqlite://techbalance.db?mode=rwc"
        );
    }
}
