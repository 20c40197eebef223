//! `techbalance`: the GraphQL data service on the US–China technology balance.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use techbalance::config::{Config, LogFormat};
use techbalance::telemetry::Telemetry;
use techbalance_worker::sources::{registry, SourceError};
use techbalance_worker::WorkerError;

#[derive(Parser)]
#[command(
    name = "techbalance",
    version,
    about = "GraphQL data service on the US–China technology balance",
    after_help = "Configuration is read from environment variables: `--help` lists them.",
    after_long_help = techbalance::config::variables::help()
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API (the default). Migrates, and seeds an empty database.
    #[command(after_long_help = techbalance::config::variables::help())]
    Serve {
        /// Address to listen on [env: TECHBALANCE_BIND] [default: 127.0.0.1:8080]
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Serve the API only; run `techbalance worker` processes for the refreshes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run schedules and claim queued refreshes, without the API (for scaling out).
    #[command(after_long_help = techbalance::config::variables::help())]
    Worker,
    /// Create or revoke operator tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// List and change refresh schedules.
    Schedule {
        #[command(subcommand)]
        action: ScheduleAction,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load the baseline dataset; idempotent, and an edited figure becomes a new version.
    Seed,
    /// Refresh one source now (`baseline`, `worldbank`, `oecd-msti`) or `all` of them.
    Refresh {
        /// A source id (baseline, worldbank, oecd-msti), or all.
        source: String,
        /// Record every withdrawal the answer implies, instead of holding whole series (or more
        /// than TECHBALANCE_MAX_WITHDRAWAL_SHARE of the source's values) for an operator. Audited.
        #[arg(long)]
        accept_withdrawals: bool,
    },
    /// Print the GraphQL schema (SDL, fields sorted).
    Schema,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it (it is shown only this once).
    Create {
        /// A name for the token's holder, unique among active tokens (audited as the actor).
        name: String,
    },
    /// Revoke a token: requests with it are refused from now on.
    Revoke {
        /// The name the token was created with.
        name: String,
    },
}

#[derive(Subcommand)]
enum ScheduleAction {
    /// List the schedules.
    List,
    /// Add a schedule: a six-field cron expression, seconds first ("0 0 3 * * *").
    Add {
        /// The source to refresh: baseline, worldbank or oecd-msti.
        source: String,
        /// Six fields, seconds first: "0 0 3 * * *" is 03:00:00 every day.
        cron: String,
        /// The IANA time zone the cron fields are read in (e.g. Europe/Paris).
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
    /// Stop a schedule from firing.
    Pause {
        /// The schedule's id, as `schedule list` shows it.
        id: i64,
    },
    /// Let a paused schedule fire again.
    Resume {
        /// The schedule's id, as `schedule list` shows it.
        id: i64,
    },
    /// Delete a schedule.
    Remove {
        /// The schedule's id, as `schedule list` shows it.
        id: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", techbalance_api::sdl());
        return ExitCode::SUCCESS;
    }
    let mut config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Some(Command::Refresh { .. }))
        && !config.log_filter.contains("techbalance_worker")
    {
        // `refresh` prints each outcome itself; the pipeline's log line would say it again.
        config
            .log_filter
            .push_str(",techbalance_worker::pipeline=error");
    }
    let telemetry = match Telemetry::install(&config) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            telemetry.shutdown();
            return ExitCode::FAILURE;
        }
    };
    let log_format = config.log_format;
    let outcome = runtime.block_on(run(
        cli.command.unwrap_or(Command::Serve {
            bind: None,
            no_worker: false,
        }),
        config,
    ));
    let code = match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<AlreadyReported>() => ExitCode::FAILURE,
        Err(err) => {
            // Said once: in the JSON log for machines, else as one line for the person.
            let report = techbalance::error_report(&err);
            match log_format {
                LogFormat::Json => tracing::error!("{report}"),
                LogFormat::Text => eprintln!("error: {report}"),
            }
            ExitCode::FAILURE
        }
    };
    drop(runtime);
    telemetry.shutdown();
    code
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { bind, no_worker } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            let store = techbalance::open_store(&config).await?;
            techbalance::seed_if_empty(&store, &config).await?;
            // Bound before the worker starts: a server that cannot listen runs no refreshes.
            let listener = techbalance::listen(config.bind).await?;
            let background = if no_worker {
                None
            } else {
                Some(techbalance::Background::start(store.clone(), &config)?)
            };
            tracing::info!(
                address = %config.bind,
                database = %techbalance::redact(&config.database.url),
                "serving GraphQL at http://{}/graphql",
                config.bind
            );
            // On SIGTERM/SIGINT the server and the worker stop side by side, each within the
            // grace period; if the server ends on its own, the worker is stopped too.
            let grace = config.shutdown_grace;
            let (stop, stopping) = tokio::sync::watch::channel(false);
            let on_signal = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = on_signal.send(true);
            });
            let serving = async {
                let served =
                    techbalance::serve(store, &config, listener, stopped(stopping.clone())).await;
                let _ = stop.send(true);
                served
            };
            let worker = async {
                stopped(stopping.clone()).await;
                if let Some(background) = background {
                    background.stop(grace).await;
                }
            };
            let (served, ()) = tokio::join!(serving, worker);
            tracing::info!("stopped");
            served
        }
        Command::Worker => {
            let store = techbalance::open_store(&config).await?;
            techbalance::seed_if_empty(&store, &config).await?;
            let background = techbalance::Background::start(store, &config)?;
            tracing::info!(worker = %background.worker_id, "worker running");
            shutdown_signal().await;
            background.stop(config.shutdown_grace).await;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Token { action } => {
            use techbalance_store::operations::{CreateToken, RevokeToken};
            let store = techbalance::open_store(&config).await?;
            let actor = cli_actor();
            match action {
                TokenAction::Create { name } => {
                    let (token, token_hash) = techbalance_api::auth::new_token(&name)?;
                    let create = CreateToken {
                        name: name.clone(),
                        token_hash,
                    };
                    store.perform(&actor, create).await?;
                    println!("{token}");
                    eprintln!("token \"{name}\" created; it is shown only this once");
                }
                TokenAction::Revoke { name } => {
                    let revoke = RevokeToken { name: name.clone() };
                    match store.perform(&actor, revoke).await {
                        Err(techbalance_store::StoreError::NotFound { .. }) => {
                            anyhow::bail!("no active token named \"{name}\"")
                        }
                        done => done?,
                    }
                    println!("token \"{name}\" revoked");
                }
            }
            Ok(())
        }
        Command::Schedule { action } => schedule(&config, action).await,
        Command::Migrate => {
            techbalance::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed => {
            let store = techbalance::open_store(&config).await?;
            let outcome = techbalance::seed_run(&store, &config).await?;
            let summary = outcome.summary;
            if let Some(notes) = &outcome.notes {
                println!("{notes}");
            }
            println!(
                "baseline loaded: {} new, {} revised, {} withdrawn, {} unchanged",
                summary.inserted, summary.revised, summary.withdrawn, summary.unchanged
            );
            Ok(())
        }
        Command::Refresh {
            source,
            accept_withdrawals,
        } => refresh(&config, &source, accept_withdrawals).await,
        Command::Schema => unreachable!("handled before configuration is read"),
    }
}

