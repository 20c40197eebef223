//! Subscriptions over WebSocket, frame by frame: the graphql-transport-ws close codes, the legacy
//! graphql-ws protocol, caps, keep-alive, slow consumers, shutdown, and revisions delivered as
//! they are recorded (on both backends).

use crate::both_backends;
use crate::support::{wait_until, Backend, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use techbalance_store::record::{Batch, Point, Scope};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const REVISED: &str = r#"subscription { observationRevised(metric: "rd_intensity", countries: ["USA"]) { kind year previousValue value metric { slug } country { code } source { id } recordedAt observation { value } } }"#;

async fn connect(app: &TestApp, protocol: &str) -> Socket {
    connect_to(&format!("ws://{}/graphql", app.addr), protocol).await
}

/// A WebSocket to `url` speaking `protocol` (`graphql-transport-ws` or `graphql-ws`).
pub(crate) async fn connect_to(url: &str, protocol: &str) -> Socket {
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).expect("header"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next JSON message (skipping server pings), within 10 s.
pub(crate) async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("open socket")
            .expect("frame");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                if value["type"] != "ping" && value["type"] != "ka" {
                    return value;
                }
            }
            Message::Close(frame) => panic!("closed unexpectedly: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads until the server closes; returns the close code and reason.
async fn closed(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed within 10 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) | None => return (0, String::new()),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket error before a close frame: {e}"),
        }
    }
}

pub(crate) async fn acked(app: &TestApp) -> Socket {
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    socket
}

pub(crate) async fn wait_for_subscriptions(app: &TestApp, count: usize) {
    wait_until("open subscriptions", count, || {
        app.live.open_subscriptions()
    })
    .await;
}

/// Records new values of rd_intensity for the United States, revising the baseline's 2024.
pub(crate) async fn revise(app: &TestApp, values: &[(i32, f64)]) {
    revise_within(app, values, None).await;
}

/// Records new values of rd_intensity for the United States within `years` (`None`: all of
/// them; a year of the scope that `values` lacks is withdrawn).
async fn revise_within(app: &TestApp, values: &[(i32, f64)], years: Option<(i32, i32)>) {
    let batch = Batch {
        source: "baseline".into(),
        release: None,
        scope: Scope {
            metrics: vec!["rd_intensity".into()],
            countries: Some(vec!["USA".into()]),
            years,
        },
        points: values
            .iter()
            .map(|(year, value)| Point {
                metric: "rd_intensity".into(),
                country: "USA".into(),
                year: *year,
                value: *value,
                qualifier: None,
                citation: None,
            })
            .collect(),
    };
    let run = app
        .store
        .start_run(
            "baseline",
            techbalance_store::runs::RunTrigger::Manual,
            "test",
            Duration::from_secs(60),
        )
        .await
        .expect("run");
    let txn = app.store.begin().await.expect("begin");
    let summary = techbalance_store::record::record_batch(
        &txn,
        &batch,
        techbalance_store::now(),
        Some(run.id),
    )
    .await
    .expect("record");
    let result = techbalance_store::runs::RunResult {
        summary,
        ..Default::default()
    };
    techbalance_store::runs::complete_run(&txn, run.id, "test", &result, techbalance_store::now())
        .await
        .expect("complete");
    use techbalance_store::changes::Notice;
    app.store
        .commit_and_announce(
            txn,
            &[
                Notice::Run { run: run.id },
                Notice::Recorded { run: run.id },
            ],
        )
        .await
        .expect("commit");
}

both_backends!(
    a_revision_reaches_a_graphql_transport_ws_subscriber_with_its_details,
    filters_are_applied_on_the_server,
    the_legacy_protocol_streams_data_and_stops,
    data_changed_reports_the_version_and_the_metrics,
    subscribers_of_the_same_subscription_share_one_execution_and_each_gets_every_revision,
    different_variables_do_not_share_an_execution,
    a_refused_subscription_tells_every_subscriber_that_shared_it,
    a_disconnect_frees_the_subscriber_and_the_shared_execution,
);

async fn wait_for_shared_executions(app: &TestApp, count: usize) {
    wait_until("shared executions", count, || app.live.shared_executions()).await;
}

