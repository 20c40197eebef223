//! Metrics in the Prometheus text format (version 0.0.4), written by hand: a few counters,
//! gauges and histograms kept in this process, plus what is read at scrape time (the database
//! pool, refresh runs by source and status, each source's last success, WebSockets and
//! subscriptions from the router's [`Live`](crate::http::Live)).
//!
//! Label values are bounded: routes are the router's, methods a fixed list, GraphQL operation
//! names the first [`MAX_OPERATIONS`] seen (then `other`), outcomes `ok` or an [`ErrorCode`].

use crate::error::ErrorCode;
use crate::http::AppState;
use crate::schema::OperationKind;
use async_graphql::parser::types::OperationType;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use techbalance_store::entities::StoredValue;
use techbalance_store::runs::{RunFilter, RunStatus};
use techbalance_store::{DatabaseConnection, Store, StoreError};

/// Distinct GraphQL operation names given a label of their own; later ones count as `other`.
const MAX_OPERATIONS: usize = 100;
/// Latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// This process's metrics.
pub(super) static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

#[derive(Default)]
pub(super) struct Metrics {
    pub(super) open_connections: AtomicI64,
    pub(super) connections_accepted: AtomicU64,
    in_flight: AtomicI64,
    /// (route, method, status) → requests.
    http_requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    /// route → latency.
    http_latency: Mutex<BTreeMap<String, Histogram>>,
    /// (operation, type, outcome) → operations.
    graphql_requests: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// operation → latency.
    graphql_latency: Mutex<BTreeMap<String, Histogram>>,
    /// Operation names with a label of their own.
    operations: Mutex<BTreeSet<String>>,
}

