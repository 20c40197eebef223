//! GraphQL over WebSocket at `/graphql`, in both protocols a client may ask for:
//!
//! - `graphql-transport-ws` (the graphql-ws library): `connection_init` → `connection_ack`,
//!   `subscribe` → `next`… `complete`, `ping`/`pong`, and the close codes of its specification:
//!   4400 invalid message, 4401 subscribe before ack, 4408 no init in time, 4409 duplicate
//!   subscription id, 4429 a second init;
//! - `graphql-ws` (the legacy subscriptions-transport-ws): `connection_init` → `connection_ack`
//!   and `ka` keep-alives, `start` → `data`… `complete`, `stop`, `connection_terminate`.
//!
//! Written here rather than taken from async-graphql, whose close codes differ from the protocol.
//! Subscriptions join a shared execution (see [`shared`](super::shared)); the connection task
//! forwards each one's deliveries itself, wrapping the shared payloads in this connection's
//! envelope. Other operations run in a task of their own and answer through a bounded outbox. A
//! client that cannot keep up (its shared deliveries overtaken, its outbox full, or a write timing
//! out) is told and closed instead of delaying anyone else. Per-connection subscriptions and total connections are
//! capped, each with its own close reason. Closing on shutdown uses 1001.
//!
//! The token sent with `connection_init` is checked again for every operation and every
//! `token_recheck`: once it is revoked, the operation that finds out runs as the revoked caller
//! would (a mutation or an operator read is refused with `FORBIDDEN`; a subscription is refused)
//! and the connection is closed with 4403 (Forbidden), which a connection also gets when the
//! periodic check finds out first (the legacy protocol is sent `connection_error` before).

use super::execute::{self, Origin, Transport};
use super::observability::RequestId;
use super::shared::{Delivery, Execution, Joined, SharedExecutions};
use super::AppState;
use crate::auth::{Caller, Session};
use crate::operator::Peer;
use crate::schema::selects_subscription;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamMap;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";
/// How long a close frame may wait behind a backlog before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Each connection's read buffer. Clients send small messages (a larger frame still grows the
/// buffer to fit); tungstenite's default, 128 KiB, is zero-filled on every read, so it both
/// stays resident for each idle connection and costs a 128 KiB memset per wake-up.
const READ_BUFFER: usize = 4 * 1024;
/// Messages already waiting in the outbox that go out with one flush (one socket write).
const WRITE_BATCH: usize = 64;

/// Limits and timings of WebSocket connections.
#[derive(Clone, Copy, Debug)]
pub struct WsSettings {
    /// How long a client has to send `connection_init` (then 4408).
    pub init_timeout: Duration,
    /// How often the server pings (`ka` in the legacy protocol).
    pub keepalive: Duration,
    pub max_subscriptions_per_connection: usize,
    pub max_connections: usize,
    /// Messages a connection may have waiting to be written before its client counts as too slow.
    pub outbox: usize,
    /// How long one write may take before the client counts as too slow.
    pub write_timeout: Duration,
    /// How often a WebSocket or an event stream opened with a token checks that the token is
    /// still valid (every operation also checks it); a revoked token's connections are closed.
    pub token_recheck: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            max_subscriptions_per_connection: 100,
            max_connections: 20_000,
            outbox: 256,
            write_timeout: Duration::from_secs(10),
            token_recheck: Duration::from_secs(5),
        }
    }
}

/// Live connections of one server: their counts, and the signal that closes them all.
#[derive(Clone, Debug)]
pub struct Live {
    settings: WsSettings,
    connections: Arc<AtomicUsize>,
    subscriptions: Arc<AtomicUsize>,
    closing: watch::Sender<bool>,
    executions: Arc<SharedExecutions>,
}