/// Waits until `count` executions listen to the change hub: a subscriber is counted as soon as
/// it joins, but the first one's execution still resolves its arguments before it listens.
pub(crate) async fn wait_for_listening(app: &TestApp, count: usize) {
    wait_until("executions listening", count, || {
        app.store.change_receivers()
    })
    .await;
}

/// Pings and expects the pong next: the server sent nothing else to this client in between.
async fn nothing_else_arrived(socket: &mut Socket) {
    send(socket, json!({ "type": "ping" })).await;
    let message = receive(socket).await;
    assert_eq!(message, json!({ "type": "pong" }), "unexpected: {message}");
}

async fn subscribers_of_the_same_subscription_share_one_execution_and_each_gets_every_revision(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    let mut first = acked(&app).await;
    let mut second = acked(&app).await;
    let mut legacy = connect(&app, "graphql-ws").await;
    send(&mut legacy, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut legacy).await["type"], "connection_ack");
    for (socket, kind) in [
        (&mut first, "subscribe"),
        (&mut second, "subscribe"),
        (&mut legacy, "start"),
    ] {
        send(
            socket,
            json!({ "id": "r", "type": kind, "payload": { "query": REVISED } }),
        )
        .await;
    }
    wait_for_subscriptions(&app, 3).await;
    assert_eq!(
        app.live.shared_executions(),
        1,
        "one execution for the three"
    );
    wait_for_listening(&app, 1).await;

    // Two changes, one revision each (a year new to the source is not a revision).
    revise(&app, &[(2024, 3.62)]).await;
    revise(&app, &[(2024, 3.63)]).await;
    for (socket, kind) in [
        (&mut first, "next"),
        (&mut second, "next"),
        (&mut legacy, "data"),
    ] {
        let mut values = Vec::new();
        for _ in 0..2 {
            let message = receive(socket).await;
            assert_eq!(
                (message["type"].as_str(), message["id"].as_str()),
                (Some(kind), Some("r")),
                "{message}"
            );
            let revision = &message["payload"]["data"]["observationRevised"];
            assert_eq!(revision["country"]["code"], "USA");
            values.push(revision["value"].clone());
        }
        assert_eq!(values, [json!(3.62), json!(3.63)]);
        if kind == "next" {
            nothing_else_arrived(socket).await;
        }
    }

    // One subscriber completing stops only its own subscription.
    send(&mut first, json!({ "id": "r", "type": "complete" })).await;
    wait_for_subscriptions(&app, 2).await;
    assert_eq!(app.live.shared_executions(), 1);
    revise(&app, &[(2024, 3.64)]).await;
    let message = receive(&mut second).await;
    assert_eq!(
        message["payload"]["data"]["observationRevised"]["value"], 3.64,
        "{message}"
    );
    let message = receive(&mut legacy).await;
    assert_eq!(
        message["payload"]["data"]["observationRevised"]["value"], 3.64,
        "{message}"
    );
    nothing_else_arrived(&mut first).await;

    // The same id again joins the execution afresh.
    send(
        &mut first,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": REVISED } }),
    )
    .await;
    wait_for_subscriptions(&app, 3).await;
    assert_eq!(app.live.shared_executions(), 1);
    revise(&app, &[(2024, 3.65)]).await;
    for socket in [&mut first, &mut second, &mut legacy] {
        let message = receive(socket).await;
        assert_eq!(
            message["payload"]["data"]["observationRevised"]["value"], 3.65,
            "{message}"
        );
    }

    // The execution ends with its last subscriber.
    send(&mut first, json!({ "id": "r", "type": "complete" })).await;
    send(&mut second, json!({ "id": "r", "type": "complete" })).await;
    send(&mut legacy, json!({ "id": "r", "type": "stop" })).await;
    assert_eq!(
        receive(&mut legacy).await,
        json!({ "type": "complete", "id": "r" })
    );
    wait_for_subscriptions(&app, 0).await;
    wait_for_shared_executions(&app, 0).await;
    wait_for_listening(&app, 0).await;
}

