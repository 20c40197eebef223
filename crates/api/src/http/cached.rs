//! GraphQL over HTTP through the response cache (see `crate::response_cache`).
//!
//! A single query (a GET, or a POST whose selected operation is a query) is answered from the
//! cache, from an identical request being executed now, or executed and kept when its answer is
//! a 200 without errors. The key adds the caller's role, the media type and the content encoding
//! (gzip when the client accepts it: the compressed bytes are kept). A kept answer carries an
//! `ETag`; a request whose `If-None-Match` names the current tag gets `304 Not Modified`. GETs
//! and persisted queries also get `Cache-Control: no-cache` (`public` for anonymous callers,
//! `private` otherwise), so that HTTP caches revalidate with the tag. A mutation sent by POST
//! makes every answer computed before it stale. Everything else (batches, subscriptions,
//! callers whose token could not be checked) runs as before.

use super::execute::{self, Origin};
use super::reply::{self, Media};
use super::AppState;
use crate::auth::Caller;
use crate::response_cache::{Answer, Cached, RequestKey};
use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::Write as _;

/// How the request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    /// A GET: queries only (the schema refuses anything else).
    Get,
    Post,
}

/// The answer to one GraphQL-over-HTTP request, through the cache when it may be.
///
/// A hit costs no parsing: the key is taken from the request's text, and only an answer to a
/// query is ever kept under it. The document is parsed (once, for its execution too) on a miss,
/// to tell a query from a mutation before identical requests are coalesced.
pub(super) async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    origin: Origin,
    mut request: async_graphql::Request,
    (media, method): (Media, Method),
) -> Response {
    let Some(role) = role(&origin.caller).filter(|_| state.cache.usable()) else {
        return uncached(state, origin, request, media).await;
    };
    let gzip = accepts_gzip(headers);
    let variant = match (media, gzip) {
        (Media::GraphqlResponse, true) => "graphql-response+json/gzip",
        (Media::GraphqlResponse, false) => "graphql-response+json",
        (Media::Json, true) => "json/gzip",
        (Media::Json, false) => "json",
    };
    let key = RequestKey::of(&request, role, variant);
    let revalidate = method == Method::Get || request.extensions.contains_key("persistedQuery");
    let cache_control = HeaderValue::from_static(match origin.caller {
        Caller::Anonymous => "public, no-cache",
        _ => "private, no-cache",
    });
    if let Some(sent) = headers.get(header::IF_NONE_MATCH) {
        // Only a kept answer (to a query) hands out the tag of this key and version.
        if let Some(current) = state.cache.etag(key).filter(|tag| matches_tag(sent, tag)) {
            let mut reply = StatusCode::NOT_MODIFIED.into_response();
            reply.headers_mut().insert(header::ETAG, current);
            if revalidate {
                reply
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, cache_control);
            }
            return reply;
        }
    }
    let cached = match state.cache.get(key) {
        Some(cached) => cached,
        None => {
            // A GET runs queries only (the guard refuses anything else).
            let operation = crate::schema::selected_type(&mut request);
            if method == Method::Post && operation != Some(OperationType::Query) {
                return uncached(state, origin, request, media).await;
            }
            let compute = compute(state.clone(), origin, request, media, gzip);
            match state.cache.get_or_compute(key, compute).await {
                Ok(cached) => cached,
                // The cache became unusable in between (the change listener dropped).
                Err(compute) => {
                    let (answer, _) = compute.await;
                    return send(&Cached {
                        answer: answer.into(),
                        etag: None,
                    });
                }
            }
        }
    };
    let mut reply = send(&cached);
    if cached.etag.is_some() && revalidate {
        reply
            .headers_mut()
            .insert(header::CACHE_CONTROL, cache_control);
    }
    reply
}

/// Runs a request the cache does not answer. A mutation makes every answer computed before it
/// stale.
async fn uncached(
    state: &AppState,
    origin: Origin,
    request: async_graphql::Request,
    media: Media,
) -> Response {
    match run(state, origin, request, media).await {
        Ok((response, kind)) => {
            if kind == Some(OperationType::Mutation) {
                state.cache.note_local_change();
            }
            reply::graphql(media, &response, state.http.max_response_bytes)
        }
        Err(busy) => busy,
    }
}

