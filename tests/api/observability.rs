//! Observability: `/metrics` in the Prometheus text format, moving with requests and refreshes;
//! a request id on every response and in GraphQL errors; JSON logs.

use crate::both_backends;
use crate::shutdown::ServerProcess;
use crate::subscriptions::{
    acked, connect_to, receive, revise, send, wait_for_listening, wait_for_subscriptions,
};
use crate::support::{code, Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use techbalance_worker::sources::baseline::BaselineSource;

both_backends!(
    metrics_are_prometheus_text_and_move_with_requests_and_refreshes,
    a_request_id_is_returned_and_added_to_graphql_errors,
    operations_over_websockets_and_event_streams_are_counted_by_type_and_code,
);

/// One sample of an exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed `/metrics` answer: its samples and each family's declared type.
#[derive(Debug)]
struct Exposition {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
}

impl Exposition {
    /// Parses the Prometheus text format (0.0.4) strictly: every sample belongs to a family
    /// whose TYPE came first, families are contiguous, histograms are cumulative and complete.
    fn parse(text: &str) -> Result<Self, String> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let at = |problem: &str| format!("line {}: {problem}: {line:?}", n + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
                match words.as_slice() {
                    ["TYPE", name, kind] => {
                        if !is_metric_name(name) {
                            return Err(at("bad metric name"));
                        }
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(kind) {
                            return Err(at("unknown type"));
                        }
                        if types.insert(name.to_string(), kind.to_string()).is_some() {
                            return Err(at("second TYPE for a family"));
                        }
                        if let Some(previous) = current.replace(name.to_string()) {
                            finished.insert(previous);
                        }
                    }
                    ["HELP", name, ..] if is_metric_name(name) => {}
                    ["HELP", ..] => return Err(at("bad HELP")),
                    _ => {}
                }
                continue;
            }
            let sample = parse_sample(line).map_err(|e| at(&e))?;
            let family = family_of(&sample.name, &types).ok_or_else(|| at("no TYPE before it"))?;
            if finished.contains(&family) || current.as_deref() != Some(family.as_str()) {
                return Err(at("family not contiguous"));
            }
            samples.push(sample);
        }
        let exposition = Self { samples, types };
        exposition.check_histograms()?;
        Ok(exposition)
    }

    fn check_histograms(&self) -> Result<(), String> {
        for (family, _) in self.types.iter().filter(|(_, kind)| *kind == "histogram") {
            let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for sample in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket"))
            {
                let le = sample.labels.get("le").ok_or("a bucket without le")?;
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().map_err(|_| format!("bad le {le}"))?
                };
                let key = without_le(&sample.labels);
                series.entry(key).or_default().push((le, sample.value));
            }
            for (labels, buckets) in series {
                if !buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
                {
                    return Err(format!("{family} {labels:?}: buckets not cumulative"));
                }
                let inf = buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
                let count = self
                    .samples
                    .iter()
                    .find(|s| {
                        s.name == format!("{family}_count") && without_le(&s.labels) == labels
                    })
                    .map(|s| s.value);
                if inf.is_none() || inf != count {
                    return Err(format!(
                        "{family} {labels:?}: +Inf bucket {inf:?} ≠ count {count:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The value of the sample with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }
}

/// A sample's labels, `le` left out: what identifies one histogram series.
type Labels = Vec<(String, String)>;

fn without_le(labels: &BTreeMap<String, String>) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| *k != "le")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn family_of(name: &str, types: &HashMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then(|| base.to_owned())
    })
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unclosed labels")?;
            if inner[start..].starts_with('}') {
                rest = &inner[start + 1..];
                break;
            }
            let eq = inner[start..].find("=\"").ok_or("label without =\"")? + start;
            let key = &inner[start..eq];
            if !is_metric_name(key) || key.contains(':') {
                return Err(format!("bad label name {key:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")? {
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, '"') => break,
                    (_, '\n') => return Err("newline in a label value".into()),
                    (_, c) => value.push(c),
                }
            }
            labels.insert(key.to_owned(), value);
            if chars.peek().is_some_and(|(_, c)| *c == ',') {
                chars.next();
            }
        }
    }
    let mut parts = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = match parts.next().ok_or("no value")? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(timestamp) = parts.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("bad timestamp {timestamp:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

async fn scrape(app: &TestApp) -> Exposition {
    let response = app
        .client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("text");
    Exposition::parse(&text).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"))
}

async fn metrics_are_prometheus_text_and_move_with_requests_and_refreshes(backend: Backend) {
    // A first start's own seeding: the age of the last baseline run is that of this start.
    // Every request is executed (a response cache hit is no execution).
    let app = TestApp::builder(backend)
        .with_empty_database()
        .with_vars(&[("TECHBALANCE_RESPONSE_CACHE_BYTES", "0")])
        .start()
        .await;
    // Operation names of this test only: the counters are the process's, shared by every test.
    let probe = format!("MetricsProbe{backend:?}");
    let missing = format!("MetricsMissing{backend:?}");
    let before = scrape(&app).await;
    assert_eq!(before.value("techbalance_database_up", &[]), Some(1.0));
    for (kind, family) in [
        ("counter", "techbalance_graphql_requests_total"),
        ("histogram", "techbalance_graphql_request_duration_seconds"),
        ("counter", "techbalance_http_requests_total"),
        ("histogram", "techbalance_http_request_duration_seconds"),
        ("gauge", "techbalance_http_open_connections"),
        ("gauge", "techbalance_http_requests_in_flight"),
        ("gauge", "techbalance_graphql_open_subscriptions"),
        ("gauge", "techbalance_graphql_shared_executions"),
        ("gauge", "techbalance_refresh_runs"),
        ("gauge", "techbalance_refresh_last_success_age_seconds"),
        ("gauge", "techbalance_db_pool_connections"),
    ] {
        assert_eq!(
            before.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    let succeeded = [("source", "baseline"), ("status", "succeeded")];
    let runs_before = before
        .value("techbalance_refresh_runs", &succeeded)
        .expect("baseline runs");
    assert!(runs_before >= 1.0, "seeding ran the baseline once");
    let age = before
        .value(
            "techbalance_refresh_last_success_age_seconds",
            &[("source", "baseline")],
        )
        .expect("baseline age");
    assert!((0.0..120.0).contains(&age), "seeded moments ago: {age}");
    assert!(
        before
            .value("techbalance_http_open_connections", &[])
            .is_some_and(|n| n >= 1.0),
        "this scrape's own connection is open"
    );
    assert!(before
        .value("techbalance_db_pool_connections", &[("state", "idle")])
        .is_some());
    let posts_before = before
        .value(
            "techbalance_http_requests_total",
            &[("route", "/graphql"), ("method", "POST"), ("status", "200")],
        )
        .unwrap_or(0.0);

    for _ in 0..2 {
        app.data(&format!("query {probe} {{ countries {{ code }} }}"))
            .await;
    }
    let error = app
        .error(&format!(
            "query {missing} {{ metric(slug: \"nope\") {{ name }} }}"
        ))
        .await;
    assert_eq!(code(&error), "NOT_FOUND");
    let source = BaselineSource::new(app.config.baseline.clone());
    techbalance::refresh(&app.store, &app.config, &source, &|_| {})
        .await
        .expect("refresh");

    let after = scrape(&app).await;
    let graphql = "techbalance_graphql_requests_total";
    assert_eq!(
        after.value(
            graphql,
            &[("operation", &probe), ("type", "query"), ("outcome", "ok")]
        ),
        Some(2.0)
    );
    assert_eq!(
        after.value(
            graphql,
            &[
                ("operation", &missing),
                ("type", "query"),
                ("outcome", "NOT_FOUND")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        after.value(
            "techbalance_graphql_request_duration_seconds_count",
            &[("operation", &probe)]
        ),
        Some(2.0)
    );
    let posts_after = after
        .value(
            "techbalance_http_requests_total",
            &[("route", "/graphql"), ("method", "POST"), ("status", "200")],
        )
        .expect("POST /graphql counted");
    assert!(
        posts_after >= posts_before + 3.0,
        "{posts_before} → {posts_after}"
    );
    assert_eq!(
        after.value("techbalance_refresh_runs", &succeeded),
        Some(runs_before + 1.0),
        "the refresh is counted"
    );
}

async fn a_request_id_is_returned_and_added_to_graphql_errors(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let post = |id: Option<&str>| {
        let mut request = app
            .client()
            .post(app.url("/graphql"))
            .json(&json!({ "query": r#"{ metric(slug: "nope") { name } }"# }));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };

    let response = post(Some("client-chosen.id:42")).await.expect("request");
    assert_eq!(response.headers()["x-request-id"], "client-chosen.id:42");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"], "client-chosen.id:42",
        "{body}"
    );
    assert_eq!(code(&body["errors"][0]), "NOT_FOUND");

    let long = "x".repeat(200);
    for insane in [
        Some("has spaces"),
        Some("semi;colon"),
        Some(long.as_str()),
        None,
    ] {
        let response = post(insane).await.expect("request");
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(id.len(), 32, "a generated id replaces {insane:?}: {id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
    }

    let health = app
        .client()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(health.headers().contains_key("x-request-id"));
    let first = health.headers()["x-request-id"].clone();
    let again = app
        .client()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_ne!(again.headers()["x-request-id"], first, "one id per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_json_object_per_line_carrying_the_request_id() {
    let db = TestDb::seeded(Backend::Sqlite).await;
    let mut server =
        ServerProcess::start(&db, "json-logs", &[("TECHBALANCE_LOG_FORMAT", "json")]).await;
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .header("x-request-id", "json-log-probe")
        .json(&json!({ "query": "{ countries { code } }" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    server.signal("TERM");
    let status = server.exit_within(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));

    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(
        lines.len() >= 3,
        "start-up, request and shutdown are logged:\n{log}"
    );
    for line in &lines {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "served"
            && l["span"]["request_id"] == "json-log-probe"
            && l["fields"]["status"] == 200),
        "the request's log line carries its id:\n{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"].as_str() == Some("shutting down")),
        "{log}"
    );
}

/// The events of a GraphQL-over-SSE answer that ends (`(event, data)` pairs).
async fn sse(app: &TestApp, query: &str) -> Vec<(String, Value)> {
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("SSE request");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("the stream ends");
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let field = |name: &str| {
            block
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
        };
        if let Some(event) = field("event:") {
            let data = field("data:").unwrap_or_default();
            let data = serde_json::from_str(data).unwrap_or(Value::Null);
            events.push((event.to_owned(), data));
        }
    }
    events
}

/// `techbalance_graphql_requests_total` of one operation, type and outcome.
fn operations(exposition: &Exposition, operation: &str, kind: &str, outcome: &str) -> Option<f64> {
    exposition.value(
        "techbalance_graphql_requests_total",
        &[
            ("operation", operation),
            ("type", kind),
            ("outcome", outcome),
        ],
    )
}

async fn operations_over_websockets_and_event_streams_are_counted_by_type_and_code(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    // Operation names of this test only: the counters are the process's, shared by every test.
    let name = |what: &str| format!("{what}{backend:?}");

    // graphql-transport-ws: a query, a mutation refused for want of a token, a subscription that
    // does not validate, and one that delivers a revision.
    let mut socket = acked(&app).await;
    let query = format!("query {} {{ countries {{ code }} }}", name("WsQuery"));
    send(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "next");
    assert_eq!(receive(&mut socket).await["type"], "complete");
    let mutation = format!(
        r#"mutation {} {{ triggerRefresh(source: "baseline") {{ id }} }}"#,
        name("WsMutation")
    );
    send(
        &mut socket,
        json!({ "id": "m", "type": "subscribe", "payload": { "query": mutation } }),
    )
    .await;
    let refused = receive(&mut socket).await;
    assert!(refused.to_string().contains("UNAUTHENTICATED"), "{refused}");
    let invalid = format!("subscription {} {{ nope }}", name("WsInvalid"));
    send(
        &mut socket,
        json!({ "id": "i", "type": "subscribe", "payload": { "query": invalid } }),
    )
    .await;
    let refused = receive(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    let subscription = format!(
        r#"subscription {} {{ observationRevised(metric: "rd_intensity", countries: ["USA"]) {{ value }} }}"#,
        name("WsRevised")
    );
    send(
        &mut socket,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": subscription } }),
    )
    .await;
    wait_for_subscriptions(&app, 1).await;
    wait_for_listening(&app, 1).await;
    revise(&app, &[(2024, 3.9)]).await;
    let next = receive(&mut socket).await;
    assert_eq!(next["payload"]["data"]["observationRevised"]["value"], 3.9);
    send(&mut socket, json!({ "id": "s", "type": "complete" })).await;
    wait_for_subscriptions(&app, 0).await;

    // graphql-ws, the legacy protocol: a query.
    let mut legacy = connect_to(&format!("ws://{}/graphql", app.addr), "graphql-ws").await;
    send(
        &mut legacy,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(receive(&mut legacy).await["type"], "connection_ack");
    let query = format!("query {} {{ countries {{ code }} }}", name("LegacyQuery"));
    send(
        &mut legacy,
        json!({ "id": "1", "type": "start", "payload": { "query": query } }),
    )
    .await;
    assert_eq!(receive(&mut legacy).await["type"], "data");
    assert_eq!(receive(&mut legacy).await["type"], "complete");

    // Server-Sent Events: a query, and a subscription that does not validate.
    let query = format!("query {} {{ countries {{ code }} }}", name("SseQuery"));
    let events = sse(&app, &query).await;
    assert_eq!(events[0].0, "next", "{events:?}");
    assert!(events[0].1["data"]["countries"].is_array(), "{events:?}");
    let invalid = format!("subscription {} {{ nope }}", name("SseInvalid"));
    let events = sse(&app, &invalid).await;
    assert_eq!(
        code(&events[0].1["errors"][0]),
        "GRAPHQL_VALIDATION_FAILED",
        "{events:?}"
    );

    let after = scrape(&app).await;
    for (operation, kind, outcome) in [
        ("WsQuery", "query", "ok"),
        ("WsMutation", "mutation", "UNAUTHENTICATED"),
        ("WsInvalid", "subscription", "GRAPHQL_VALIDATION_FAILED"),
        ("WsRevised", "subscription", "ok"),
        ("LegacyQuery", "query", "ok"),
        ("SseQuery", "query", "ok"),
        ("SseInvalid", "subscription", "GRAPHQL_VALIDATION_FAILED"),
    ] {
        assert_eq!(
            operations(&after, &name(operation), kind, outcome),
            Some(1.0),
            "{operation} counted as a {kind} with outcome {outcome}"
        );
    }
    assert_eq!(
        after.value(
            "techbalance_graphql_request_duration_seconds_count",
            &[("operation", &name("WsQuery"))]
        ),
        Some(1.0),
        "a query over a WebSocket has its latency"
    );
}

/// Refusals are counted under their own code, not a catch-all: a query too deep over HTTP, and
/// one past the time limit over a WebSocket (where only the operation's own limit applies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_under_their_own_code() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("TECHBALANCE_REQUEST_TIMEOUT_MS", "300"),
            ("TECHBALANCE_DB_MAX_CONNECTIONS", "1"),
        ],
    )
    .await;
    let deep = format!(
        "query RefusedDeep {{ countries {}{}}}",
        "{ a ".repeat(40),
        "} ".repeat(40)
    );
    let error = app.error(&deep).await;
    assert_eq!(code(&error), "QUERY_TOO_DEEP", "{error}");

    let mut socket = acked(&app).await;
    // Hold the only database connection: the query waits for it past the time limit.
    let held = sea_orm::TransactionTrait::begin(app.store.connection())
        .await
        .expect("hold the connection");
    send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": { "query": "query RefusedSlow { countries { code } }" } }),
    )
    .await;
    let refused = receive(&mut socket).await;
    drop(held);
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(code(&refused["payload"][0]), "TIMEOUT", "{refused}");

    let after = scrape(&app).await;
    assert_eq!(
        operations(&after, "RefusedDeep", "unknown", "QUERY_TOO_DEEP"),
        Some(1.0)
    );
    assert_eq!(
        operations(&after, "RefusedSlow", "query", "TIMEOUT"),
        Some(1.0)
    );
    assert_eq!(
        operations(&after, "RefusedSlow", "query", "GRAPHQL_ERROR"),
        None
    );
}