/// +1 on a gauge while held.
pub(super) struct Gauge(&'static AtomicI64);

impl Gauge {
    pub(super) fn enter(gauge: &'static AtomicI64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An HTTP request being served: in flight until finished (or dropped).
pub(super) struct HttpRequest {
    route: String,
    method: &'static str,
    _in_flight: Gauge,
}

impl HttpRequest {
    pub(super) fn start(route: &str, method: &Method) -> Self {
        Self {
            route: route.to_owned(),
            method: method_label(method),
            _in_flight: Gauge::enter(&METRICS.in_flight),
        }
    }

    pub(super) fn finish(self, status: StatusCode, took: Duration) {
        *lock(&METRICS.http_requests)
            .entry((self.route.clone(), self.method, status.as_u16()))
            .or_default() += 1;
        lock(&METRICS.http_latency)
            .entry(self.route)
            .or_default()
            .observe(took.as_secs_f64());
    }
}

/// A GraphQL operation being executed, counted once: at its first answer (`ok` or the first
/// error's code), when it ends without one (`ok`), or when it is dropped before one: `ok` for a
/// subscription its client stopped before any change came, `cancelled` for a query or a mutation
/// (the client left, or the request's deadline passed).
pub(in crate::http) struct GraphqlRequest {
    operation: String,
    kind: OperationKind,
    started: Instant,
    counted: bool,
}

impl GraphqlRequest {
    /// Starts observing `request`; `kind` is the slot the schema's guard fills in.
    pub(in crate::http) fn start(request: &async_graphql::Request, kind: OperationKind) -> Self {
        Self {
            operation: operation_label(request),
            kind,
            started: Instant::now(),
            counted: false,
        }
    }

    /// The operation's label: its name, `anonymous` or `other`.
    pub(in crate::http) fn operation(&self) -> &str {
        &self.operation
    }

    /// The slot the guard fills in with the operation's type.
    pub(in crate::http) fn operation_kind(&self) -> OperationKind {
        self.kind.clone()
    }

    /// The operation's type, once the guard has selected it: `query`, `mutation`,
    /// `subscription`, or `unknown` for a request refused before.
    pub(in crate::http) fn kind(&self) -> &'static str {
        match self.kind.get() {
            Some(OperationType::Query) => "query",
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            None => "unknown",
        }
    }

    /// Counts the operation with the outcome of `response`, unless it was counted already.
    pub(in crate::http) fn answered(&mut self, response: &async_graphql::Response) {
        self.count(outcome(response));
    }

    /// Counts an operation whose stream ended without an answer.
    pub(in crate::http) fn ended(&mut self) {
        self.count("ok");
    }

    fn count(&mut self, outcome: &'static str) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        let kind = self.kind();
        // A subscription's first answer waits for a change: not a latency.
        if kind != "subscription" {
            lock(&METRICS.graphql_latency)
                .entry(self.operation.clone())
                .or_default()
                .observe(self.started.elapsed().as_secs_f64());
        }
        *lock(&METRICS.graphql_requests)
            .entry((self.operation.clone(), kind, outcome))
            .or_default() += 1;
    }
}

impl Drop for GraphqlRequest {
    fn drop(&mut self) {
        let outcome = if self.kind() == "subscription" {
            "ok"
        } else {
            "cancelled"
        };
        self.count(outcome);
    }
}

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative), the last one for `+Inf`.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let bucket = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `GET /metrics`.
pub(in crate::http) async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = String::new();
    render_process(&mut text);
    gauge(
        &mut text,
        "techbalance_ws_open_connections",
        "WebSocket connections open now.",
        state.live.open_connections(),
    );
    gauge(
        &mut text,
        "techbalance_graphql_open_subscriptions",
        "GraphQL subscriptions open now (WebSocket and Server-Sent Events).",
        state.live.open_subscriptions(),
    );
    gauge(
        &mut text,
        "techbalance_graphql_shared_executions",
        "Subscription executions running now, each shared by the subscribers of one operation and variables.",
        state.live.shared_executions(),
    );
    render_cache(&mut text, state.cache.stats());
    render_pool(&mut text, state.store.connection());
    render_database(&mut text, &state.store).await;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The response cache's size and counters (all 0 when it is off).
fn render_cache(out: &mut String, stats: crate::response_cache::CacheStats) {
    gauge(
        out,
        "techbalance_response_cache_bytes",
        "Bytes held by the response cache (answers plus a fixed overhead per entry).",
        stats.bytes,
    );
    gauge(
        out,
        "techbalance_response_cache_max_bytes",
        "The response cache's bound, in bytes (0: off).",
        stats.max_bytes,
    );
    gauge(
        out,
        "techbalance_response_cache_entries",
        "Answers held by the response cache.",
        stats.entries,
    );
    for (name, help, value) in [
        (
            "techbalance_response_cache_hits_total",
            "Requests answered from the response cache.",
            stats.hits,
        ),
        (
            "techbalance_response_cache_misses_total",
            "Cacheable requests not found in the response cache (executed, or waiting for an identical one).",
            stats.misses,
        ),
        (
            "techbalance_response_cache_coalesced_total",
            "Requests that waited for an identical request's execution instead of executing.",
            stats.coalesced,
        ),
    ] {
        family(out, name, "counter", help);
        sample(out, name, &[], value);
    }
}

fn render_process(out: &mut String) {
    let m = &*METRICS;
    gauge(
        out,
        "techbalance_http_open_connections",
        "HTTP connections open now.",
        m.open_connections.load(Ordering::Relaxed),
    );
    family(
        out,
        "techbalance_http_connections_accepted_total",
        "counter",
        "HTTP connections accepted since start-up.",
    );
    sample(
        out,
        "techbalance_http_connections_accepted_total",
        &[],
        m.connections_accepted.load(Ordering::Relaxed),
    );
    gauge(
        out,
        "techbalance_http_requests_in_flight",
        "HTTP requests being served now.",
        m.in_flight.load(Ordering::Relaxed),
    );

    let name = "techbalance_http_requests_total";
    family(
        out,
        name,
        "counter",
        "HTTP requests served, by route, method and status.",
    );
    for ((route, method, status), n) in lock(&m.http_requests).iter() {
        let status = status.to_string();
        let labels = [
            ("route", route.as_str()),
            ("method", method),
            ("status", &status),
        ];
        sample(out, name, &labels, n);
    }
    let name = "techbalance_http_request_duration_seconds";
    family(out, name, "histogram", "HTTP request latency, by route.");
    for (route, histogram) in lock(&m.http_latency).iter() {
        render_histogram(out, name, ("route", route), histogram);
    }

    let name = "techbalance_graphql_requests_total";
    family(
        out,
        name,
        "counter",
        "GraphQL operations executed on every transport, by operation name, type and outcome (ok, cancelled, or the first error's code).",
    );
    for ((operation, kind, outcome), n) in lock(&m.graphql_requests).iter() {
        sample(
            out,
            name,
            &[
                ("operation", operation),
                ("type", kind),
                ("outcome", outcome),
            ],
            n,
        );
    }
    let name = "techbalance_graphql_request_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "GraphQL execution latency (to the first answer; not for subscriptions), by operation name.",
    );
    for (operation, histogram) in lock(&m.graphql_latency).iter() {
        render_histogram(out, name, ("operation", operation), histogram);
    }
}

