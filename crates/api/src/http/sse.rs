//! GraphQL over Server-Sent Events, the "distinct connections" mode of the graphql-sse protocol:
//! a request with `Accept: text/event-stream` (POST with a JSON body, or GET with a query
//! string) gets one event stream: a `next` event per result, then `complete`. For networks that
//! drop WebSockets. When the server shuts down, every stream gets `complete` at once and ends.

use super::shared::{Joined, Subscriber};
use super::AppState;
use crate::error::ApiError;
use crate::loaders;
use async_graphql::Pos;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
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
    let open = state.live.subscription_guard();
    let closed = state.live.closed();
    let graphql_request = match state.live.executions().join(&state, graphql_request) {
        Joined::Shared(subscriber) => {
            return Sse::new(shared(subscriber, open, closed))
                .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
                .into_response()
        }
        Joined::Alone(request) => *request,
    };
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = crate::auth::identify(&state.store, authorization).await;
    let graphql_request = graphql_request
        .data(loaders::per_request(state.store.clone()))
        .data(caller);
    let results = state
        .schema
        .execute_stream(graphql_request)
        .take_until(closed)
        .map(|response| {
            let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
            Ok::<_, Infallible>(Event::default().event("next").data(data))
        });
    let complete = futures_util::stream::once(async move {
        drop(open);
        Ok::<_, Infallible>(Event::default().event("complete").data(""))
    });
    Sse::new(results.chain(complete))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The events of a subscriber of a shared execution: a `next` for each payload, then
/// `complete` (also when the server shuts down). A subscriber whose batches were overtaken gets
/// a `SLOW_CONSUMER` error instead.
fn shared(
    subscriber: Subscriber,
    open: impl Send + 'static,
    closed: impl Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let Subscriber {
        execution,
        mut batches,
    } = subscriber;
    async_stream::stream! {
        // Both are released when the client goes and this stream is dropped.
        let _held = (open, execution);
        let mut closed = std::pin::pin!(closed);
        loop {
            let received = tokio::select! {
                received = batches.recv() => received,
                () = &mut closed => break,
            };
            match received {
                Ok(batch) => {
                    for payload in &batch.payloads {
                        yield Ok(Event::default().event("next").data(&*payload.response));
                    }
                    if batch.ends() {
                        break;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    let error = ApiError::SlowConsumer(format!(
                        "this subscription fell {skipped} batches behind and was closed; resubscribe and refetch"
                    ))
                    .into_graphql()
                    .into_server_error(Pos::default());
                    let response = async_graphql::Response::from_errors(vec![error]);
                    let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
                    yield Ok(Event::default().event("next").data(data));
                    break;
                }
                Err(RecvError::Closed) => break,
            }
        }
        yield Ok(Event::default().event("complete").data(""));
    }
}