/// Schedule commands: each change is applied with its audit entry, as the API's mutations are.
async fn schedule(config: &Config, action: ScheduleAction) -> anyhow::Result<()> {
    use techbalance_store::operations::{CreateSchedule, DeleteSchedule, UpdateSchedule};
    use techbalance_store::schedules::{NewSchedule, ScheduleChange};
    let store = techbalance::open_store(config).await?;
    techbalance::seed_if_empty(&store, config).await?;
    let actor = cli_actor();
    let no_schedule = |id: i64| anyhow::anyhow!("no schedule {id}");
    match action {
        ScheduleAction::List => {
            println!(
                "{:>4}  {:<10} {:<20} {:<14} {:<8} last fired",
                "id", "source", "cron", "timezone", "enabled"
            );
            for s in store.schedules().await? {
                let last = s
                    .last_fired_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:>4}  {:<10} {:<20} {:<14} {:<8} {last}",
                    s.id, s.source, s.cron, s.timezone, s.enabled
                );
            }
        }
        ScheduleAction::Add {
            source,
            cron,
            timezone,
        } => {
            if store.find_source(&source).await?.is_none() {
                anyhow::bail!(
                    "unknown source \"{source}\": use one of {}",
                    techbalance::source_ids().join(", ")
                );
            }
            let new = NewSchedule {
                source,
                cron,
                timezone,
                enabled: true,
                created_by: actor.clone(),
            };
            let (schedule, created) = store.perform(&actor, CreateSchedule(new)).await?;
            if created {
                println!("schedule {} added", schedule.id);
            } else {
                println!(
                    "schedule {} already refreshes {} at \"{}\" in {}; nothing added",
                    schedule.id, schedule.source, schedule.cron, schedule.timezone
                );
            }
        }
        ScheduleAction::Pause { id } | ScheduleAction::Resume { id } => {
            let enabled = matches!(action, ScheduleAction::Resume { .. });
            let change = ScheduleChange {
                enabled: Some(enabled),
                ..Default::default()
            };
            match store.perform(&actor, UpdateSchedule { id, change }).await {
                Err(techbalance_store::StoreError::NotFound { .. }) => return Err(no_schedule(id)),
                done => done?,
            };
            println!(
                "schedule {id} {}",
                if enabled { "resumed" } else { "paused" }
            );
        }
        ScheduleAction::Remove { id } => {
            match store.perform(&actor, DeleteSchedule { id }).await {
                Err(techbalance_store::StoreError::NotFound { .. }) => return Err(no_schedule(id)),
                done => done?,
            }
            println!("schedule {id} removed");
        }
    }
    Ok(())
}

