//! All configuration, read once at start-up from the environment. A bad value fails fast with
//! an error naming its variable.
//!
//! Each concern has a module that declares its variables with clap (`env`, default, bounds and a
//! line of help): [`database`], [`server`], [`http`] (with WebSockets), [`limits`], [`refresh`]
//! (with the source URLs in [`sources`]), [`worker`] and [`telemetry`]. That declaration is the
//! one home of each variable: loading parses through it, `--help` is rendered from it
//! ([`variables::help`]), and tests hold the README's configuration table to it. A default that
//! belongs to another crate (the API's limits, the fetcher's patience) is referred to, not copied.

use clap::{CommandFactory, FromArgMatches};
use std::net::SocketAddr;
use std::time::Duration;
use techbalance_api::{HttpSettings, SchemaLimits};
use techbalance_store::ConnectionSettings;
use techbalance_worker::sources::baseline::BaselineFile;

pub mod database;
pub mod http;
pub mod limits;
pub mod refresh;
pub mod server;
pub mod sources;
pub mod telemetry;
pub mod variables;
pub mod worker;

pub use database::DEFAULT_DATABASE_URL;
pub use refresh::{RefreshConfig, DEFAULT_BASELINE};
pub use server::DEFAULT_BIND;
pub use telemetry::{LogFormat, TelemetryConfig};
pub use worker::WorkerConfig;

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database: ConnectionSettings,
    pub bind: SocketAddr,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// The one baseline every load reads.
    pub baseline: BaselineFile,
    pub http: HttpSettings,
    pub limits: SchemaLimits,
    pub refresh: RefreshConfig,
    pub worker: WorkerConfig,
    /// On SIGTERM/SIGINT, how long in-flight requests and the current refresh may take to
    /// finish before the server closes what is left and the run is released to the queue.
    pub shutdown_grace: Duration,
    /// OpenTelemetry export of spans; `None` when no OTLP endpoint is configured.
    pub telemetry: Option<TelemetryConfig>,
}

/// Every variable, by concern: the declaration loading parses and `--help` renders.
#[derive(clap::Parser, Debug)]
#[command(
    name = "techbalance",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Variables {
    #[command(flatten)]
    database: database::Variables,
    #[command(flatten)]
    server: server::Variables,
    #[command(flatten)]
    telemetry: telemetry::Variables,
    #[command(flatten)]
    limits: limits::Variables,
    #[command(flatten)]
    http: http::Variables,
    #[command(flatten)]
    refresh: refresh::Variables,
    #[command(flatten)]
    worker: worker::Variables,
}

/// The declaration as a clap command: [`Variables`] and the sources' base URLs.
pub fn command() -> clap::Command {
    sources::declare(Variables::command())
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). A value that
    /// is empty or only spaces counts as unset; values are trimmed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Each set variable is handed to the parser as its option; the parser itself reads no
        // environment, so that `lookup` is the only source.
        let declared = command();
        let mut options = Vec::new();
        for arg in declared.get_arguments() {
            let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let value = variable
                .to_str()
                .and_then(&lookup)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            if let Some(value) = value {
                options.push(format!("--{long}={value}"));
            }
        }
        let parser = command().mut_args(|arg| arg.env(None));
        let (vars, base_urls) = parser
            .try_get_matches_from(options)
            .and_then(|matches| {
                let vars = Variables::from_arg_matches(&matches)?;
                Ok((vars, sources::base_urls(&matches)))
            })
            .map_err(|error| parse_error(&declared, &error))?;
        let telemetry = vars.telemetry.telemetry()?;
        let baseline = vars
            .refresh
            .baseline()
            .map_err(|problem| ConfigError::new("TECHBALANCE_BASELINE", problem))?;
        let request_timeout = vars.limits.request_timeout();
        Ok(Self {
            database: vars.database.settings(),
            bind: vars.server.bind,
            shutdown_grace: vars.server.shutdown_grace(),
            log_filter: vars.telemetry.log_filter,
            log_format: vars.telemetry.log_format,
            baseline,
            http: vars.http.settings(request_timeout),
            limits: vars.limits.settings(),
            refresh: vars.refresh.settings(base_urls),
            worker: vars.worker.settings(),
            telemetry,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }
}

