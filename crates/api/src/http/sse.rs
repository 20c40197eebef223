//! GraphQL over Server-Sent Events, the "distinct connections" mode of the graphql-sse protocol:
//! a request with `Accept: text/event-stream` (POST with a JSON body, or GET with a query
//! string) gets one event stream: a `next` event per result, then `complete`. For networks that
//! drop WebSockets. When the server shuts down, every stream gets `complete` at once and ends.
//!
//! A stream opened with an operator token checks the token again every `token_recheck`; once it
//! is revoked the stream gets a `next` event with a `FORBIDDEN` error, then `complete`, and ends.

use super::execute::{self, Origin, Transport};
use super::observability::RequestId;
use super::shared::{Joined, Subscriber};
use super::AppState;
use crate::auth::Session;
use crate::error::ApiError;
use crate::operator::Peer;
use async_graphql::Pos;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use techbalance_store::Store;
use tokio::sync::broadcast::error::RecvError;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether the client asks for an event stream.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|part| part.trim().starts_with("text/event-stream"))
        })
}

pub(super) async fn serve(state: AppState, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let graphql_request = if parts.method == axum::http::Method::GET {
        async_graphql::http::parse_query_string(parts.uri.query().unwrap_or_default())
            .map_err(|e| e.to_string())
    } else {
        match axum::body::to_bytes(body, state.max_body_bytes).await {
            Ok(bytes) => {
                serde_json::from_slice::<async_graphql::Request>(&bytes).map_err(|e| e.to_string())
            }
            Err(_) => {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                )
                    .into_response()
            }
        }
    };
    let graphql_request = match graphql_request {
        Ok(request) => request,
        Err(problem) => {
            let body = serde_json::json!({ "errors": [{ "message": format!("invalid GraphQL request: {problem}") }] });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    let session = execute::identify(&state.store, execute::authorization(&parts.headers)).await;
    let guard = Guard {
        store: state.store.clone(),
        every: state.live.settings().token_recheck,
    };
    let open = state.live.subscription_guard();
    let closed = state.live.closed();
    let graphql_request = match state.live.executions().join(&state, graphql_request) {
        Joined::Shared(subscriber) => {
            return Sse::new(guard.events(shared(subscriber, open, closed), session))
                .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
                .into_response()
        }
        Joined::Alone(request) => *request,
    };
    let origin = Origin {
        transport: Transport::EventStream,
        caller: session.caller().clone(),
        peer: parts.extensions.get::<Peer>().copied().unwrap_or_default(),
        request_id: parts.extensions.get::<RequestId>().cloned(),
    };
    // Not shared: not a subscription (see `shared`).
    let results = execute::prepare(&state, origin, graphql_request)
        .answer(&state.schema)
        .take_until(closed)
        .map(|response| {
            let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
            Ok::<_, Infallible>(Event::default().event("next").data(data))
        });
    let complete = futures_util::stream::once(async move {
        drop(open);
        Ok::<_, Infallible>(Event::default().event("complete").data(""))
    });
    Sse::new(guard.events(results.chain(complete), session))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// What checks a stream's token while it is open.
struct Guard {
    store: Store,
    every: Duration,
}

/// What happened next to a guarded stream.
enum Next {
    Event(Option<Result<Event, Infallible>>),
    Recheck,
}

impl Guard {
    /// `events`, ended with a `FORBIDDEN` error and `complete` once the session's token is
    /// revoked.
    fn events(
        self,
        events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
        mut session: Session,
    ) -> impl Stream<Item = Result<Event, Infallible>> {
        async_stream::stream! {
            let mut events = Box::pin(events);
            let mut recheck = tokio::time::interval(self.every);
            recheck.tick().await;
            loop {
                let next = tokio::select! {
                    event = events.next() => Next::Event(event),
                    _ = recheck.tick(), if session.checks_again() => Next::Recheck,
                };
                match next {
                    Next::Event(Some(event)) => yield event,
                    Next::Event(None) => break,
                    Next::Recheck => {
                        session.recheck(&self.store).await;
                        if session.lost() {
                            let error = ApiError::Forbidden(
                                "the token was revoked; this stream is closed".into(),
                            );
                            yield Ok(error_event(error));
                            yield Ok(Event::default().event("complete").data(""));
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// A `next` event carrying `error` alone.
fn error_event(error: ApiError) -> Event {
    let error = error.into_graphql().into_server_error(Pos::default());
    let response = async_graphql::Response::from_errors(vec![error]);
    let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event("next").data(data)
}

/// The events of a subscriber of a shared execution: a `next` for each payload, then
/// `complete` (also when the server shuts down). A subscriber whose deliveries were overtaken gets
/// a `SLOW_CONSUMER` error instead.
fn shared(
    subscriber: Subscriber,
    open: impl Send + 'static,
    closed: impl Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let Subscriber {
        execution,
        mut deliveries,
    } = subscriber;
    async_stream::stream! {
        // Both are released when the client goes and this stream is dropped.
        let _held = (open, execution);
        let mut closed = std::pin::pin!(closed);
        loop {
            let received = tokio::select! {
                received = deliveries.recv() => received,
                () = &mut closed => break,
            };
            match received {
                Ok(delivery) => {
                    for payload in &delivery.payloads {
                        yield Ok(Event::default().event("next").data(&*payload.response));
                    }
                    if delivery.ends() {
                        break;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    let error = ApiError::SlowConsumer(format!(
                        "this subscription fell {skipped} batches behind and was closed; resubscribe and refetch"
                    ));
                    yield Ok(error_event(error));
                    break;
                }
                Err(RecvError::Closed) => break,
            }
        }
        yield Ok(Event::default().event("complete").data(""));
    }
}
