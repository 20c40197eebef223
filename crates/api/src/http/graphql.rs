//! GraphQL over HTTP at `/graphql`: POST (JSON, or a JSON array when batching is on) and GET
//! (query string, queries only), following the GraphQL-over-HTTP specification; GraphiQL for a
//! browser's GET without a query. Status codes and bodies are in `reply`; the limits every
//! operation meets are the schema's guard.

use super::cached::{self, Method};
use super::execute::{self, Origin, Transport};
use super::observability::RequestId;
use super::params::{self, BadParams};
use super::reply::{self, Media, JSON};
use super::{assets, body_limit, csrf, AppState};
use crate::error::ErrorCode;
use crate::operator::Peer;
use crate::schema::QueriesOnly;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;

pub(super) async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<Peer>>,
    request_id: Option<Extension<RequestId>>,
    uri: Uri,
) -> Response {
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
            let origin = origin(&state, &headers, peer, request_id).await;
            let request = request.data(QueriesOnly);
            cached::answer(&state, &headers, origin, request, (media, Method::Get)).await
        }
        Err(BadParams(message)) => bad_request(media, message),
    }
}

pub(super) async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<Peer>>,
    request_id: Option<Extension<RequestId>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
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
            ErrorCode::UnsupportedMediaType,
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
    let origin = origin(&state, &headers, peer, request_id).await;
    match value {
        serde_json::Value::Array(items) => batch(&state, media, origin, items).await,
        value => match params::from_json(value) {
            Ok(request) => {
                cached::answer(&state, &headers, origin, request, (media, Method::Post)).await
            }
            Err(BadParams(message)) => bad_request(media, message),
        },
    }
}

/// A JSON array of operations, run one after the other, when batching is on.
async fn batch(
    state: &AppState,
    media: Media,
    origin: Origin,
    items: Vec<serde_json::Value>,
) -> Response {
    let most = state.http.max_batch;
    if most == 0 {
        return reply::refusal(
            media,
            StatusCode::BAD_REQUEST,
            ErrorCode::BatchingDisabled,
            "batched requests are not accepted: send one operation per request",
        );
    }
    if items.len() > most {
        return reply::refusal(
            media,
            StatusCode::BAD_REQUEST,
            ErrorCode::BatchTooLarge,
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
        let prepared = execute::prepare(state, origin.clone(), request);
        responses.push(prepared.run(&state.schema).await);
    }
    // A batch may hold mutations: answers computed before it are stale.
    state.cache.note_local_change();
    reply::batch(media, &responses, state.http.max_response_bytes)
}

/// Who sent a GraphQL-over-HTTP request.
async fn origin(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Extension<Peer>>,
    request_id: Option<Extension<RequestId>>,
) -> Origin {
    let session = execute::identify(&state.store, execute::authorization(headers)).await;
    Origin {
        transport: Transport::Http,
        caller: session.caller().clone(),
        peer: peer.map(|Extension(peer)| peer).unwrap_or_default(),
        request_id: request_id.map(|Extension(id)| id),
    }
}

fn bad_request(media: Media, message: impl Into<String>) -> Response {
    reply::refusal(
        media,
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
        message,
    )
}
