//! GraphQL over HTTP at `/graphql`: POST (JSON, or a JSON array when batching is on) and GET
//! (query string, queries only), following the GraphQL-over-HTTP specification; GraphiQL for a
//! browser's GET without a query. Status codes and bodies are in `reply`; the limits every
//! operation meets are the schema's guard.

use super::cached::{self, Method};
use super::params::{self, BadParams};
use super::reply::{self, Media, JSON};
use super::{assets, body_limit, csrf, AppState};
use crate::auth::{self, Caller};
use crate::loaders;
use crate::operator::Peer;
use crate::schema::{code, QueriesOnly};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;

pub(super) async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Option<Extension<Caller>>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
) -> Response {
    let peer = peer.map(|Extension(peer)| peer).unwrap_or_default();
    let media = Media::negotiate(&headers);
    if uri.query().unwrap_or_default().is_empty() && reply::accepts(&headers, "text/html") {
        return assets::graphiql(&headers);
    }
    if state.http.csrf_prevention {
        if let Err(message) = csrf::check_get(&headers, state.http.cors_origins) {
            return reply::refusal(media, StatusCode::FORBIDDEN, csrf::CODE, message);
        }
    }
    let pairs = match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(pairs)) => pairs,
        Err(_) => {
            return bad_request(media, "the query string is not valid URL-encoded UTF-8");
        }
    };
    match params::from_query_pairs(pairs) {
        Ok(request) => {
            let caller = identify(&state, &headers, caller).await;
            let request = request.data(QueriesOnly).data(peer);
            cached::answer(&state, &headers, caller, request, (media, Method::Get)).await
        }
        Err(BadParams(message)) => bad_request(media, message),
    }
}

pub(super) async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Option<Extension<Caller>>,
    peer: Option<Extension<Peer>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let peer = peer.map(|Extension(peer)| peer).unwrap_or_default();
    let media = Media::negotiate(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(JSON) {
        // Also what keeps a cross-site form or text/plain POST from running (see `csrf`).
        return reply::refusal(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "a POST must have Content-Type: application/json",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return body_limit::payload_too_large(media);
        }
        Err(_) => return bad_request(media, "the request body could not be read"),
    };
    if body.is_empty() {
        return bad_request(media, "the request body is empty");
    }
    if std::str::from_utf8(&body).is_err() {
        return bad_request(media, "the request body is not valid UTF-8");
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return bad_request(
                media,
                format!(
                    "the request body is not valid JSON (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            )
        }
    };
    let caller = identify(&state, &headers, caller).await;
    match value {
        serde_json::Value::Array(items) => {
            batch(&state, &headers, media, (caller, peer), items).await
        }
        value => match params::from_json(value) {
            Ok(request) => {
                let request = request.data(peer);
                cached::answer(&state, &headers, caller, request, (media, Method::Post)).await
            }
            Err(BadParams(message)) => bad_request(media, message),
        },
    }
}

/// A JSON array of operations, run one after the other, when batching is on.
async fn batch(
    state: &AppState,
    headers: &HeaderMap,
    media: Media,
    (caller, peer): (Caller, Peer),
    items: Vec<serde_json::Value>,
) -> Response {
    let most = state.http.max_batch;
    if most == 0 {
        return reply::refusal(
            media,
            StatusCode::BAD_REQUEST,
            BATCHING_DISABLED,
            "batched requests are not accepted: send one operation per request",
        );
    }
    if items.len() > most {
        return reply::refusal(
            media,
            StatusCode::BAD_REQUEST,
            BATCH_TOO_LARGE,
            format!(
                "the batch has {} operations; at most {most} are accepted",
                items.len()
            ),
        );
    }
    if items.is_empty() {
        return bad_request(media, "the batch is empty");
    }
    let mut requests = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match params::from_json(item) {
            Ok(request) => requests.push(request),
            Err(BadParams(message)) => {
                return bad_request(media, format!("operation {index} of the batch: {message}"))
            }
        }
    }
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        responses.push(execute(state, headers, caller.clone(), request.data(peer)).await);
    }
    // A batch may hold mutations: answers computed before it are stale.
    state.cache.note_local_change();
    reply::batch(media, &responses, state.http.max_response_bytes)
}

const BATCHING_DISABLED: &str = "BATCHING_DISABLED";
const BATCH_TOO_LARGE: &str = "BATCH_TOO_LARGE";

/// The caller an outer layer identified, or the one the Authorization header names.
async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    known: Option<Extension<Caller>>,
) -> Caller {
    match known {
        Some(Extension(caller)) => caller,
        None => {
            let authorization = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            auth::identify(&state.store, authorization).await
        }
    }
}

pub(super) async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    caller: Caller,
    request: async_graphql::Request,
) -> async_graphql::Response {
    let request = request
        .data(loaders::per_request(state.store.clone()))
        .data(caller);
    super::observability::execute(&state.schema, headers, request).await
}

fn bad_request(media: Media, message: impl Into<String>) -> Response {
    reply::refusal(media, StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
}
