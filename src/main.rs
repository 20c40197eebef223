//! `techbalance`: the GraphQL data service on the US–China technology balance. The commands
//! are in `cli/`, one file each.

use clap::Parser;
use std::process::ExitCode;
use techbalance::config::{Config, LogFormat};
use techbalance::telemetry::Telemetry;

mod cli;

/// mimalloc instead of the system allocator: answering a dashboard allocates and frees hundreds
/// of thousands of small values, and glibc's malloc and free were about a quarter of the
/// server's CPU time in the profile (BENCHMARKS.md, issue 11).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::Command;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(Command::default_command);
    if let Command::Schema = command {
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
    if matches!(command, Command::Refresh { .. })
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
    let outcome = runtime.block_on(cli::run(command, config));
    let code = match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::AlreadyReported>() => ExitCode::FAILURE,
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
