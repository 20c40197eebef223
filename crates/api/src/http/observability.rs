//! Observability: a request id per request, a tracing span around it, and Prometheus metrics.
//!
//! - Every request gets an id: the incoming `x-request-id` when it is sane (1–128 characters of
//!   `A-Z a-z 0-9 - _ . :`), else a fresh random one. It is returned in the `x-request-id`
//!   response header, recorded on the request's tracing span (so every log line of the request
//!   carries it), and added to GraphQL errors as `extensions.requestId`.
//! - The request's span (and a `graphql` span inside it) carry OpenTelemetry's names and
//!   attributes and join the caller's trace from a W3C `traceparent` header, so that they export
//!   well when the binary installs an OTLP exporter (see the root crate's `telemetry`).
//! - `GET /metrics` answers in the Prometheus text format (see [`metrics`]).
//! - [`count_connections`] wraps the listener so that open connections are counted.

mod connections;
mod metrics;

pub use connections::{count_connections, open_connections, CountedIo, CountedListener};
pub(super) use metrics::{metrics, GraphqlRequest};

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header that carries the request id, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// W3C trace context: the caller's trace and span.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Longest incoming request id accepted; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;
/// What a client is told to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "5";

/// The id of the request being served (in request extensions and in GraphQL request data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The middleware around every route: request id, tracing span, request metrics, access log.
pub(super) async fn track(mut request: Request, next: Next) -> Response {
    let id = sane_id(request.headers()).map_or_else(new_request_id, str::to_owned);
    let id_header = HeaderValue::from_str(&id).ok();
    if let Some(value) = &id_header {
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER, value.clone());
    }
    request.extensions_mut().insert(RequestId(id.clone()));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    if request.headers().contains_key(TRACEPARENT) {
        // Joins the caller's trace; without span export this changes nothing.
        let _ = span.set_parent(remote_context(request.headers()));
    }
    let observed = metrics::HttpRequest::start(&route, request.method());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    observed.finish(status, elapsed);
    if let Some(value) = id_header {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
            tracing::debug!(status = status.as_u16(), latency_ms, "served");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "served");
        }
    });
    response
}

/// The caller's trace, from its W3C `traceparent`/`tracestate` headers.
fn remote_context(headers: &HeaderMap) -> opentelemetry::Context {
    struct Headers<'a>(&'a HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|value| value.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(HeaderName::as_str).collect()
        }
    }
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    })
}

/// The request's `x-request-id` when it is sane.
fn sane_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_id(v))
}

fn is_sane_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// 32 hexadecimal digits: a random prefix drawn once per process (the time if the system has no
/// randomness), then a counter passed through a random permutation (multiplied by an odd number,
/// then XORed), so that ids stay unique within the process without telling how many requests it
/// has served. Unique across processes but for a one-in-2^64 chance; no system call per request
/// (drawing 16 random bytes per request cost a few percent of a cached answer's time).
fn new_request_id() -> String {
    static KEYS: OnceLock<[u64; 3]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let [prefix, factor, mask] = *KEYS.get_or_init(|| {
        let mut bytes = [0u8; 24];
        if getrandom::getrandom(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let seed = (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32);
            return [seed, seed.rotate_left(21), seed.rotate_left(43)];
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        [word(0), word(1), word(2)]
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // An odd factor makes the multiplication a bijection modulo 2^64.
    let scrambled = n.wrapping_mul(factor | 1) ^ mask;
    format!("{prefix:016x}{scrambled:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_kept() {
        assert!(is_sane_id("abc-123_X.y:z"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("has space"));
        assert!(!is_sane_id("line\nbreak"));
        assert!(!is_sane_id(&"a".repeat(MAX_REQUEST_ID + 1)));
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(is_sane_id(&id));
        assert_ne!(id, new_request_id());
    }
}
