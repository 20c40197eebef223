//! All configuration, read once at start-up from the environment. A bad value fails fast with
//! an error naming its variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use techbalance_api::{HttpSettings, SchemaLimits};
use techbalance_store::queue::RetryPolicy;
use techbalance_store::ConnectionSettings;
use techbalance_worker::fetch::FetchSettings;
use techbalance_worker::sources::{oecd, worldbank};

/// The embedded database used when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://techbalance.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database: ConnectionSettings,
    pub bind: SocketAddr,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// A baseline file to load instead of the one bundled in the binary.
    pub baseline_path: Option<PathBuf>,
    pub http: HttpSettings,
    pub limits: SchemaLimits,
    pub refresh: RefreshConfig,
    pub worker: WorkerConfig,
}

/// How workers claim and retry runs, and how often schedules are re-read.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub lease: Duration,
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    pub schedule_reload: Duration,
}

/// Where and how the worker fetches public sources.
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    /// ISO3 codes of the countries refreshed.
    pub countries: Vec<String>,
    pub worldbank_url: String,
    pub oecd_url: String,
    /// First year fetched.
    pub from_year: i32,
    pub worldbank_per_page: u32,
    pub fetch: FetchSettings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: format!("unsupported database \"{scheme}\": use postgres://… or sqlite:…"),
            });
        }
        let defaults_http = HttpSettings::default();
        let defaults_limits = SchemaLimits::default();
        Ok(Self {
            database: ConnectionSettings {
                url,
                max_connections: parse(&get, "TECHBALANCE_DB_MAX_CONNECTIONS", 10, |n: &u32| {
                    *n >= 1
                })?,
                acquire_timeout: Duration::from_secs(parse(
                    &get,
                    "TECHBALANCE_DB_TIMEOUT_SECS",
                    5,
                    |n: &u64| *n >= 1,
                )?),
            },
            bind: parse(
                &get,
                "TECHBALANCE_BIND",
                DEFAULT_BIND.parse().expect("default bind address"),
                |_| true,
            )?,
            log_filter: get("TECHBALANCE_LOG").unwrap_or_else(|| "info".to_owned()),
            log_format: match get("TECHBALANCE_LOG_FORMAT").as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError {
                        variable: "TECHBALANCE_LOG_FORMAT",
                        problem: format!("\"{other}\" is neither \"text\" nor \"json\""),
                    })
                }
            },
            baseline_path: get("TECHBALANCE_BASELINE").map(PathBuf::from),
            http: HttpSettings {
                max_body_bytes: parse(
                    &get,
                    "TECHBALANCE_MAX_BODY_BYTES",
                    defaults_http.max_body_bytes,
                    |n| *n >= 1024,
                )?,
            },
            limits: SchemaLimits {
                depth: parse(&get, "TECHBALANCE_MAX_DEPTH", defaults_limits.depth, |n| {
                    *n >= 1
                })?,
                complexity: parse(
                    &get,
                    "TECHBALANCE_MAX_COMPLEXITY",
                    defaults_limits.complexity,
                    |n| *n >= 1,
                )?,
            },
            refresh: refresh_config(&get)?,
            worker: WorkerConfig {
                lease: Duration::from_secs(parse(
                    &get,
                    "TECHBALANCE_WORKER_LEASE_SECS",
                    60,
                    |n: &u64| *n >= 1,
                )?),
                poll_interval: Duration::from_millis(parse(
                    &get,
                    "TECHBALANCE_WORKER_POLL_MS",
                    1000,
                    |n: &u64| *n >= 10,
                )?),
                retry: RetryPolicy {
                    max_attempts: parse(&get, "TECHBALANCE_RUN_MAX_ATTEMPTS", 5, |n: &i32| {
                        *n >= 1
                    })?,
                    base: Duration::from_secs(parse(
                        &get,
                        "TECHBALANCE_RUN_RETRY_SECS",
                        60,
                        |_: &u64| true,
                    )?),
                },
                schedule_reload: Duration::from_millis(parse(
                    &get,
                    "TECHBALANCE_SCHEDULE_RELOAD_MS",
                    5000,
                    |n: &u64| *n >= 10,
                )?),
            },
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }
}

