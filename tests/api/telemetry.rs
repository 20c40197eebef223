//! OpenTelemetry export: with an OTLP endpoint configured, the real binary sends its spans to
//! the collector over OTLP/HTTP (protobuf), joined to the caller's W3C trace; the last spans are
//! flushed on shutdown; and a collector that is down changes nothing for clients.

use crate::shutdown::{free_port, ServerProcess};
use crate::subscriptions::{connect_to, receive, send};
use crate::support::{Backend, TestDb};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// A collector that accepts every export at the standard OTLP/HTTP path.
async fn collector() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(
            ResponseTemplate::new(200).insert_header("content-type", "application/x-protobuf"),
        )
        .mount(&server)
        .await;
    server
}

/// One exported span with the resource it was exported under.
struct Exported {
    service_name: Option<String>,
    span: Span,
}

/// Every span the collector has received so far; each export must be OTLP protobuf.
async fn exported(collector: &MockServer) -> Vec<Exported> {
    let mut spans = Vec::new();
    for request in collector.received_requests().await.unwrap_or_default() {
        assert_eq!(
            request
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-protobuf"),
            "OTLP/HTTP exports are protobuf"
        );
        let export = ExportTraceServiceRequest::decode(request.body.as_slice())
            .expect("a well-formed ExportTraceServiceRequest");
        for resource_spans in export.resource_spans {
            let service_name = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| string_attribute(&resource.attributes, "service.name"));
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push(Exported {
                        service_name: service_name.clone(),
                        span,
                    });
                }
            }
        }
    }
    spans
}