async fn different_variables_do_not_share_an_execution(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let query = r#"subscription Revised($countries: [String!]) { observationRevised(metric: "rd_intensity", countries: $countries) { value country { code } } }"#;
    let mut usa = acked(&app).await;
    let mut china = acked(&app).await;
    send(&mut usa, json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "countries": ["USA"] } } })).await;
    send(&mut china, json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "countries": ["CHN"] } } })).await;
    wait_for_subscriptions(&app, 2).await;
    assert_eq!(app.live.shared_executions(), 2);
    // The same variables share again, whichever connection sends them.
    send(&mut china, json!({ "id": "2", "type": "subscribe", "payload": { "query": query, "variables": { "countries": ["USA"] } } })).await;
    wait_for_subscriptions(&app, 3).await;
    assert_eq!(app.live.shared_executions(), 2);
    wait_for_listening(&app, 2).await;

    revise(&app, &[(2024, 3.66)]).await;
    let message = receive(&mut usa).await;
    assert_eq!(message["id"], "1");
    assert_eq!(
        message["payload"]["data"]["observationRevised"],
        json!({ "value": 3.66, "country": { "code": "USA" } })
    );
    let message = receive(&mut china).await;
    assert_eq!(
        message["id"], "2",
        "only the USA subscription of this connection hears of it: {message}"
    );
    nothing_else_arrived(&mut china).await;
    nothing_else_arrived(&mut usa).await;
}

async fn a_refused_subscription_tells_every_subscriber_that_shared_it(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let unknown = r#"subscription { observationRevised(metric: "nope") { value } }"#;
    let mut sockets = [acked(&app).await, acked(&app).await];
    for socket in &mut sockets {
        for id in ["a", "b"] {
            send(
                socket,
                json!({ "id": id, "type": "subscribe", "payload": { "query": unknown } }),
            )
            .await;
        }
    }
    for socket in &mut sockets {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let message = receive(socket).await;
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"], "NOT_FOUND",
                "{message}"
            );
            ids.push(message["id"].as_str().expect("id").to_owned());
        }
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
        nothing_else_arrived(socket).await;
    }
    wait_for_subscriptions(&app, 0).await;
    wait_for_shared_executions(&app, 0).await;
    wait_for_listening(&app, 0).await;
    // A refused id may be used again.
    send(
        &mut sockets[0],
        json!({ "id": "a", "type": "subscribe", "payload": { "query": REVISED } }),
    )
    .await;
    wait_for_subscriptions(&app, 1).await;
    assert_eq!(app.live.shared_executions(), 1);
}

async fn a_disconnect_frees_the_subscriber_and_the_shared_execution(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut staying = acked(&app).await;
    let mut leaving = acked(&app).await;
    for socket in [&mut staying, &mut leaving] {
        send(
            socket,
            json!({ "id": "r", "type": "subscribe", "payload": { "query": REVISED } }),
        )
        .await;
    }
    send(&mut leaving, json!({ "id": "d", "type": "subscribe", "payload": { "query": "subscription { dataChanged { version } }" } })).await;
    wait_for_subscriptions(&app, 3).await;
    assert_eq!(app.live.shared_executions(), 2);
    wait_for_listening(&app, 2).await;
    drop(leaving);
    wait_for_subscriptions(&app, 1).await;
    wait_for_shared_executions(&app, 1).await;
    // The execution that lost its last subscriber no longer listens either.
    wait_for_listening(&app, 1).await;
    revise(&app, &[(2024, 3.67)]).await;
    let message = receive(&mut staying).await;
    assert_eq!(
        message["payload"]["data"]["observationRevised"]["value"], 3.67,
        "{message}"
    );
    drop(staying);
    wait_for_subscriptions(&app, 0).await;
    wait_for_shared_executions(&app, 0).await;
    wait_for_listening(&app, 0).await;
}

