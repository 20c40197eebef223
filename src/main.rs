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
        Command::Schema => unreachable!("handled before configuration is read"),
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