/// The pool's size and idle connections (no database round trip).
fn render_pool(out: &mut String, connection: &DatabaseConnection) {
    let (size, idle, max) = match connection {
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let pool = connection.get_postgres_connection_pool();
            let max = pool.options().get_max_connections();
            (pool.size(), pool.num_idle(), max)
        }
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let pool = connection.get_sqlite_connection_pool();
            let max = pool.options().get_max_connections();
            (pool.size(), pool.num_idle(), max)
        }
        _ => return,
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
    let name = "techbalance_db_pool_connections";
    family(
        out,
        name,
        "gauge",
        "Database connections in the pool, by state.",
    );
    sample(out, name, &[("state", "idle")], idle);
    sample(out, name, &[("state", "in_use")], size - idle);
    gauge(
        out,
        "techbalance_db_pool_max_connections",
        "Most connections the pool opens.",
        max,
    );
}

/// Refresh runs by source and status, and each source's last success, read now. When the
/// database does not answer, only `techbalance_database_up 0` is reported of it.
async fn render_database(out: &mut String, store: &Store) {
    let section = match database_section(store).await {
        Ok(section) => Some(section),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database did not answer");
            None
        }
    };
    gauge(
        out,
        "techbalance_database_up",
        "Whether the database answered this scrape's queries.",
        u8::from(section.is_some()),
    );
    out.push_str(&section.unwrap_or_default());
}

async fn database_section(store: &Store) -> Result<String, StoreError> {
    let mut out = String::new();
    let sources = store.sources().await?;
    let name = "techbalance_refresh_runs";
    family(
        &mut out,
        name,
        "gauge",
        "Refresh runs recorded, by source and status.",
    );
    for source in &sources {
        for status in RunStatus::all() {
            let filter = RunFilter {
                source: Some(source.id.clone()),
                status: Some(status),
            };
            let n = store.count_runs(&filter).await?;
            sample(
                &mut out,
                name,
                &[("source", &source.id), ("status", &status.stored())],
                n,
            );
        }
    }
    let successes = store.last_successes().await?;
    let now = techbalance_store::now();
    let name = "techbalance_refresh_last_success_age_seconds";
    family(
        &mut out,
        name,
        "gauge",
        "Seconds since each source's last successful refresh.",
    );
    for success in &successes {
        let age = (now - success.finished_at).num_milliseconds().max(0) as f64 / 1000.0;
        sample(&mut out, name, &[("source", &success.source)], age);
    }
    let name = "techbalance_refresh_last_success_timestamp_seconds";
    family(
        &mut out,
        name,
        "gauge",
        "When each source last refreshed successfully (Unix time).",
    );
    for success in &successes {
        let at = success.finished_at.timestamp_millis() as f64 / 1000.0;
        sample(&mut out, name, &[("source", &success.source)], at);
    }
    Ok(out)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl Display) {
    family(out, name, "gauge", help);
    sample(out, name, &[], value);
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn render_histogram(out: &mut String, name: &str, label: (&str, &str), histogram: &Histogram) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    for (i, count) in histogram.counts.iter().enumerate() {
        cumulative += count;
        let le = BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), f64::to_string);
        sample(out, &bucket, &[label, ("le", &le)], cumulative);
    }
    sample(out, &format!("{name}_sum"), &[label], histogram.sum);
    sample(out, &format!("{name}_count"), &[label], cumulative);
}