async fn a_revision_reaches_a_graphql_transport_ws_subscriber_with_its_details(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut socket = acked(&app).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": REVISED } }),
    )
    .await;
    wait_for_subscriptions(&app, 1).await;
    wait_for_listening(&app, 1).await;
    revise(&app, &[(2024, 3.62)]).await;
    let message = receive(&mut socket).await;
    assert_eq!(message["type"], "next");
    assert_eq!(message["id"], "1");
    assert_eq!(
        message["payload"]["data"]["observationRevised"],
        json!({ "kind": "REVISED", "year": 2024, "previousValue": 3.5, "value": 3.62, "metric": { "slug": "rd_intensity" },
                "country": { "code": "USA" }, "source": { "id": "baseline" }, "observation": { "value": 3.62 },
                "recordedAt": message["payload"]["data"]["observationRevised"]["recordedAt"] })
    );
    // The client completes; everything it held is freed.
    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    wait_for_subscriptions(&app, 0).await;
    drop(socket);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.live.open_connections() != 0 {
        assert!(Instant::now() < deadline, "the connection was not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn filters_are_applied_on_the_server(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut socket = acked(&app).await;
    let china_only = r#"subscription { observationRevised(metric: "rd_intensity", countries: ["CN"]) { value } }"#;
    send(
        &mut socket,
        json!({ "id": "china", "type": "subscribe", "payload": { "query": china_only } }),
    )
    .await;
    send(
        &mut socket,
        json!({ "id": "usa", "type": "subscribe", "payload": { "query": REVISED } }),
    )
    .await;
    wait_for_subscriptions(&app, 2).await;
    revise(&app, &[(2024, 3.7)]).await;
    let message = receive(&mut socket).await;
    assert_eq!(
        message["id"], "usa",
        "only the matching subscription hears of it: {message}"
    );
    // Unknown filter values are refused when subscribing.
    send(&mut socket, json!({ "id": "bad", "type": "subscribe", "payload": { "query": r#"subscription { observationRevised(metric: "nope") { value } }"# } })).await;
    let message = receive(&mut socket).await;
    assert_eq!(message["type"], "error");
    assert_eq!(message["payload"][0]["extensions"]["code"], "NOT_FOUND");
}

async fn the_legacy_protocol_streams_data_and_stops(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut socket = connect(&app, "graphql-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "7", "type": "start", "payload": { "query": REVISED } }),
    )
    .await;
    wait_for_subscriptions(&app, 1).await;
    wait_for_listening(&app, 1).await;
    revise(&app, &[(2024, 3.8)]).await;
    let message = receive(&mut socket).await;
    assert_eq!(
        (message["type"].as_str(), message["id"].as_str()),
        (Some("data"), Some("7"))
    );
    assert_eq!(
        message["payload"]["data"]["observationRevised"]["value"],
        3.8
    );
    send(&mut socket, json!({ "id": "7", "type": "stop" })).await;
    assert_eq!(
        receive(&mut socket).await,
        json!({ "type": "complete", "id": "7" })
    );
    wait_for_subscriptions(&app, 0).await;
    send(&mut socket, json!({ "type": "connection_terminate" })).await;
    assert_eq!(closed(&mut socket).await.0, 1000);
}

async fn data_changed_reports_the_version_and_the_metrics(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut socket = acked(&app).await;
    send(&mut socket, json!({ "id": "d", "type": "subscribe", "payload": { "query": "subscription { dataChanged { version metrics resync runId } }" } })).await;
    wait_for_subscriptions(&app, 1).await;
    wait_for_listening(&app, 1).await;
    let before = app.store.data_version().await.expect("version");
    revise(&app, &[(2024, 3.9)]).await;
    let change = &receive(&mut socket).await["payload"]["data"]["dataChanged"];
    assert!(change["version"].as_i64().expect("version") > before);
    assert_eq!(change["metrics"], json!(["rd_intensity"]));
    assert_eq!(change["resync"], false);
    let run = change["runId"].as_str().expect("runId is an ID, a string");
    let query = format!(r#"{{ refreshRun(id: "{run}") {{ status }} }}"#);
    assert_eq!(
        app.data(&query).await["refreshRun"]["status"],
        "SUCCEEDED",
        "runId names the run that recorded the change"
    );
}

#[tokio::test]
async fn a_connection_that_never_initialises_is_closed_with_4408() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_vars(&[("TECHBALANCE_WS_INIT_TIMEOUT_MS", "300")])
        .start()
        .await;
    let mut socket = connect(&app, "graphql-transport-ws").await;
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(
        (code, reason.as_str()),
        (4408, "Connection initialisation timeout")
    );
}

#[tokio::test]
async fn subscribing_before_the_ack_is_closed_with_4401() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let mut socket = connect(&app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": REVISED } }),
    )
    .await;
    assert_eq!(closed(&mut socket).await, (4401, "Unauthorized".to_owned()));
}

#[tokio::test]
async fn an_invalid_message_is_closed_with_4400() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    for bad in [
        "not json",
        r#"{"type":"teleport"}"#,
        r#"{"type":"subscribe","payload":{"query":"{ countries { code } }"}}"#,
    ] {
        let mut socket = acked(&app).await;
        socket.send(Message::text(bad)).await.expect("send");
        let (code, reason) = closed(&mut socket).await;
        assert_eq!(code, 4400, "{bad}: {reason}");
        assert!(reason.starts_with("Invalid message received"), "{reason}");
    }
}

#[tokio::test]
async fn a_duplicate_subscription_id_is_closed_with_4409() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let mut socket = acked(&app).await;
    for _ in 0..2 {
        send(
            &mut socket,
            json!({ "id": "same", "type": "subscribe", "payload": { "query": REVISED } }),
        )
        .await;
    }
    assert_eq!(
        closed(&mut socket).await,
        (4409, "Subscriber for same already exists".to_owned())
    );
    wait_for_subscriptions(&app, 0).await;
}

#[tokio::test]
async fn a_second_init_is_closed_with_4429() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let mut socket = acked(&app).await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(
        closed(&mut socket).await,
        (4429, "Too many initialisation requests".to_owned())
    );
}

#[tokio::test]
async fn pings_are_answered_and_the_server_keeps_the_connection_alive() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_vars(&[("TECHBALANCE_WS_KEEPALIVE_MS", "200")])
        .start()
        .await;
    let mut socket = acked(&app).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(receive(&mut socket).await, json!({ "type": "pong" }));
    let ping = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a server ping")
        .expect("open")
        .expect("frame");
    assert_eq!(ping, Message::text(r#"{"type":"ping"}"#));
    // The legacy protocol keeps alive with `ka`.
    let mut legacy = connect(&app, "graphql-ws").await;
    send(&mut legacy, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut legacy).await["type"], "connection_ack");
    let ka = tokio::time::timeout(Duration::from_secs(5), legacy.next())
        .await
        .expect("a ka")
        .expect("open")
        .expect("frame");
    assert_eq!(ka, Message::text(r#"{"type":"ka"}"#));
}

#[tokio::test]
async fn the_caps_on_subscriptions_and_connections_close_with_a_reason() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_vars(&[
            ("TECHBALANCE_WS_MAX_SUBSCRIPTIONS", "2"),
            ("TECHBALANCE_WS_MAX_CONNECTIONS", "1"),
        ])
        .start()
        .await;
    let mut socket = acked(&app).await;
    for id in ["a", "b", "c"] {
        send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": REVISED } }),
        )
        .await;
    }
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 1008);
    assert_eq!(
        reason,
        "Too many subscriptions on this connection (limit 2)"
    );
    wait_for_subscriptions(&app, 0).await;

    let _first = acked(&app).await;
    let mut second = connect(&app, "graphql-transport-ws").await;
    let (code, reason) = closed(&mut second).await;
    assert_eq!(code, 1013);
    assert!(reason.contains("connection limit"), "{reason}");
}