fn refresh_config(get: &impl Fn(&str) -> Option<String>) -> Result<RefreshConfig, ConfigError> {
    let countries = match get("TECHBALANCE_COUNTRIES") {
        None => vec!["USA".to_owned(), "CHN".to_owned()],
        Some(list) => {
            let codes: Vec<String> = list
                .split([',', ' ', ';'])
                .filter(|c| !c.is_empty())
                .map(|c| c.trim().to_ascii_uppercase())
                .collect();
            if codes.is_empty()
                || codes
                    .iter()
                    .any(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                return Err(ConfigError {
                    variable: "TECHBALANCE_COUNTRIES",
                    problem: format!(
                        "\"{list}\" is not a list of ISO 3166-1 alpha-3 codes (e.g. USA,CHN,DEU)"
                    ),
                });
            }
            codes
        }
    };
    let url = |variable: &'static str, default: &str| -> Result<String, ConfigError> {
        let value = get(variable).unwrap_or_else(|| default.to_owned());
        if value.starts_with("http://") || value.starts_with("https://") {
            Ok(value.trim_end_matches('/').to_owned())
        } else {
            Err(ConfigError {
                variable,
                problem: format!("\"{value}\" is not an http(s) URL"),
            })
        }
    };
    let defaults = FetchSettings::default();
    Ok(RefreshConfig {
        countries,
        worldbank_url: url("TECHBALANCE_WORLDBANK_URL", worldbank::DEFAULT_BASE_URL)?,
        oecd_url: url("TECHBALANCE_OECD_URL", oecd::DEFAULT_BASE_URL)?,
        from_year: parse(get, "TECHBALANCE_FROM_YEAR", 1990, |y: &i32| {
            (1900..=2100).contains(y)
        })?,
        worldbank_per_page: parse(get, "TECHBALANCE_WORLDBANK_PER_PAGE", 1000, |n: &u32| {
            (1..=32_500).contains(n)
        })?,
        fetch: FetchSettings {
            max_attempts: parse(
                get,
                "TECHBALANCE_FETCH_ATTEMPTS",
                defaults.max_attempts,
                |n| *n >= 1,
            )?,
            request_timeout: Duration::from_secs(parse(
                get,
                "TECHBALANCE_FETCH_TIMEOUT_SECS",
                defaults.request_timeout.as_secs(),
                |n| *n >= 1,
            )?),
            concurrency: parse(
                get,
                "TECHBALANCE_FETCH_CONCURRENCY",
                defaults.concurrency,
                |n| *n >= 1,
            )?,
            ..defaults
        },
    })
}

fn parse<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    valid: impl Fn(&T) -> bool,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
{
    let Some(text) = get(variable) else {
        return Ok(default);
    };
    match text.trim().parse::<T>() {
        Ok(value) if valid(&value) => Ok(value),
        _ => Err(ConfigError {
            variable,
            problem: format!("invalid value \"{text}\""),
        }),
    }
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
    fn a_bad_value_names_its_variable() {
        let err = config(&[("TECHBALANCE_BIND", "nowhere")]).expect_err("bad bind");
        assert_eq!(err.variable, "TECHBALANCE_BIND");
        assert!(err.to_string().starts_with("TECHBALANCE_BIND: "), "{err}");
        let err = config(&[("DATABASE_URL", "mysql://x")]).expect_err("bad url");
        assert_eq!(err.variable, "DATABASE_URL");
        let err = config(&[("TECHBALANCE_DB_MAX_CONNECTIONS", "0")]).expect_err("zero pool");
        assert_eq!(err.variable, "TECHBALANCE_DB_MAX_CONNECTIONS");
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
    fn source_urls_default_to_the_real_services_and_can_be_replaced() {
        let defaults = config(&[]).expect("defaults");
        assert_eq!(
            defaults.refresh.worldbank_url,
            "https://api.worldbank.org/v2"
        );
        assert_eq!(
            defaults.refresh.oecd_url,
            "https://sdmx.oecd.org/public/rest"
        );
        let local =
            config(&[("TECHBALANCE_WORLDBANK_URL", "http://127.0.0.1:9/v2/")]).expect("local");
        assert_eq!(local.refresh.worldbank_url, "http://127.0.0.1:9/v2");
        let err = config(&[("TECHBALANCE_OECD_URL", "ftp://x")]).expect_err("scheme");
        assert_eq!(err.variable, "TECHBALANCE_OECD_URL");
    }

    #[test]
    fn postgres_urls_are_accepted() {
        let config = config(&[("DATABASE_URL", "postgres://u:p@localhost/db")]).expect("postgres");
        assert!(!config.is_sqlite());
    }
}