/// A label value, escaped as the text format wants.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// `ok`, or the first error's `extensions.code` ([`ErrorCode`]); `GRAPHQL_ERROR` for an error
/// without one of ours (none is expected: every error the API raises carries its code).
fn outcome(response: &async_graphql::Response) -> &'static str {
    match response.errors.first() {
        None => "ok",
        Some(error) => ErrorCode::of(error).map_or("GRAPHQL_ERROR", ErrorCode::as_str),
    }
}

/// The operation's name (the request's `operationName`, else the first operation's name in the
/// document), `anonymous`, or `other` once [`MAX_OPERATIONS`] names have a label.
fn operation_label(request: &async_graphql::Request) -> String {
    let name = match request.operation_name.as_deref() {
        Some(name) => Some(name).filter(|n| is_graphql_name(n)),
        None => first_operation_name(&request.query),
    };
    let Some(name) = name else {
        return "anonymous".to_owned();
    };
    let mut seen = lock(&METRICS.operations);
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() < MAX_OPERATIONS && name.len() <= 64 {
        seen.insert(name.to_owned());
        return name.to_owned();
    }
    "other".to_owned()
}

fn is_graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The name of the document's first operation when it opens with `query|mutation|subscription
/// Name`; `None` for an anonymous operation or a document that does not start with one.
fn first_operation_name(query: &str) -> Option<&str> {
    fn skip_ignored(mut text: &str) -> &str {
        loop {
            text =
                text.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
            match text.strip_prefix('#') {
                Some(comment) => text = comment.find('\n').map_or("", |i| &comment[i..]),
                None => return text,
            }
        }
    }
    fn word(text: &str) -> (&str, &str) {
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        text.split_at(end)
    }
    let (keyword, rest) = word(skip_ignored(query));
    if !matches!(keyword, "query" | "mutation" | "subscription") {
        return None;
    }
    let (name, _) = word(skip_ignored(rest));
    Some(name).filter(|n| is_graphql_name(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_read_from_the_document() {
        assert_eq!(first_operation_name("query Top { a }"), Some("Top"));
        assert_eq!(
            first_operation_name("# a comment\n  mutation\tDo($x: Int) { a }"),
            Some("Do")
        );
        assert_eq!(first_operation_name("query($x: Int) { a }"), None);
        assert_eq!(first_operation_name("{ a }"), None);
        assert_eq!(first_operation_name(""), None);
        assert_eq!(
            first_operation_name("fragment F on T { a } query Q { a }"),
            None
        );
        assert_eq!(first_operation_name("é query Q { a }"), None);
        assert_eq!(first_operation_name("query é { a }"), None);
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_inf() {
        let mut histogram = Histogram::default();
        histogram.observe(0.003);
        histogram.observe(0.2);
        histogram.observe(99.0);
        let mut out = String::new();
        render_histogram(&mut out, "x_seconds", ("route", "/a"), &histogram);
        for line in [
            "x_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n",
            "x_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n",
            "x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n",
            "x_seconds_count{route=\"/a\"} 3\n",
        ] {
            assert!(out.contains(line), "{line} missing from {out}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("l", "a\"b\\c\nd")], 1);
        assert_eq!(out, "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