#[tokio::test]
async fn a_request_without_a_known_subprotocol_is_refused() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .expect("request");
    let error = tokio_tungstenite::connect_async(request)
        .await
        .expect_err("no subprotocol");
    assert!(error.to_string().contains("400"), "{error}");
}

#[tokio::test]
async fn shutdown_closes_websockets_with_1001() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let mut socket = acked(&app).await;
    app.live.close_all();
    assert_eq!(closed(&mut socket).await.0, 1001);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_told_and_closed_while_others_get_everything() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_vars(&[
            ("TECHBALANCE_WS_OUTBOX", "4"),
            ("TECHBALANCE_WS_WRITE_TIMEOUT_MS", "300"),
        ])
        .start()
        .await;
    // About 2 KB a message: 10,000 of them are far more than the socket buffers between the
    // server and a client that stopped reading can absorb.
    let wide = (0..10)
        .map(|i| format!("m{i}: metric {{ description }} s{i}: source {{ terms }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let query = format!(
        r#"subscription {{ observationRevised(metric: "rd_intensity") {{ year value {wide} }} }}"#
    );
    let mut stalled = acked(&app).await;
    send(
        &mut stalled,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    let mut reader = acked(&app).await;
    send(
        &mut reader,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    wait_for_subscriptions(&app, 2).await;

    const N: i32 = 10_000;
    revise(&app, &(0..N).map(|year| (year, 1.0)).collect::<Vec<_>>()).await;
    revise(&app, &(0..N).map(|year| (year, 2.0)).collect::<Vec<_>>()).await;
    // The first vintage revised the baseline's 2024 (3.5 → 1.0); the second revised every year.
    let mut years = Vec::with_capacity(N as usize + 1);
    for _ in 0..=N {
        let message = receive(&mut reader).await;
        assert_eq!(message["type"], "next", "{message}");
        years.push(
            message["payload"]["data"]["observationRevised"]["year"]
                .as_i64()
                .expect("year"),
        );
    }
    let expected: Vec<i64> = std::iter::once(2024).chain(0..i64::from(N)).collect();
    assert!(
        years == expected,
        "the reader did not get every revision in order ({} received)",
        years.len()
    );
    let (code, reason) = closed(&mut stalled).await;
    assert_eq!(code, 4000, "{reason}");
    assert!(reason.starts_with("Slow consumer"), "{reason}");
    wait_for_subscriptions(&app, 1).await;
}

#[tokio::test]
async fn an_sse_subscriber_that_falls_behind_the_shared_backlog_is_told_and_its_stream_ends() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    // About 2 KB a message, as in the WebSocket case above.
    let wide = (0..10)
        .map(|i| format!("m{i}: metric {{ description }} s{i}: source {{ terms }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let query = format!(
        r#"subscription {{ observationRevised(metric: "rd_intensity") {{ year value {wide} }} }}"#
    );
    // A client of its own: the test client's total timeout would end this long read.
    let mut stalled = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("SSE subscription");
    assert_eq!(stalled.status(), 200);
    wait_for_subscriptions(&app, 1).await;
    wait_for_listening(&app, 1).await;

    // 10,000 revisions (about 20 MB) fill the socket buffers of a client that does not read, so
    // its stream stops being written; then more separate changes than the shared execution's
    // backlog of 256 batches holds, each its own batch. (The first vintage adds 10,000 years and
    // revises only the baseline's 2024; the second revises every year.)
    const N: i32 = 10_000;
    revise(&app, &(0..N).map(|year| (year, 1.0)).collect::<Vec<_>>()).await;
    revise(&app, &(0..N).map(|year| (year, 2.0)).collect::<Vec<_>>()).await;
    const CHANGES: i32 = 300;
    for change in 0..CHANGES {
        revise_within(&app, &[(0, 10.0 + f64::from(change))], Some((0, 0))).await;
    }

    // The client reads again: what was written before it fell behind, then the error, then the end.
    // Keep-alive comments would keep a stream that never ends busy: the deadline is for all of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut body = Vec::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, stalled.chunk())
            .await
            .expect("the stream ends within 60 s")
            .expect("read the stream");
        match chunk {
            Some(bytes) => {
                body.extend_from_slice(&bytes);
            }
            None => break,
        }
    }
    let text = String::from_utf8(body).expect("UTF-8 events");
    let events: Vec<(&str, &str)> = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map_or("", str::trim)
            };
            (field("event:"), field("data:"))
        })
        .collect();
    let (last, rest) = events.split_last().expect("events");
    assert_eq!(last.0, "complete", "the stream ends with complete");
    let (error, delivered) = rest.split_last().expect("an error before complete");
    assert_eq!(error.0, "next");
    let error: Value = serde_json::from_str(error.1).expect("JSON error payload");
    assert_eq!(
        error["errors"][0]["extensions"]["code"], "SLOW_CONSUMER",
        "{error}"
    );
    assert!(
        delivered.iter().all(|(event, data)| *event == "next"
            && data.contains("observationRevised")
            && !data.contains("\"errors\"")),
        "only revisions came before the error"
    );
    let sent = (1 + N + CHANGES) as usize;
    assert!(
        delivered.len() < sent,
        "{} of {sent} revisions were delivered: the client did not fall behind",
        delivered.len()
    );
    wait_for_subscriptions(&app, 0).await;
    wait_for_shared_executions(&app, 0).await;
}
