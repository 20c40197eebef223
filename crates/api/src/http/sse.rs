//! GraphQL over Server-Sent Events, the "distinct connections" mode of the graphql-sse protocol:
//! a request with `Accept: text/event-stream` (POST with a JSON body, or GET with a query
//! string) gets one event stream: a `next` event per result, then `complete`. For networks that
//! drop WebSockets.

use super::AppState;
use crate::loaders;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

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
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = crate::auth::identify(&state.store, authorization).await;
    let graphql_request = graphql_request
        .data(loaders::per_request(state.store.clone()))
        .data(caller);
    let open = state.live.subscription_guard();
    let results = state
        .schema
        .execute_stream(graphql_request)
        .map(|response| {
            let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
            Ok::<_, Infallible>(Event::default().event("next").data(data))
        });
    let complete = futures_util::stream::once(async move {
        drop(open);
        Ok::<_, Infallible>(Event::default().event("complete").data(""))
    });
    Sse::new(results.chain(complete))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