impl Live {
    pub fn new(settings: WsSettings) -> Self {
        Self {
            settings,
            connections: Arc::new(AtomicUsize::new(0)),
            subscriptions: Arc::new(AtomicUsize::new(0)),
            closing: watch::channel(false).0,
            executions: Arc::default(),
        }
    }

    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn open_subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::SeqCst)
    }

    /// Subscription executions running now, each shared by every subscriber of the same
    /// operation and variables.
    pub fn shared_executions(&self) -> usize {
        self.executions.open()
    }

    pub(super) fn settings(&self) -> &WsSettings {
        &self.settings
    }

    pub(super) fn executions(&self) -> &Arc<SharedExecutions> {
        &self.executions
    }

    /// Closes every WebSocket with 1001 (going away), for shutdown.
    pub fn close_all(&self) {
        let _ = self.closing.send(true);
    }

    /// Resolves once [`Live::close_all`] was called (at once if it already was).
    pub(super) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            // An error means the sender is gone, with the server: closed too.
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// Counts one open subscription while the guard lives (SSE streams).
    pub(super) fn subscription_guard(&self) -> impl Send + 'static {
        Held::new(&self.subscriptions)
    }
}

/// Counts one open thing while alive.
pub(super) struct Held(Arc<AtomicUsize>);

impl Held {
    pub(super) fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Transport,
    Legacy,
}

/// Upgrades a GET to a WebSocket speaking whichever protocol the client asked for.
pub(super) async fn serve(state: AppState, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let peer = parts.extensions.get::<Peer>().copied().unwrap_or_default();
    let request_id = parts.extensions.get::<RequestId>().cloned();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade
            .protocols([TRANSPORT_WS, LEGACY_WS])
            .read_buffer_size(READ_BUFFER),
        Err(rejection) => return rejection.into_response(),
    };
    let protocol = match upgrade.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some(TRANSPORT_WS) => Protocol::Transport,
        Some(LEGACY_WS) => Protocol::Legacy,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "ask for the graphql-transport-ws or the graphql-ws subprotocol",
            )
                .into_response()
        }
    };
    upgrade.on_upgrade(move |socket| async move {
        Connection::new(state, protocol, peer, request_id)
            .run(socket)
            .await;
    })
}

/// What a subscription task sends back to its connection.
enum Outgoing {
    Message(Message),
    /// The subscription ended on its own (its stream finished).
    Finished(String),
}

/// A subscription of a connection.
enum Running {
    /// An operation run for this connection alone (a query or a mutation), in a task of its own.
    Alone(JoinHandle<()>),
    /// A subscriber of a shared execution; its deliveries arrive through the connection's feeds.
    Shared {
        _execution: Arc<Execution>,
        _open: Held,
    },
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Alone(task) = self {
            task.abort();
        }
    }
}