/// The audit log's name for an operator at the command line.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

async fn refresh(config: &Config, wanted: &str, accept_withdrawals: bool) -> anyhow::Result<()> {
    let known = techbalance::source_ids();
    if wanted != "all" && !known.contains(&wanted) {
        anyhow::bail!(
            "unknown source \"{wanted}\": use one of {} or all",
            known.join(", ")
        );
    }
    let store = techbalance::open_store(config).await?;
    techbalance::seed_if_empty(&store, config).await?;
    let mut failed = false;
    for source in techbalance::sources(config)? {
        if wanted != "all" && source.id() != wanted {
            continue;
        }
        let bar = progress::Bar::new(source.id());
        let update = |p| bar.update(p);
        // Accepted withdrawals are audited in the transaction that records them.
        let outcome = if accept_withdrawals {
            techbalance::refresh_accepted_by(&store, config, source.as_ref(), &cli_actor(), &update)
                .await
        } else {
            techbalance::refresh(&store, config, source.as_ref(), &update).await
        };
        bar.finish();
        match outcome {
            Ok(o) => {
                let s = o.summary;
                println!(
                    "{}: run {} {}: {} fetched, {} new, {} revised, {} withdrawn, {} unchanged, {} held ({} pages)",
                    source.id(), o.run_id, if s.held > 0 { "held" } else { "succeeded" },
                    s.fetched, s.inserted, s.revised, s.withdrawn, s.unchanged, s.held,
                    o.pages_fetched,
                );
                if let Some(notes) = &o.notes {
                    println!("{}: {notes}", source.id());
                }
            }
            Err(failure) => {
                // The one report of this failure (the pipeline's own log line is kept quiet).
                let error = failure.error.to_string();
                let error = error
                    .strip_prefix(&format!("{}: ", source.id()))
                    .unwrap_or(&error);
                eprintln!(
                    "error: {}: run {} failed: {error}",
                    source.id(),
                    failure.run_id
                );
                if let Some(hint) = unreachable_hint(&failure.error, source.id()) {
                    eprintln!("hint: {hint}");
                }
                failed = true;
            }
        }
    }
    if failed {
        Err(AlreadyReported.into())
    } else {
        Ok(())
    }
}

/// A failure already printed in full: `main` only sets the exit code.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
struct AlreadyReported;

/// What to check when a source could not be reached at all.
fn unreachable_hint(error: &WorkerError, source: &str) -> Option<String> {
    let WorkerError::Source(SourceError::Unreachable { url, .. }) = error else {
        return None;
    };
    // The host alone: user information (credentials) stays out of the message.
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
        .unwrap_or("the source");
    let variable = registry::find(source)?.base_url?.variable;
    Some(format!(
        "{host} did not answer (no connection, a timeout or server errors, after every attempt): \
         check this machine's network or proxy, or point {variable} at a reachable copy; \
         TECHBALANCE_FETCH_ATTEMPTS and TECHBALANCE_FETCH_TIMEOUT_SECS set the patience"
    ))
}

mod progress {
    //! A progress bar on a terminal; plain log lines otherwise.
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::IsTerminal;
    use techbalance_worker::sources::Progress;

    pub struct Bar {
        bar: Option<ProgressBar>,
        source: &'static str,
    }

    impl Bar {
        /// A spinner until the source says how many pages there are: no bar claims to be
        /// full (or empty) before anything is known.
        pub fn new(source: &'static str) -> Self {
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = ProgressBar::new_spinner();
                if let Ok(style) = ProgressStyle::with_template("{prefix:>10} {spinner} {msg}") {
                    bar.set_style(style);
                }
                bar.set_prefix(source);
                bar.set_message("connecting");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
            Self { bar, source }
        }

        pub fn update(&self, progress: Progress) {
            match &self.bar {
                Some(bar) => {
                    let total = progress.pages_total.max(progress.pages_fetched);
                    if total == 0 {
                        bar.set_message(format!("{} observations", progress.observations));
                        return;
                    }
                    if bar.length().is_none() {
                        bar.disable_steady_tick();
                        bar.set_message("");
                        if let Ok(style) = ProgressStyle::with_template(
                            "{prefix:>10} [{bar:30}] {pos}/{len} pages {msg}",
                        ) {
                            bar.set_style(style.progress_chars("=> "));
                        }
                    }
                    bar.set_length(u64::from(total));
                    bar.set_position(u64::from(progress.pages_fetched));
                    bar.set_message(format!("{} observations", progress.observations));
                }
                None => tracing::info!(
                    source = self.source,
                    pages = progress.pages_fetched,
                    of = progress.pages_total,
                    observations = progress.observations,
                    "fetched"
                ),
            }
        }

        pub fn finish(&self) {
            if let Some(bar) = &self.bar {
                bar.finish_and_clear();
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
