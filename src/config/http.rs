//! The HTTP transport: bodies and answers, batches, rate limiting, CORS and CSRF, connections,
//! and WebSockets. Every default is the API crate's ([`HttpSettings::default`] and the settings
//! it holds); this module only names the variables and their bounds.
//!
//! `TECHBALANCE_MAX_BODY_BYTES`, `TECHBALANCE_MAX_RESPONSE_BYTES`, `TECHBALANCE_RESPONSE_CACHE_BYTES`, `TECHBALANCE_MAX_BATCH`,
//! `TECHBALANCE_RATE_LIMIT_*`, `TECHBALANCE_TRUST_FORWARDED_FOR`, `TECHBALANCE_CORS_*`,
//! `TECHBALANCE_CSRF_PREVENTION`, `TECHBALANCE_HEADER_TIMEOUT_MS`, `TECHBALANCE_IDLE_TIMEOUT_MS`,
//! `TECHBALANCE_MAX_CONNECTIONS`, `TECHBALANCE_WS_*`, `TECHBALANCE_TOKEN_RECHECK_MS`.

use clap::builder::RangedU64ValueParser;
use clap::ArgAction;
use std::time::Duration;
use techbalance_api::{
    CorsHeaders, CorsOrigins, HttpSettings, RateLimitSettings, ServerSettings, WsSettings,
};

fn http() -> HttpSettings {
    HttpSettings::default()
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn at_least(min: u64) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(min..)
}

/// 0 (off) or at least 64 KiB.
fn cache_bytes(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n == 0 || n >= 64 * 1024 => Ok(n),
        Ok(_) => Err("must be 0 (off) or at least 65536".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// Largest request body in bytes, enforced while it streams in (at least 1024)
    #[arg(long = "max-body-bytes", env = "TECHBALANCE_MAX_BODY_BYTES",
          default_value_t = http().max_body_bytes, value_parser = at_least(1024))]
    max_body_bytes: usize,
    /// Largest GraphQL answer sent over HTTP, in bytes of JSON (at least 1024)
    #[arg(long = "max-response-bytes", env = "TECHBALANCE_MAX_RESPONSE_BYTES",
          default_value_t = http().max_response_bytes, value_parser = at_least(1024))]
    max_response_bytes: usize,
    /// Bound of the response cache of GraphQL queries over HTTP, in bytes (0 turns it off, else
    /// at least 65536)
    #[arg(long = "response-cache-bytes", env = "TECHBALANCE_RESPONSE_CACHE_BYTES",
          default_value_t = http().response_cache_bytes, value_parser = cache_bytes)]
    response_cache_bytes: usize,
    /// Most operations in a batch (0–1000); 0 refuses batches
    #[arg(long = "max-batch", env = "TECHBALANCE_MAX_BATCH", default_value_t = http().max_batch,
          value_parser = RangedU64ValueParser::<usize>::new().range(..=1000))]
    max_batch: usize,
    /// Requests per second each anonymous client may sustain at /graphql; 0 turns limiting off
    #[arg(long = "rate-limit-per-second", env = "TECHBALANCE_RATE_LIMIT_PER_SECOND",
          default_value_t = http().rate_limit.per_second, value_parser = per_second)]
    rate_per_second: f64,
    /// Requests a client may make at once after being idle (at least 1)
    #[arg(long = "rate-limit-burst", env = "TECHBALANCE_RATE_LIMIT_BURST",
          default_value_t = http().rate_limit.burst,
          value_parser = clap::value_parser!(u32).range(1..))]
    rate_burst: u32,
    /// Behind a reverse proxy: take the client address from the last X-Forwarded-For entry
    #[arg(long = "trust-forwarded-for", env = "TECHBALANCE_TRUST_FORWARDED_FOR",
          default_value_t = http().rate_limit.trust_forwarded_for, action = ArgAction::Set)]
    trust_forwarded_for: bool,
    /// Comma-separated origins whose pages may call the API from a browser, or `*`
    #[arg(long = "cors-origins", env = "TECHBALANCE_CORS_ORIGINS", value_parser = CorsOrigins::parse)]
    cors_origins: Option<CorsOrigins>,
    /// Request headers those pages may send besides the standard set, comma-separated, or `*`
    #[arg(long = "cors-headers", env = "TECHBALANCE_CORS_HEADERS", value_parser = CorsHeaders::parse)]
    cors_headers: Option<CorsHeaders>,
    /// Refuse a GET a browser marks as sent by another site, unless its origin is allowed or it
    /// carries a CSRF header
    #[arg(long = "csrf-prevention", env = "TECHBALANCE_CSRF_PREVENTION",
          default_value_t = http().csrf_prevention, action = ArgAction::Set)]
    csrf_prevention: bool,
    /// Milliseconds a connection has to send a request's headers; also the keep-alive idle
    /// timeout (at least 10)
    #[arg(long = "header-timeout-ms", env = "TECHBALANCE_HEADER_TIMEOUT_MS",
          default_value_t = ms(http().connections.header_timeout),
          value_parser = clap::value_parser!(u64).range(10..))]
    header_timeout_ms: u64,
    /// Milliseconds without a byte moving either way before a connection is closed (at least 10)
    #[arg(long = "idle-timeout-ms", env = "TECHBALANCE_IDLE_TIMEOUT_MS",
          default_value_t = ms(http().connections.idle_timeout),
          value_parser = clap::value_parser!(u64).range(10..))]
    idle_timeout_ms: u64,
    /// HTTP connections served at once (1–1,000,000)
    #[arg(long = "max-connections", env = "TECHBALANCE_MAX_CONNECTIONS",
          default_value_t = http().connections.max_connections,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    max_connections: usize,
    #[command(flatten)]
    ws: WsVariables,
}