struct Connection {
    state: AppState,
    protocol: Protocol,
    settings: WsSettings,
    initialised: bool,
    session: Session,
    peer: Peer,
    /// The id of the upgrade request, carried by every operation of the connection.
    request_id: Option<RequestId>,
    subscriptions: HashMap<String, Running>,
    /// The deliveries of each shared subscription, by subscription id.
    feeds: StreamMap<String, BroadcastStream<Arc<Delivery>>>,
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// The close frame for a client that cannot keep up.
fn slow() -> Message {
    close(4000, "Slow consumer: fell too far behind")
}

fn text(value: Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// `{"id":…,"payload":…,"type":…}`, serialised straight from `payload` (no `Value` in between).
#[derive(serde::Serialize)]
struct Envelope<'a, P: serde::Serialize> {
    id: &'a str,
    payload: &'a P,
    #[serde(rename = "type")]
    kind: &'static str,
}

fn envelope(kind: &'static str, id: &str, payload: &impl serde::Serialize) -> Message {
    match serde_json::to_string(&Envelope { id, payload, kind }) {
        Ok(body) => Message::Text(Utf8Bytes::from(body)),
        Err(e) => {
            text(json!({ "type": "error", "id": id, "payload": [{ "message": e.to_string() }] }))
        }
    }
}

/// How writing what was waiting in the outbox ended.
enum Flushed {
    Open,
    /// A close frame was among the messages: the connection is done.
    Closed,
    /// The client is gone or too slow.
    Failed,
}

impl Connection {
    fn new(state: AppState, protocol: Protocol, peer: Peer, request_id: Option<RequestId>) -> Self {
        let settings = state.live.settings;
        Self {
            state,
            protocol,
            settings,
            initialised: false,
            session: Session::anonymous(),
            peer,
            request_id,
            subscriptions: HashMap::new(),
            feeds: StreamMap::new(),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let live = self.state.live.clone();
        let _connection = Held::new(&live.connections);
        let (mut sink, mut incoming) = socket.split();
        let timeout = self.settings.write_timeout;
        if live.open_connections() > self.settings.max_connections {
            let _ = write(
                timeout,
                &mut sink,
                close(
                    1013,
                    "Try again later: the server is at its connection limit",
                ),
            )
            .await;
            return;
        }
        let (outbox, mut outgoing) = mpsc::channel::<Outgoing>(self.settings.outbox);
        let mut closing = live.closing.subscribe();
        let init_deadline = tokio::time::sleep(self.settings.init_timeout);
        tokio::pin!(init_deadline);
        let mut keepalive = tokio::time::interval(self.settings.keepalive);
        keepalive.tick().await;
        let mut recheck = tokio::time::interval(self.settings.token_recheck);
        recheck.tick().await;

        let ending: Option<Message> = loop {
            tokio::select! {
                () = &mut init_deadline, if !self.initialised => {
                    break Some(close(4408, "Connection initialisation timeout"));
                }
                _ = closing.changed() => break Some(close(1001, "The server is shutting down")),
                _ = recheck.tick(), if self.session.checks_again() => {
                    self.session.recheck(&self.state.store).await;
                    if self.session.lost() {
                        if self.protocol == Protocol::Legacy {
                            let told = text(json!({ "type": "connection_error", "payload": { "message": REVOKED } }));
                            let _ = write(timeout, &mut sink, told).await;
                        }
                        break Some(revoked());
                    }
                }
                _ = keepalive.tick(), if self.initialised => {
                    let ping = match self.protocol {
                        Protocol::Transport => json!({ "type": "ping" }),
                        Protocol::Legacy => json!({ "type": "ka" }),
                    };
                    if !write(timeout, &mut sink, text(ping)).await {
                        break Some(slow());
                    }
                }
                Some((id, delivery)) = self.feeds.next(), if !self.feeds.is_empty() => {
                    match self.deliver(id, delivery, &mut sink).await {
                        Flushed::Open => {}
                        Flushed::Closed => break None,
                        Flushed::Failed => break Some(slow()),
                    }
                }
                out = outgoing.recv() => match out {
                    Some(first) => match self.write_waiting(first, &mut outgoing, &mut sink).await {
                        Flushed::Open => {}
                        Flushed::Closed => break None,
                        Flushed::Failed => break Some(slow()),
                    },
                    None => break None,
                },
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(body))) => match self.handle(&body, &outbox).await {
                        Step::Continue => {}
                        Step::Reply(reply) => {
                            if !write(timeout, &mut sink, reply).await {
                                break Some(slow());
                            }
                        }
                        Step::Close(message) => break Some(message),
                        Step::Refuse(id, message) => {
                            let refused = envelope("error", &id, &[forbidden()]);
                            let _ = write(timeout, &mut sink, refused).await;
                            break Some(message);
                        }
                    },
                    Some(Ok(Message::Binary(_))) => break Some(close(4400, "Binary frames are not part of the protocol")),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                },
            }
        };
        self.feeds = StreamMap::new();
        self.subscriptions.clear();
        if let Some(message) = ending {
            // Behind a backlog, the close frame gets a longer grace to reach a slow reader.
            let _ = write(timeout.max(CLOSE_GRACE), &mut sink, message).await;
        }
        let _ = sink.close().await;
    }

    /// Writes `first` and what else is already waiting in the outbox (up to WRITE_BATCH messages)
    /// with one flush, all within the write timeout.
    async fn write_waiting(
        &mut self,
        first: Outgoing,
        outgoing: &mut mpsc::Receiver<Outgoing>,
        sink: &mut SplitSink<WebSocket, Message>,
    ) -> Flushed {
        let writing = async {
            let mut next = Some(first);
            let mut written = 0;
            while let Some(out) = next.take() {
                match out {
                    Outgoing::Message(message) => {
                        let closes = matches!(message, Message::Close(_));
                        sink.feed(message).await?;
                        written += 1;
                        if closes {
                            sink.flush().await?;
                            return Ok(Flushed::Closed);
                        }
                    }
                    Outgoing::Finished(id) => {
                        self.subscriptions.remove(&id);
                    }
                }
                if written < WRITE_BATCH {
                    next = outgoing.try_recv().ok();
                }
            }
            if written > 0 {
                sink.flush().await?;
            }
            Ok::<_, axum::Error>(Flushed::Open)
        };
        match tokio::time::timeout(self.settings.write_timeout, writing).await {
            Ok(Ok(flushed)) => flushed,
            Ok(Err(_)) | Err(_) => Flushed::Failed,
        }
    }

    /// Writes a delivery of shared subscription `id` in this connection's envelope, WRITE_BATCH
    /// messages a flush, each flush within the write timeout. A subscriber whose deliveries were
    /// overtaken has fallen too far behind.
    async fn deliver(
        &mut self,
        id: String,
        delivery: Result<Arc<Delivery>, BroadcastStreamRecvError>,
        sink: &mut SplitSink<WebSocket, Message>,
    ) -> Flushed {
        let Ok(delivery) = delivery else {
            return Flushed::Failed;
        };
        let quoted = Value::String(id.clone()).to_string();
        let next = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        let mut messages = Vec::with_capacity(delivery.payloads.len() + 1);
        for payload in &delivery.payloads {
            messages.push(match &payload.refused {
                Some(errors) => wrapped("error", &quoted, errors),
                None => wrapped(next, &quoted, &payload.response),
            });
        }
        if delivery.last && !delivery.refused() {
            messages.push(text(json!({ "type": "complete", "id": id })));
        }
        let written = write_all(self.settings.write_timeout, sink, messages).await;
        if delivery.ends() {
            self.feeds.remove(&id);
            self.subscriptions.remove(&id);
        }
        if written {
            Flushed::Open
        } else {
            Flushed::Failed
        }
    }

    async fn handle(&mut self, body: &str, outbox: &mpsc::Sender<Outgoing>) -> Step {
        let Ok(message) = serde_json::from_str::<Value>(body) else {
            return self.invalid("the message is not JSON");
        };
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = message.get("id").and_then(Value::as_str).map(str::to_owned);
        match (self.protocol, kind) {
            (_, "connection_init") => {
                if self.initialised {
                    return match self.protocol {
                        Protocol::Transport => {
                            Step::Close(close(4429, "Too many initialisation requests"))
                        }
                        Protocol::Legacy => Step::Continue,
                    };
                }
                self.initialised = true;
                let authorization = authorization(message.get("payload"));
                self.session = execute::identify(&self.state.store, authorization).await;
                Step::Reply(text(json!({ "type": "connection_ack" })))
            }
            (Protocol::Transport, "ping") => Step::Reply(text(json!({ "type": "pong" }))),
            (Protocol::Transport, "pong") => Step::Continue,
            (Protocol::Transport, "subscribe") | (Protocol::Legacy, "start") => {
                let Some(id) = id.filter(|id| !id.is_empty()) else {
                    return self.invalid("a subscription needs an id");
                };
                if !self.initialised {
                    return match self.protocol {
                        Protocol::Transport => Step::Close(close(4401, "Unauthorized")),
                        Protocol::Legacy => {
                            self.operation_error(&id, "the connection is not initialised")
                        }
                    };
                }
                if self.subscriptions.contains_key(&id) {
                    return match self.protocol {
                        Protocol::Transport => {
                            Step::Close(close(4409, &format!("Subscriber for {id} already exists")))
                        }
                        Protocol::Legacy => self
                            .operation_error(&id, "a subscription with this id is already running"),
                    };
                }
                if self.subscriptions.len() >= self.settings.max_subscriptions_per_connection {
                    return Step::Close(close(
                        1008,
                        &format!(
                            "Too many subscriptions on this connection (limit {})",
                            self.settings.max_subscriptions_per_connection
                        ),
                    ));
                }
                let request = match message
                    .get("payload")
                    .cloned()
                    .map(serde_json::from_value::<async_graphql::Request>)
                {
                    Some(Ok(request)) => request,
                    _ => return self.invalid("the payload is not a GraphQL request"),
                };
                // Every operation checks the token again.
                let caller = self.session.recheck(&self.state.store).await;
                if self.session.lost() {
                    if selects_subscription(&request.query, request.operation_name.as_deref()) {
                        return Step::Refuse(id, revoked());
                    }
                    let task =
                        self.start(id.clone(), request, caller, outbox.clone(), Some(revoked()));
                    self.subscriptions.insert(id, Running::Alone(task));
                    return Step::Continue;
                }
                let running = match self.state.live.executions.join(&self.state, request) {
                    Joined::Shared(subscriber) => {
                        self.feeds
                            .insert(id.clone(), BroadcastStream::new(subscriber.deliveries));
                        Running::Shared {
                            _execution: subscriber.execution,
                            _open: Held::new(&self.state.live.subscriptions),
                        }
                    }
                    Joined::Alone(request) => Running::Alone(self.start(
                        id.clone(),
                        *request,
                        caller,
                        outbox.clone(),
                        None,
                    )),
                };
                self.subscriptions.insert(id, running);
                Step::Continue
            }
            (Protocol::Transport, "complete") | (Protocol::Legacy, "stop") => {
                let Some(id) = id else {
                    return self.invalid("complete needs an id");
                };
                if self.subscriptions.remove(&id).is_some() {
                    self.feeds.remove(&id);
                    if self.protocol == Protocol::Legacy {
                        return Step::Reply(text(json!({ "type": "complete", "id": id })));
                    }
                }
                Step::Continue
            }
            (Protocol::Legacy, "connection_terminate") => {
                Step::Close(close(1000, "Terminated by the client"))
            }
            _ => self.invalid(&format!("unknown message type \"{kind}\"")),
        }
    }

    fn invalid(&self, problem: &str) -> Step {
        match self.protocol {
            Protocol::Transport => {
                Step::Close(close(4400, &format!("Invalid message received: {problem}")))
            }
            Protocol::Legacy => Step::Reply(text(
                json!({ "type": "error", "payload": { "message": problem } }),
            )),
        }
    }

    fn operation_error(&self, id: &str, problem: &str) -> Step {
        Step::Reply(text(
            json!({ "type": "error", "id": id, "payload": { "message": problem } }),
        ))
    }

    /// Runs one operation as `caller`, forwarding its results to the connection's outbox, then
    /// `close_after` when given.
    fn start(
        &self,
        id: String,
        request: async_graphql::Request,
        caller: Caller,
        outbox: mpsc::Sender<Outgoing>,
        close_after: Option<Message>,
    ) -> JoinHandle<()> {
        let origin = Origin {
            transport: Transport::WebSocket,
            caller,
            peer: self.peer,
            request_id: self.request_id.clone(),
        };
        // Not shared: not a subscription (see `shared`).
        let mut stream = execute::prepare(&self.state, origin, request).answer(&self.state.schema);
        let protocol = self.protocol;
        let counter = self.state.live.subscriptions.clone();
        let write_timeout = self.settings.write_timeout;
        tokio::spawn(async move {
            let _open = Held::new(&counter);
            let mut first = true;
            let mut rejected = false;
            while let Some(response) = stream.next().await {
                rejected =
                    first && response.data == async_graphql::Value::Null && response.is_err();
                first = false;
                let message = match (protocol, rejected) {
                    (_, true) => envelope("error", &id, &response.errors),
                    (Protocol::Transport, false) => envelope("next", &id, &response),
                    (Protocol::Legacy, false) => envelope("data", &id, &response),
                };
                // A full outbox means the client is not reading: it must not hold anyone up.
                let sent =
                    tokio::time::timeout(write_timeout, outbox.send(Outgoing::Message(message)))
                        .await;
                if !matches!(sent, Ok(Ok(()))) {
                    let _ = outbox.try_send(Outgoing::Message(close(
                        4000,
                        "Slow consumer: fell too far behind",
                    )));
                    return;
                }
                if rejected {
                    break;
                }
            }
            if !rejected {
                let _ = outbox
                    .send(Outgoing::Message(text(
                        json!({ "type": "complete", "id": id }),
                    )))
                    .await;
            }
            let _ = outbox.send(Outgoing::Finished(id)).await;
            if let Some(close) = close_after {
                let _ = outbox.send(Outgoing::Message(close)).await;
            }
        })
    }
}

