//! All configuration, read once at start-up from the environment. A bad value fails fast with
//! an error naming its variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use techbalance_api::{
    CorsHeaders, CorsOrigins, HttpSettings, RateLimitSettings, SchemaLimits, ServerSettings,
    WsSettings,
};
use techbalance_store::queue::RetryPolicy;
use techbalance_store::ConnectionSettings;
use techbalance_worker::fetch::FetchSettings;
use techbalance_worker::pipeline::DEFAULT_MAX_WITHDRAWAL_SHARE;
use techbalance_worker::sources::baseline::BaselineFile;
use techbalance_worker::sources::registry;

pub mod variables;

/// The baseline file read when `TECHBALANCE_BASELINE` is unset, relative to the working
/// directory; without it, the copy bundled with the build.
pub const DEFAULT_BASELINE: &str = "data/baseline.toml";

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
    /// The one baseline every load reads (see [`baseline_file`]).
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

/// Where spans are exported with OpenTelemetry (OTLP over HTTP/protobuf), when configured.
///
/// Read from the standard OpenTelemetry variables, so that the usual collector set-up works
/// unchanged: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (`/v1/traces` appended), `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`. Headers
/// (`OTEL_EXPORTER_OTLP_HEADERS`), timeouts and batching (`OTEL_BSP_*`) are read by the exporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The full URL spans are POSTed to.
    pub traces_endpoint: String,
    pub service_name: String,
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
    /// Each public source's base URL by source id (the registry names its variable and default).
    pub base_urls: std::collections::BTreeMap<String, String>,
    /// First year fetched.
    pub from_year: i32,
    pub worldbank_per_page: u32,
    pub fetch: FetchSettings,
    /// The share (0 to 1) of a source's current values one refresh may withdraw without an
    /// operator accepting it; a whole series is never withdrawn without one.
    pub max_withdrawal_share: f64,
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
        Ok(Self {
            database: ConnectionSettings {
                url: created_if_missing(url),
                max_connections: parse(&get, "TECHBALANCE_DB_MAX_CONNECTIONS", 10, |n: &u32| {
                    *n >= 1
                })?,
                acquire_timeout: Duration::from_secs(parse(
                    &get,
                    "TECHBALANCE_DB_TIMEOUT_SECS",
                    3,
                    |n: &u64| (1..=600).contains(n),
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
            baseline: baseline_file(get("TECHBALANCE_BASELINE"))?,
            http: http_settings(&get)?,
            telemetry: telemetry_config(&get)?,
            limits: schema_limits(&get)?,
            refresh: refresh_config(&get)?,
            shutdown_grace: Duration::from_secs(parse(
                &get,
                "TECHBALANCE_SHUTDOWN_GRACE_SECS",
                10,
                |n: &u64| *n <= 3600,
            )?),
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
                    max_retry_after: Duration::from_secs(parse(
                        &get,
                        "TECHBALANCE_RUN_RETRY_AFTER_MAX_SECS",
                        21_600,
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

/// `TECHBALANCE_BASELINE` (which must exist), else [`DEFAULT_BASELINE`] in the working directory
/// when there is one, else the bundled copy. A path is made absolute once, so that every load in
/// this process reads the same file.
fn baseline_file(named: Option<String>) -> Result<BaselineFile, ConfigError> {
    let problem = |problem: String| ConfigError {
        variable: "TECHBALANCE_BASELINE",
        problem,
    };
    let path = match named {
        Some(named) => {
            let path = PathBuf::from(named.trim());
            if !path.is_file() {
                return Err(problem(format!("no baseline file at {}", path.display())));
            }
            path
        }
        None if Path::new(DEFAULT_BASELINE).is_file() => PathBuf::from(DEFAULT_BASELINE),
        None => return Ok(BaselineFile::Bundled),
    };
    std::path::absolute(&path)
        .map(BaselineFile::Path)
        .map_err(|e| problem(format!("cannot resolve {}: {e}", path.display())))
}

/// A SQLite file URL without a `mode` opens read-write and creates the file (`mode=rwc`), as
/// the default does: a path the user names just works. Other URLs are kept as they are.
fn created_if_missing(url: String) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url;
    };
    if rest.contains(":memory:") || rest.contains("mode=") {
        return url;
    }
    let separator = if rest.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

/// The HTTP transport: body size, batches, rate limiting, CORS and CSRF.
fn telemetry_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<TelemetryConfig>, ConfigError> {
    // Read before any early return, so that every variable is read (see `variables`).
    let service_name = get("OTEL_SERVICE_NAME").unwrap_or_else(|| "techbalance".to_owned());
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    for variable in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = get(variable) {
            if protocol.trim() != "http/protobuf" {
                return Err(ConfigError {
                    variable,
                    problem: format!(
                        "\"{protocol}\" is not supported: spans are exported as \"http/protobuf\" \
                         (the collector's HTTP port, usually 4318)"
                    ),
                });
            }
            break;
        }
    }
    let (variable, traces_endpoint) =
        if let Some(endpoint) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                endpoint.trim().to_owned(),
            )
        } else if let Some(endpoint) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", endpoint.trim().trim_end_matches('/')),
            )
        } else {
            return Ok(None);
        };
    if !(traces_endpoint.starts_with("http://") || traces_endpoint.starts_with("https://")) {
        return Err(ConfigError {
            variable,
            problem: format!("\"{traces_endpoint}\" is not an http(s) URL"),
        });
    }
    Ok(Some(TelemetryConfig {
        traces_endpoint,
        service_name,
    }))
}

fn http_settings(get: &impl Fn(&str) -> Option<String>) -> Result<HttpSettings, ConfigError> {
    let d = HttpSettings::default();
    let cors_origins = match get("TECHBALANCE_CORS_ORIGINS") {
        None => d.cors_origins,
        Some(text) => CorsOrigins::parse(&text).map_err(|problem| ConfigError {
            variable: "TECHBALANCE_CORS_ORIGINS",
            problem,
        })?,
    };
    let cors_headers = match get("TECHBALANCE_CORS_HEADERS") {
        None => d.cors_headers,
        Some(text) => CorsHeaders::parse(&text).map_err(|problem| ConfigError {
            variable: "TECHBALANCE_CORS_HEADERS",
            problem,
        })?,
    };
    Ok(HttpSettings {
        max_body_bytes: parse(get, "TECHBALANCE_MAX_BODY_BYTES", d.max_body_bytes, |n| {
            *n >= 1024
        })?,
        ws: ws_settings(get)?,
        max_batch: parse(get, "TECHBALANCE_MAX_BATCH", d.max_batch, |n| *n <= 1000)?,
        rate_limit: RateLimitSettings {
            per_second: parse(
                get,
                "TECHBALANCE_RATE_LIMIT_PER_SECOND",
                d.rate_limit.per_second,
                |n: &f64| n.is_finite() && *n >= 0.0,
            )?,
            burst: parse(
                get,
                "TECHBALANCE_RATE_LIMIT_BURST",
                d.rate_limit.burst,
                |n| *n >= 1,
            )?,
            trust_forwarded_for: parse(
                get,
                "TECHBALANCE_TRUST_FORWARDED_FOR",
                d.rate_limit.trust_forwarded_for,
                |_| true,
            )?,
        },
        cors_origins,
        cors_headers,
        csrf_prevention: parse(
            get,
            "TECHBALANCE_CSRF_PREVENTION",
            d.csrf_prevention,
            |_| true,
        )?,
        connections: connection_settings(get)?,
        max_response_bytes: parse(
            get,
            "TECHBALANCE_MAX_RESPONSE_BYTES",
            d.max_response_bytes,
            |n| *n >= 1024,
        )?,
        // The same limit as the schema's: see `schema_limits`.
        request_timeout: request_timeout(get)?,
        response_cache_bytes: parse(
            get,
            "TECHBALANCE_RESPONSE_CACHE_BYTES",
            d.response_cache_bytes,
            |n| *n == 0 || *n >= 64 * 1024,
        )?,
    })
}

/// Timeouts and the limit on open connections.
fn connection_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<ServerSettings, ConfigError> {
    let d = ServerSettings::default();
    let millis = |variable: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        let ms = parse(get, variable, default.as_millis() as u64, |n: &u64| {
            *n >= 10
        })?;
        Ok(Duration::from_millis(ms))
    };
    Ok(ServerSettings {
        header_timeout: millis("TECHBALANCE_HEADER_TIMEOUT_MS", d.header_timeout)?,
        idle_timeout: millis("TECHBALANCE_IDLE_TIMEOUT_MS", d.idle_timeout)?,
        max_connections: parse(get, "TECHBALANCE_MAX_CONNECTIONS", d.max_connections, |n| {
            (1..=1_000_000).contains(n)
        })?,
    })
}

