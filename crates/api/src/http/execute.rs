//! One way to run a GraphQL operation, whatever carries it: HTTP, a WebSocket, an event stream,
//! or a shared subscription execution. A transport only reads operations off the wire and writes
//! their answers back; everything in between is here, in three steps:
//!
//! 1. [`identify`]: who is calling, from the `Authorization` value the transport received (a
//!    header, or a WebSocket's `connection_init` payload), as a [`Session`] that long-lived
//!    connections check again;
//! 2. [`prepare`]: the request gets per-request loaders, the caller, the client's address and the
//!    request id, a `graphql` tracing span, and a place in the metrics;
//! 3. [`Prepared::run`] for one answer (HTTP), [`Prepared::answer`] for the one answer of a query
//!    or a mutation as a stream (WebSocket, event stream), or [`Prepared::stream`] for a
//!    subscription's answers: the schema executes it inside its span (queries and mutations
//!    within the operation's time limit), it is counted in `techbalance_graphql_requests_total`
//!    by operation name, type and outcome, and its errors carry the request id as
//!    `extensions.requestId`.

use super::observability::{GraphqlRequest, RequestId};
use super::AppState;
use crate::auth::{Caller, Session};
use crate::loaders;
use crate::operator::Peer;
use crate::schema::{AppSchema, OperationKind};
use async_graphql::{Request, Response};
use axum::http::{header, HeaderMap};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use techbalance_store::Store;
use tracing::{Instrument, Span};

/// Who is calling, from the `Authorization` value presented (`None`: nothing presented).
pub(super) async fn identify(store: &Store, authorization: Option<&str>) -> Session {
    Session::open(store, authorization).await
}

/// The `Authorization` header's value.
pub(super) fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// What carried an operation (the `techbalance.transport` attribute of its span).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    Http,
    WebSocket,
    EventStream,
    /// A subscription execution shared by its subscribers (see [`shared`](super::shared)).
    Shared,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
            Transport::EventStream => "sse",
            Transport::Shared => "shared",
        }
    }
}

/// Who sent an operation, and over what.
#[derive(Clone, Debug)]
pub(super) struct Origin {
    pub(super) transport: Transport,
    pub(super) caller: Caller,
    pub(super) peer: Peer,
    /// The id of the HTTP request that carried the operation (for a WebSocket, its upgrade).
    pub(super) request_id: Option<RequestId>,
}

impl Origin {
    /// A shared execution's: it runs for no one in particular (see [`shared`](super::shared)).
    pub(super) fn shared() -> Self {
        Self {
            transport: Transport::Shared,
            caller: Caller::Anonymous,
            peer: Peer::default(),
            request_id: None,
        }
    }
}

/// An operation ready to run.
pub(super) struct Prepared {
    request: Request,
    span: Span,
    observed: Observed,
    request_id: Option<RequestId>,
}

/// An operation's metrics, and its span, which learns the operation's type however it ends.
struct Observed {
    span: Span,
    metrics: GraphqlRequest,
}

impl Observed {
    /// Counts an answer (the first one only).
    fn answered(&mut self, response: &Response) {
        self.metrics.answered(response);
    }

    /// Counts a stream that ended without an answer.
    fn ended(&mut self) {
        self.metrics.ended();
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.span
            .record("graphql.operation.type", self.metrics.kind());
    }
}

/// Prepares `request` to run for `origin`.
pub(super) fn prepare(state: &AppState, origin: Origin, request: Request) -> Prepared {
    let kind = OperationKind::default();
    let metrics = GraphqlRequest::start(&request, kind.clone());
    let Origin {
        transport,
        caller,
        peer,
        request_id,
    } = origin;
    let name = format!("graphql {}", metrics.operation());
    let operation_name = request.operation_name.as_deref();
    let id = request_id.as_ref().map(RequestId::as_str);
    let span = if transport == Transport::Shared {
        // It outlives the subscriber whose request started it.
        tracing::info_span!(
            parent: None,
            "graphql",
            otel.name = %name,
            graphql.operation.name = operation_name,
            graphql.operation.type = tracing::field::Empty,
            techbalance.transport = transport.as_str(),
        )
    } else {
        tracing::info_span!(
            "graphql",
            otel.name = %name,
            graphql.operation.name = operation_name,
            graphql.operation.type = tracing::field::Empty,
            techbalance.transport = transport.as_str(),
            request_id = id,
        )
    };
    let mut request = request
        .data(loaders::per_request(state.store.clone(), &state.reference))
        .data(caller)
        .data(peer)
        .data(kind);
    if let Some(id) = &request_id {
        request = request.data(id.clone());
    }
    Prepared {
        request,
        observed: Observed {
            span: span.clone(),
            metrics,
        },
        span,
        request_id,
    }
}

impl Prepared {
    /// Learns the selected operation's type once the operation has run (see [`OperationKind`]).
    pub(super) fn kind(&self) -> OperationKind {
        self.observed.metrics.operation_kind()
    }

    /// Runs the operation to its one answer.
    pub(super) async fn run(self, schema: &AppSchema) -> Response {
        let Prepared {
            request,
            span,
            mut observed,
            request_id,
        } = self;
        let mut response = schema.execute(request).instrument(span).await;
        observed.answered(&response);
        with_request_id(&mut response, request_id.as_ref());
        response
    }

    /// Runs an operation that is no subscription (as [`shared`](super::shared) found when it
    /// would not share it) as a stream of its one answer, within the operation's time limit,
    /// which only applies to single answers. A persisted query sent by its hash alone may be a
    /// subscription: it is streamed.
    pub(super) fn answer(self, schema: &AppSchema) -> BoxStream<'static, Response> {
        if self.request.query.is_empty() {
            return self.stream(schema).boxed();
        }
        let schema = schema.clone();
        futures_util::stream::once(async move { self.run(&schema).await }).boxed()
    }

    /// Runs the operation as a stream of answers (a subscription's).
    pub(super) fn stream(
        self,
        schema: &AppSchema,
    ) -> impl Stream<Item = Response> + Send + 'static {
        let Prepared {
            request,
            span,
            mut observed,
            request_id,
        } = self;
        let mut answers = schema.execute_stream(request);
        async_stream::stream! {
            while let Some(mut response) = answers.next().instrument(span.clone()).await {
                observed.answered(&response);
                with_request_id(&mut response, request_id.as_ref());
                yield response;
            }
            observed.ended();
        }
    }
}

/// Adds the request id to every error's `extensions.requestId`.
fn with_request_id(response: &mut Response, request_id: Option<&RequestId>) {
    let Some(id) = request_id else {
        return;
    };
    for error in &mut response.errors {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", id.as_str());
    }
}