/// `{"id":…,"payload":…,"type":…}` around a payload serialised once for every subscriber.
fn wrapped(kind: &str, quoted_id: &str, payload: &str) -> Message {
    let mut body = String::with_capacity(quoted_id.len() + payload.len() + kind.len() + 28);
    body.push_str("{\"id\":");
    body.push_str(quoted_id);
    body.push_str(",\"payload\":");
    body.push_str(payload);
    body.push_str(",\"type\":\"");
    body.push_str(kind);
    body.push_str("\"}");
    Message::Text(Utf8Bytes::from(body))
}

/// Writes `messages`, WRITE_BATCH of them a flush, each flush within `timeout`; false when the
/// client is gone or too slow to take them.
async fn write_all(
    timeout: Duration,
    sink: &mut SplitSink<WebSocket, Message>,
    messages: Vec<Message>,
) -> bool {
    let mut messages = messages.into_iter().peekable();
    while messages.peek().is_some() {
        let chunk = async {
            for message in messages.by_ref().take(WRITE_BATCH) {
                sink.feed(message).await?;
            }
            sink.flush().await
        };
        if !matches!(tokio::time::timeout(timeout, chunk).await, Ok(Ok(()))) {
            return false;
        }
    }
    true
}

/// Writes one message; false when the client is gone or too slow to take it.
async fn write(
    timeout: Duration,
    sink: &mut SplitSink<WebSocket, Message>,
    message: Message,
) -> bool {
    matches!(
        tokio::time::timeout(timeout, sink.send(message)).await,
        Ok(Ok(()))
    )
}

enum Step {
    Continue,
    Reply(Message),
    Close(Message),
    /// Refuses operation `id` as forbidden, then closes with the message.
    Refuse(String, Message),
}

/// The error of an operation refused because the connection's token was revoked.
fn forbidden() -> async_graphql::ServerError {
    crate::error::ApiError::Forbidden(REVOKED.into())
        .into_graphql()
        .into_server_error(async_graphql::Pos::default())
}

/// What a connection whose token was revoked is told.
const REVOKED: &str = "Forbidden: the token was revoked";

/// The close frame of a connection whose token was revoked.
fn revoked() -> Message {
    close(4403, REVOKED)
}

/// The `Authorization` value of a `connection_init` payload.
fn authorization(payload: Option<&Value>) -> Option<&str> {
    payload
        .and_then(|p| p.get("Authorization").or_else(|| p.get("authorization")))
        .and_then(Value::as_str)
}
