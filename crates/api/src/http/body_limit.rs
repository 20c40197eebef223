//! Request bodies larger than `TECHBALANCE_MAX_BODY_BYTES`. A body that declares its length is
//! refused before it is read; one that streams (chunked) is cut off at the limit by
//! `tower_http`'s `RequestBodyLimitLayer`, whoever reads it. Either way the answer is a JSON 413
//! with `Connection: close`, since the rest of the body stays unread: a client must not send its
//! next request on that connection.
//!
//! A declared body of up to [`DRAIN_BYTES`] is read and thrown away before the answer. Ordinary
//! HTTP clients send their whole body before reading the answer, and would otherwise see a reset
//! connection rather than the 413; past that size a client gets the answer as early as possible.

use super::reply::{refusal, Media};
use crate::error::ErrorCode;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use std::time::Duration;

/// The `extensions.code` of an oversized body.
pub(super) const CODE: ErrorCode = ErrorCode::PayloadTooLarge;

/// The most of an oversized declared body read (and discarded) before answering.
const DRAIN_BYTES: u64 = 1 << 20;
/// The longest spent reading it.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The middleware, with the limit as its state.
pub(super) async fn refuse_declared(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => {
            let media = Media::negotiate(request.headers());
            if length <= DRAIN_BYTES {
                drain(request.into_body()).await;
            }
            payload_too_large(media)
        }
        _ => next.run(request).await,
    }
}

async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut read = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// The 413, in JSON, closing the connection.
pub(super) fn payload_too_large(media: Media) -> Response {
    let mut response = refusal(
        media,
        StatusCode::PAYLOAD_TOO_LARGE,
        CODE,
        "the request body is larger than this server accepts",
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// For any other 413 (`tower_http`'s own is plain text): the same JSON answer.
pub(super) async fn as_json(response: Response) -> Response {
    let plain = response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("json"));
    if plain {
        payload_too_large(Media::Json)
    } else {
        response
    }
}