/// Runs `request` once admitted (see `admission`): its response and the type of operation it
/// ran, or the refusal of a request that waited too long for its turn.
async fn run(
    state: &AppState,
    origin: Origin,
    request: async_graphql::Request,
    media: Media,
) -> Result<(async_graphql::Response, Option<OperationType>), Response> {
    let Some(_admitted) = state.admission.enter().await else {
        return Err(busy(media));
    };
    let prepared = execute::prepare(state, origin, request);
    let kind = prepared.kind();
    let response = prepared.run(&state.schema).await;
    Ok((response, kind.get()))
}

/// Executes the request and shapes its answer; it may be kept when it is a 200 without errors.
async fn compute(
    state: AppState,
    origin: Origin,
    request: async_graphql::Request,
    media: Media,
    gzip: bool,
) -> (Answer, bool) {
    let (clean, reply) = match run(&state, origin, request, media).await {
        Ok((response, _)) => (
            response.errors.is_empty(),
            reply::graphql(media, &response, state.http.max_response_bytes),
        ),
        Err(busy) => (false, busy),
    };
    let (parts, body) = reply.into_parts();
    // The body is a buffer already: collecting it copies nothing.
    let Ok(mut body) = axum::body::to_bytes(body, usize::MAX).await else {
        let answer = Answer {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            headers: HeaderMap::new(),
            body: Default::default(),
        };
        return (answer, false);
    };
    let mut headers = parts.headers;
    if gzip {
        if let Some(compressed) = compress(&body) {
            body = compressed.into();
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            headers.remove(header::CONTENT_LENGTH);
        }
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-encoding, authorization"),
    );
    let keep = clean && parts.status == StatusCode::OK;
    let answer = Answer {
        status: parts.status,
        headers,
        body,
    };
    (answer, keep)
}

/// The refusal of a request that waited too long for its turn (see `admission`).
fn busy(media: Media) -> Response {
    reply::refusal(
        media,
        StatusCode::SERVICE_UNAVAILABLE,
        super::admission::BUSY_CODE,
        super::admission::BUSY_MESSAGE,
    )
}

fn send(cached: &Cached) -> Response {
    let mut reply = Response::new(Body::from(cached.answer.body.clone()));
    *reply.status_mut() = cached.answer.status;
    reply.headers_mut().extend(
        cached
            .answer
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    if let Some(etag) = &cached.etag {
        reply.headers_mut().insert(header::ETAG, etag.clone());
    }
    reply
}

/// The part of the caller that decides what it may read; `None` when that is not known.
fn role(caller: &Caller) -> Option<&'static str> {
    match caller {
        Caller::Anonymous => Some("anonymous"),
        Caller::Invalid => Some("invalid"),
        Caller::Revoked(_) => Some("revoked"),
        Caller::Operator(_) => Some("operator"),
        Caller::Unknown => None,
    }
}

/// Whether `Accept-Encoding` accepts gzip (with a quality above 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether an `If-None-Match` value names `current`; weak tags compare weakly. (`*` is not
/// honoured: it would also match an answer that is not kept.)
fn matches_tag(sent: &HeaderValue, current: &HeaderValue) -> bool {
    let Ok(sent) = sent.to_str() else {
        return false;
    };
    let current = current.to_str().unwrap_or_default();
    sent.split(',')
        .map(str::trim)
        .any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == current)
}

fn compress(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        assert!(accepts_gzip(&headers(header::ACCEPT_ENCODING, "gzip, br")));
        assert!(accepts_gzip(&headers(
            header::ACCEPT_ENCODING,
            "br;q=1, GZIP;q=0.5"
        )));
        assert!(accepts_gzip(&headers(header::ACCEPT_ENCODING, "*")));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "gzip;q=0")));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_names_the_tag() {
        let current = HeaderValue::from_static("\"abc-1-2\"");
        assert!(matches_tag(
            &HeaderValue::from_static("\"abc-1-2\""),
            &current
        ));
        assert!(matches_tag(
            &HeaderValue::from_static("\"x\", W/\"abc-1-2\""),
            &current
        ));
        assert!(!matches_tag(&HeaderValue::from_static("*"), &current));
        assert!(!matches_tag(
            &HeaderValue::from_static("\"abc-1-3\""),
            &current
        ));
    }
}