/// Waits until a span named `name` has been exported (or fails after 20 s).
async fn wait_for_span(collector: &MockServer, name: &str) -> Vec<Exported> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = exported(collector).await;
        if spans.iter().any(|e| e.span.name == name) {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "no span named {name:?} reached the collector within 20 s; got {:?}",
            spans.iter().map(|e| &e.span.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// POSTs a named query with the caller's trace context; returns the response's request id.
async fn query_in_callers_trace(server: &ServerProcess) -> String {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
        .json(&json!({
            "query": "query CountryCodes { countries { code } }",
            "operationName": "CountryCodes",
        }))
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(response.status(), 200);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    assert!(body["errors"].is_null(), "{body}");
    assert!(!body["data"]["countries"]
        .as_array()
        .expect("countries")
        .is_empty());
    request_id
}

#[tokio::test]
async fn spans_reach_the_collector_in_the_callers_trace() {
    let collector = collector().await;
    let db = TestDb::create(Backend::Sqlite).await;
    let server = ServerProcess::start(
        &db,
        "otlp",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.uri()),
            ("OTEL_SERVICE_NAME", "techbalance-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let request_id = query_in_callers_trace(&server).await;

    let spans = wait_for_span(&collector, "graphql CountryCodes").await;
    let request = spans
        .iter()
        .find(|e| {
            e.span.name == "POST /graphql"
                && string_attribute(&e.span.attributes, "request_id").as_deref()
                    == Some(request_id.as_str())
        })
        .unwrap_or_else(|| panic!("no server span for request {request_id}\n{}", server.log()));
    assert_eq!(
        request.service_name.as_deref(),
        Some("techbalance-under-test")
    );
    assert_eq!(request.span.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&request.span.trace_id),
        TRACE_ID,
        "joins the caller's trace"
    );
    assert_eq!(hex(&request.span.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(
        attribute(&request.span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(
        string_attribute(&request.span.attributes, "http.route").as_deref(),
        Some("/graphql")
    );
    let operation = spans
        .iter()
        .find(|e| e.span.name == "graphql CountryCodes")
        .expect("the operation's span");
    assert_eq!(operation.span.trace_id, request.span.trace_id);
    assert_eq!(
        operation.span.parent_span_id, request.span.span_id,
        "the operation runs inside the request's span"
    );
    assert_eq!(
        string_attribute(&operation.span.attributes, "graphql.operation.name").as_deref(),
        Some("CountryCodes")
    );
}

/// Operations over a WebSocket (both protocols) and over Server-Sent Events run in a span of
/// their own, as over HTTP; an event stream's joins its request's trace.
#[tokio::test]
async fn websocket_and_event_stream_operations_have_spans() {
    let collector = collector().await;
    let db = TestDb::create(Backend::Sqlite).await;
    let server = ServerProcess::start(
        &db,
        "otlp-transports",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.uri()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let ws_url = server.url("/graphql").replacen("http", "ws", 1);
    for (protocol, subscribe, next, name) in [
        (
            "graphql-transport-ws",
            "subscribe",
            "next",
            "TransportCountries",
        ),
        ("graphql-ws", "start", "data", "LegacyCountries"),
    ] {
        let mut socket = connect_to(&ws_url, protocol).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": {} }),
        )
        .await;
        assert_eq!(receive(&mut socket).await["type"], "connection_ack");
        let query = format!("query {name} {{ countries {{ code }} }}");
        send(
            &mut socket,
            json!({ "id": "1", "type": subscribe, "payload": { "query": query, "operationName": name } }),
        )
        .await;
        assert_eq!(receive(&mut socket).await["type"], next, "{protocol}");
        assert_eq!(receive(&mut socket).await["type"], "complete", "{protocol}");
    }
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .header("accept", "text/event-stream")
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
        .json(&json!({
            "query": "query StreamedCountries { countries { code } }",
            "operationName": "StreamedCountries",
        }))
        .send()
        .await
        .expect("SSE request");
    assert_eq!(response.status(), 200);
    let events = response.text().await.expect("the stream ends");
    assert!(events.contains("event: complete"), "{events}");

    for (name, transport) in [
        ("TransportCountries", "websocket"),
        ("LegacyCountries", "websocket"),
        ("StreamedCountries", "sse"),
    ] {
        let spans = wait_for_span(&collector, &format!("graphql {name}")).await;
        let operation = spans
            .iter()
            .find(|e| e.span.name == format!("graphql {name}"))
            .expect("the operation's span");
        let attributes = &operation.span.attributes;
        assert_eq!(
            string_attribute(attributes, "graphql.operation.name").as_deref(),
            Some(name)
        );
        assert_eq!(
            string_attribute(attributes, "graphql.operation.type").as_deref(),
            Some("query"),
            "{name}"
        );
        assert_eq!(
            string_attribute(attributes, "techbalance.transport").as_deref(),
            Some(transport),
            "{name}"
        );
        assert!(
            string_attribute(attributes, "request_id").is_some_and(|id| !id.is_empty()),
            "{name} carries its request's id"
        );
        if transport == "sse" {
            assert_eq!(
                hex(&operation.span.trace_id),
                TRACE_ID,
                "joins the caller's trace"
            );
            let request = spans
                .iter()
                .find(|e| e.span.span_id == operation.span.parent_span_id)
                .expect("the request's span");
            assert_eq!(request.span.name, "POST /graphql");
        }
    }
}

#[tokio::test]
async fn the_last_spans_are_flushed_on_shutdown() {
    let collector = collector().await;
    let db = TestDb::create(Backend::Sqlite).await;
    let mut server = ServerProcess::start(
        &db,
        "otlp-flush",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.uri()),
            // Far longer than the test: only the shutdown flush can deliver these spans.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;
    let request_id = query_in_callers_trace(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !exported(&collector)
            .await
            .iter()
            .any(|e| e.span.name == "graphql CountryCodes"),
        "spans are batched, not sent one by one"
    );
    server.signal("TERM");
    let status = server.exit_within(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", server.log());
    let spans = exported(&collector).await;
    assert!(
        spans.iter().any(|e| e.span.name == "POST /graphql"
            && string_attribute(&e.span.attributes, "request_id").as_deref()
                == Some(request_id.as_str())),
        "the request's span was exported on shutdown: {:?}",
        spans.iter().map(|e| &e.span.name).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_collector_that_is_down_changes_nothing_for_clients() {
    let db = TestDb::create(Backend::Sqlite).await;
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut server = ServerProcess::start(
        &db,
        "otlp-down",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &nowhere),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await;
    for _ in 0..5 {
        query_in_callers_trace(&server).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.signal("TERM");
    let status = server.exit_within(Duration::from_secs(20)).await;
    let log = server.log();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("BatchSpanProcessor.ExportError"),
        "the failed exports are logged for the operator\n{log}"
    );
}
