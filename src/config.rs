//! All configuration, read once at start-up from the environment. A bad value fails fast with
//! an error naming its variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use techbalance_api::{HttpSettings, SchemaLimits};
use techbalance_store::ConnectionSettings;

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
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }
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
    fn postgres_urls_are_accepted() {
        let config = config(&[("DATABASE_URL", "postgres://u:p@localhost/db")]).expect("postgres");
        assert!(!config.is_sqlite());
    }
}