/// A parse error as the variable it is about and what is wrong with its value.
fn parse_error(declared: &clap::Command, error: &clap::Error) -> ConfigError {
    use clap::error::{ContextKind, ContextValue};
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        _ => None,
    };
    // The option as clap names it: `--max-body-bytes <MAX_BODY_BYTES>`.
    let variable = context(ContextKind::InvalidArg).and_then(|option| {
        let long = option.trim_start_matches('-');
        let long = long.split([' ', '=']).next().unwrap_or_default();
        declared
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long))
            .and_then(|arg| arg.get_env())
            .and_then(|env| env.to_str())
            .map(str::to_owned)
    });
    let Some(variable) = variable else {
        return ConfigError::new("configuration", error.to_string());
    };
    let value = context(ContextKind::InvalidValue).unwrap_or_default();
    let problem = match std::error::Error::source(error) {
        Some(reason) => format!("invalid value \"{value}\": {reason}"),
        None => format!("invalid value \"{value}\""),
    };
    ConfigError::new(variable, problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn with_nothing_set_the_embedded_sqlite_file_and_local_port_are_used() {
        let config = config(&[]).expect("defaults");
        assert_eq!(config.database.url, DEFAULT_DATABASE_URL);
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        assert!(config.is_sqlite());
    }

    #[test]
    fn a_sqlite_file_is_created_if_missing_unless_a_mode_is_given() {
        for (given, used) in [
            ("sqlite://mydata.db", "sqlite://mydata.db?mode=rwc"),
            (
                "sqlite:data/x.db?cache=shared",
                "sqlite:data/x.db?cache=shared&mode=rwc",
            ),
            ("sqlite://ro.db?mode=ro", "sqlite://ro.db?mode=ro"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("postgres://u@h/db", "postgres://u@h/db"),
        ] {
            let config = config(&[("DATABASE_URL", given)]).expect(given);
            assert_eq!(config.database.url, used);
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = config(&[("TECHBALANCE_BIND", "nowhere")]).expect_err("bad bind");
        assert_eq!(err.variable, "TECHBALANCE_BIND");
        assert!(err.to_string().starts_with("TECHBALANCE_BIND: "), "{err}");
        let err = config(&[("DATABASE_URL", "mysql://x")]).expect_err("bad url");
        assert_eq!(err.variable, "DATABASE_URL");
        let err = config(&[("TECHBALANCE_DB_MAX_CONNECTIONS", "0")]).expect_err("zero pool");
        assert_eq!(err.variable, "TECHBALANCE_DB_MAX_CONNECTIONS");
        let err = config(&[("TECHBALANCE_DB_TIMEOUT_SECS", "0")]).expect_err("no timeout");
        assert_eq!(err.variable, "TECHBALANCE_DB_TIMEOUT_SECS");
        let err = config(&[("TECHBALANCE_SHUTDOWN_GRACE_SECS", "-1")]).expect_err("negative");
        assert_eq!(err.variable, "TECHBALANCE_SHUTDOWN_GRACE_SECS");
    }

    #[test]
    fn refreshed_countries_default_to_the_us_and_china_and_accept_any_iso3_list() {
        assert_eq!(
            config(&[]).expect("defaults").refresh.countries,
            ["USA", "CHN"]
        );
        let config_list = config(&[("TECHBALANCE_COUNTRIES", "usa, chn,DEU")]).expect("list");
        assert_eq!(config_list.refresh.countries, ["USA", "CHN", "DEU"]);
        let err = config(&[("TECHBALANCE_COUNTRIES", "US,CN")]).expect_err("iso2");
        assert_eq!(err.variable, "TECHBALANCE_COUNTRIES");
    }

    #[test]
    fn the_withdrawal_share_is_a_fifth_by_default_and_a_fraction_when_set() {
        assert_eq!(
            config(&[]).expect("defaults").refresh.max_withdrawal_share,
            0.2
        );
        let set = config(&[("TECHBALANCE_MAX_WITHDRAWAL_SHARE", "0.05")]).expect("set");
        assert_eq!(set.refresh.max_withdrawal_share, 0.05);
        for bad in ["1.5", "-0.1", "NaN", "20%"] {
            let err =
                config(&[("TECHBALANCE_MAX_WITHDRAWAL_SHARE", bad)]).expect_err("not a fraction");
            assert_eq!(err.variable, "TECHBALANCE_MAX_WITHDRAWAL_SHARE", "{bad}");
        }
    }

    #[test]
    fn source_urls_default_to_the_real_services_and_can_be_replaced() {
        let defaults = config(&[]).expect("defaults");
        assert_eq!(
            defaults.refresh.base_url("worldbank"),
            "https://api.worldbank.org/v2"
        );
        assert_eq!(
            defaults.refresh.base_url("oecd-msti"),
            "https://sdmx.oecd.org/public/rest"
        );
        let local =
            config(&[("TECHBALANCE_WORLDBANK_URL", "http://127.0.0.1:9/v2/")]).expect("local");
        assert_eq!(local.refresh.base_url("worldbank"), "http://127.0.0.1:9/v2");
        let err = config(&[("TECHBALANCE_OECD_URL", "ftp://x")]).expect_err("scheme");
        assert_eq!(err.variable, "TECHBALANCE_OECD_URL");
    }

    #[test]
    fn outages_fail_fast_and_shutdown_is_bounded_by_default() {
        let defaults = config(&[]).expect("defaults");
        assert_eq!(defaults.database.acquire_timeout, Duration::from_secs(3));
        assert_eq!(defaults.shutdown_grace, Duration::from_secs(10));
        let set = config(&[
            ("TECHBALANCE_DB_TIMEOUT_SECS", "1"),
            ("TECHBALANCE_SHUTDOWN_GRACE_SECS", "0"),
        ])
        .expect("set");
        assert_eq!(set.database.acquire_timeout, Duration::from_secs(1));
        assert_eq!(set.shutdown_grace, Duration::ZERO);
    }

    #[test]
    fn spans_are_exported_only_when_an_otlp_endpoint_is_configured() {
        assert_eq!(config(&[]).expect("defaults").telemetry, None);
        let base = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .expect("base endpoint")
            .telemetry
            .expect("configured");
        assert_eq!(base.traces_endpoint, "http://collector:4318/v1/traces");
        assert_eq!(base.service_name, "techbalance");
        let traces = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://c.example/otlp/spans",
            ),
            ("OTEL_SERVICE_NAME", "techbalance-eu"),
        ])
        .expect("traces endpoint")
        .telemetry
        .expect("configured");
        assert_eq!(traces.traces_endpoint, "https://c.example/otlp/spans");
        assert_eq!(traces.service_name, "techbalance-eu");
        let disabled = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])
        .expect("disabled");
        assert_eq!(disabled.telemetry, None);
    }

    #[test]
    fn an_unusable_otlp_setting_names_its_variable() {
        let err = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .expect_err("grpc");
        assert_eq!(err.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
        assert!(err.problem.contains("http/protobuf"), "{err}");
        let err = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318")])
            .expect_err("no scheme");
        assert_eq!(err.variable, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    }

    #[test]
    fn postgres_urls_are_accepted() {
        let config = config(&[("DATABASE_URL", "postgres://u:p@localhost/db")]).expect("postgres");
        assert!(!config.is_sqlite());
    }
}
