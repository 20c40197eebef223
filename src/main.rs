//! `techbalance`: the GraphQL data service on the US–China technology balance.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use techbalance::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "techbalance",
    version,
    about = "GraphQL data service on the US–China technology balance"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API (the default). Migrates, and seeds an empty database.
    Serve {
        /// Address to listen on [env: TECHBALANCE_BIND] [default: 127.0.0.1:8080]
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load the baseline dataset; idempotent, and an edited figure becomes a new version.
    Seed,
    /// Refresh one source now (`baseline`, `worldbank`, `oecd-msti`) or `all` of them.
    Refresh {
        /// A source id, or `all`.
        source: String,
    },
    /// Print the GraphQL schema (SDL, fields sorted).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", techbalance_api::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(
        cli.command.unwrap_or(Command::Serve { bind: None }),
        config,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            let store = techbalance::open_store(&config).await?;
            techbalance::seed_if_empty(&store, &config).await?;
            let listener = tokio::net::TcpListener::bind(config.bind)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
            tracing::info!(
                address = %config.bind,
                database = %techbalance::redact(&config.database.url),
                "serving GraphQL at http://{}/graphql",
                config.bind
            );
            techbalance::serve(store, &config, listener, shutdown_signal()).await
        }
        Command::Migrate => {
            techbalance::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed => {
            let store = techbalance::open_store(&config).await?;
            let summary = techbalance::seed(&store, &config).await?;
            println!(
                "baseline loaded: {} new, {} revised, {} withdrawn, {} unchanged",
                summary.inserted, summary.revised, summary.withdrawn, summary.unchanged
            );
            Ok(())
        }
        Command::Refresh { source } => refresh(&config, &source).await,
        Command::Schema => unreachable!("handled before configuration is read"),
    }
}

async fn refresh(config: &Config, wanted: &str) -> anyhow::Result<()> {
    let known = techbalance::source_ids();
    if wanted != "all" && !known.contains(&wanted) {
        anyhow::bail!(
            "unknown source \"{wanted}\": use one of {} or all",
            known.join(", ")
        );
    }
    let store = techbalance::open_store(config).await?;
    techbalance::seed_if_empty(&store, config).await?;
    let mut failed = Vec::new();
    for source in techbalance::sources(config)? {
        if wanted != "all" && source.id() != wanted {
            continue;
        }
        let bar = progress::Bar::new(source.id());
        let outcome =
            techbalance::refresh(&store, config, source.as_ref(), &|p| bar.update(p)).await;
        bar.finish();
        match outcome {
            Ok(o) => {
                let s = o.summary;
                println!(
                    "{}: run {} succeeded: {} fetched, {} new, {} revised, {} withdrawn, {} unchanged ({} pages{})",
                    source.id(), o.run_id, s.fetched, s.inserted, s.revised, s.withdrawn, s.unchanged,
                    o.pages_fetched,
                    if o.retired.is_empty() { String::new() } else { format!("; retired upstream: {}", o.retired.join(", ")) }
                );
            }
            Err(failure) => {
                println!(
                    "{}: run {} failed: {}",
                    source.id(),
                    failure.run_id,
                    failure.error
                );
                failed.push(source.id());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("refresh failed for {}", failed.join(", "))
    }
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
        pub fn new(source: &'static str) -> Self {
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = ProgressBar::new(0);
                if let Ok(style) =
                    ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} pages {msg}")
                {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(source);
                bar
            });
            Self { bar, source }
        }

        pub fn update(&self, progress: Progress) {
            match &self.bar {
                Some(bar) => {
                    bar.set_length(u64::from(progress.pages_total.max(progress.pages_fetched)));
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

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
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