/// `TECHBALANCE_REQUEST_TIMEOUT_MS`: 0 for none.
fn request_timeout(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Duration>, ConfigError> {
    let default_ms = SchemaLimits::default()
        .timeout
        .map_or(0, |t| t.as_millis() as u64);
    Ok(
        match parse(get, "TECHBALANCE_REQUEST_TIMEOUT_MS", default_ms, |_| true)? {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    )
}

/// What one operation may ask for.
fn schema_limits(get: &impl Fn(&str) -> Option<String>) -> Result<SchemaLimits, ConfigError> {
    let d = SchemaLimits::default();
    let at_least_one = |n: &usize| *n >= 1;
    Ok(SchemaLimits {
        depth: parse(get, "TECHBALANCE_MAX_DEPTH", d.depth, at_least_one)?,
        complexity: parse(
            get,
            "TECHBALANCE_MAX_COMPLEXITY",
            d.complexity,
            at_least_one,
        )?,
        recursion: parse(get, "TECHBALANCE_MAX_RECURSION", d.recursion, |n| {
            (1..=256).contains(n)
        })?,
        nodes: parse(get, "TECHBALANCE_MAX_NODES", d.nodes, |n| *n >= 1)?,
        aliases: parse(get, "TECHBALANCE_MAX_ALIASES", d.aliases, |_| true)?,
        directives: parse(get, "TECHBALANCE_MAX_DIRECTIVES", d.directives, |_| true)?,
        tokens: parse(get, "TECHBALANCE_MAX_TOKENS", d.tokens, at_least_one)?,
        timeout: request_timeout(get)?,
        introspection: parse(get, "TECHBALANCE_INTROSPECTION", d.introspection, |_| true)?,
        suggestions: parse(get, "TECHBALANCE_FIELD_SUGGESTIONS", d.suggestions, |_| {
            true
        })?,
        persisted_queries: parse(
            get,
            "TECHBALANCE_PERSISTED_QUERIES",
            d.persisted_queries,
            |n| *n <= 100_000,
        )?,
    })
}

/// WebSocket limits and timings.
fn ws_settings(get: &impl Fn(&str) -> Option<String>) -> Result<WsSettings, ConfigError> {
    let d = WsSettings::default();
    let millis = |variable: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        let ms = parse(get, variable, default.as_millis() as u64, |n: &u64| {
            *n >= 10
        })?;
        Ok(Duration::from_millis(ms))
    };
    Ok(WsSettings {
        init_timeout: millis("TECHBALANCE_WS_INIT_TIMEOUT_MS", d.init_timeout)?,
        keepalive: millis("TECHBALANCE_WS_KEEPALIVE_MS", d.keepalive)?,
        max_subscriptions_per_connection: parse(
            get,
            "TECHBALANCE_WS_MAX_SUBSCRIPTIONS",
            d.max_subscriptions_per_connection,
            |n| *n >= 1,
        )?,
        max_connections: parse(
            get,
            "TECHBALANCE_WS_MAX_CONNECTIONS",
            d.max_connections,
            |n| *n >= 1,
        )?,
        outbox: parse(get, "TECHBALANCE_WS_OUTBOX", d.outbox, |n| *n >= 1)?,
        write_timeout: millis("TECHBALANCE_WS_WRITE_TIMEOUT_MS", d.write_timeout)?,
        token_recheck: millis("TECHBALANCE_TOKEN_RECHECK_MS", d.token_recheck)?,
    })
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
        base_urls: registry::base_urls()
            .map(|(spec, base)| Ok((spec.id.to_owned(), url(base.variable, base.default)?)))
            .collect::<Result<_, ConfigError>>()?,
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
        max_withdrawal_share: parse(
            get,
            "TECHBALANCE_MAX_WITHDRAWAL_SHARE",
            DEFAULT_MAX_WITHDRAWAL_SHARE,
            |n: &f64| (0.0..=1.0).contains(n),
        )?,
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
            defaults.refresh.base_urls["worldbank"],
            "https://api.worldbank.org/v2"
        );
        assert_eq!(
            defaults.refresh.base_urls["oecd-msti"],
            "https://sdmx.oecd.org/public/rest"
        );
        let local =
            config(&[("TECHBALANCE_WORLDBANK_URL", "http://127.0.0.1:9/v2/")]).expect("local");
        assert_eq!(
            local.refresh.base_urls["worldbank"],
            "http://127.0.0.1:9/v2"
        );
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