/// WebSocket limits and timings.
#[derive(clap::Args, Debug)]
#[group(skip)]
struct WsVariables {
    /// Milliseconds a client has to send `connection_init` (then close 4408; at least 10)
    #[arg(long = "ws-init-timeout-ms", env = "TECHBALANCE_WS_INIT_TIMEOUT_MS",
          default_value_t = ms(http().ws.init_timeout),
          value_parser = clap::value_parser!(u64).range(10..))]
    init_timeout_ms: u64,
    /// Milliseconds between server pings (at least 10)
    #[arg(long = "ws-keepalive-ms", env = "TECHBALANCE_WS_KEEPALIVE_MS",
          default_value_t = ms(http().ws.keepalive),
          value_parser = clap::value_parser!(u64).range(10..))]
    keepalive_ms: u64,
    /// Subscriptions per connection (then close 1008)
    #[arg(long = "ws-max-subscriptions", env = "TECHBALANCE_WS_MAX_SUBSCRIPTIONS",
          default_value_t = http().ws.max_subscriptions_per_connection, value_parser = at_least(1))]
    max_subscriptions: usize,
    /// WebSocket connections per process (then close 1013)
    #[arg(long = "ws-max-connections", env = "TECHBALANCE_WS_MAX_CONNECTIONS",
          default_value_t = http().ws.max_connections, value_parser = at_least(1))]
    ws_max_connections: usize,
    /// Replies waiting per connection before the client counts as too slow
    #[arg(long = "ws-outbox", env = "TECHBALANCE_WS_OUTBOX", default_value_t = http().ws.outbox,
          value_parser = at_least(1))]
    outbox: usize,
    /// Longest write to a client, in milliseconds, before it counts as too slow (close 4000)
    #[arg(long = "ws-write-timeout-ms", env = "TECHBALANCE_WS_WRITE_TIMEOUT_MS",
          default_value_t = ms(http().ws.write_timeout),
          value_parser = clap::value_parser!(u64).range(10..))]
    write_timeout_ms: u64,
    /// Milliseconds between an open WebSocket's or event stream's checks that its token is still
    /// valid (at least 10)
    #[arg(long = "token-recheck-ms", env = "TECHBALANCE_TOKEN_RECHECK_MS",
          default_value_t = ms(http().ws.token_recheck),
          value_parser = clap::value_parser!(u64).range(10..))]
    token_recheck_ms: u64,
}

fn per_second(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err("not a number of requests per second (0 or more)".to_owned()),
    }
}

impl Variables {
    /// The settings, with `request_timeout` (shared with the schema's limits).
    pub fn settings(self, request_timeout: Option<Duration>) -> HttpSettings {
        let d = http();
        let ws = self.ws;
        HttpSettings {
            max_body_bytes: self.max_body_bytes,
            ws: WsSettings {
                init_timeout: Duration::from_millis(ws.init_timeout_ms),
                keepalive: Duration::from_millis(ws.keepalive_ms),
                max_subscriptions_per_connection: ws.max_subscriptions,
                max_connections: ws.ws_max_connections,
                outbox: ws.outbox,
                write_timeout: Duration::from_millis(ws.write_timeout_ms),
                token_recheck: Duration::from_millis(ws.token_recheck_ms),
            },
            max_batch: self.max_batch,
            rate_limit: RateLimitSettings {
                per_second: self.rate_per_second,
                burst: self.rate_burst,
                trust_forwarded_for: self.trust_forwarded_for,
            },
            cors_origins: self.cors_origins.unwrap_or(d.cors_origins),
            cors_headers: self.cors_headers.unwrap_or(d.cors_headers),
            csrf_prevention: self.csrf_prevention,
            connections: ServerSettings {
                header_timeout: Duration::from_millis(self.header_timeout_ms),
                idle_timeout: Duration::from_millis(self.idle_timeout_ms),
                max_connections: self.max_connections,
            },
            max_response_bytes: self.max_response_bytes,
            request_timeout,
            response_cache_bytes: self.response_cache_bytes,
        }
    }
}
