//! What a GraphQL-over-HTTP request gets back: the media type the client accepts, and the
//! status and body for an executed response, a refused request or a batch.
//!
//! With `application/graphql-response+json`, a request that never executed (parse, validation or
//! variable errors, a limit) is a 400 without `data`; legacy `application/json` clients get 200
//! for those, as the GraphQL-over-HTTP specification asks. A GET mutation is a 405 and a timeout
//! a 504 for both; a database outage with nothing else to say is a 503.

use super::status::outage_status;
use crate::error::ErrorCode;
use crate::schema::refused;
use async_graphql::{Response as GraphqlResponse, ServerError, Value};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(super) const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
pub(super) const JSON: &str = "application/json";

/// The media type of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    /// `application/graphql-response+json` when the client names it, with a quality no lower
    /// than `application/json`'s; otherwise `application/json` (legacy clients, `*/*`, no Accept).
    pub(super) fn negotiate(headers: &HeaderMap) -> Media {
        let mut graphql_response = 0.0f32;
        let mut json = 0.0f32;
        for range in headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media_type.as_str() {
                GRAPHQL_RESPONSE => graphql_response = graphql_response.max(quality),
                JSON | "application/*" | "*/*" => json = json.max(quality),
                _ => {}
            }
        }
        if graphql_response > 0.0 && graphql_response >= json {
            Media::GraphqlResponse
        } else {
            Media::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => GRAPHQL_RESPONSE,
            Media::Json => JSON,
        })
    }
}

/// Whether the Accept header lists `media_type` (ignoring parameters and quality).
pub(super) fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(media_type)
        })
}

/// A request refused before it reached the schema, with `extensions.code`.
pub(super) fn refusal(
    media: Media,
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> Response {
    body(
        status,
        media,
        &json!({ "errors": [refused(code, message)] }),
    )
}

/// An executed (or refused by the schema) GraphQL response, refused with
/// `RESPONSE_TOO_LARGE` if its JSON would pass `max_bytes`.
pub(super) fn graphql(media: Media, response: &GraphqlResponse, max_bytes: usize) -> Response {
    let (status, value) = shape(media, response);
    let Some(bytes) = capped(&value, max_bytes) else {
        return too_large(media, max_bytes);
    };
    let mut reply = with_bytes(status, media, bytes);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        reply
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    reply
}

/// The answers of a batch, in order; each item is shaped as a single answer would be. The
/// whole batch is refused if its JSON would pass `max_bytes`.
pub(super) fn batch(media: Media, responses: &[GraphqlResponse], max_bytes: usize) -> Response {
    let items: Vec<Shaped<'_>> = responses.iter().map(|r| shape(media, r).1).collect();
    match capped(&items, max_bytes) {
        Some(bytes) => with_bytes(StatusCode::OK, media, bytes),
        None => too_large(media, max_bytes),
    }
}

/// The refusal of an answer past `max_bytes`: 400 for `application/graphql-response+json`,
/// 200 for legacy `application/json` clients, as for the other limits.
fn too_large(media: Media, max_bytes: usize) -> Response {
    tracing::warn!(
        max_bytes,
        "answer refused: larger than the response size limit"
    );
    let status = match media {
        Media::GraphqlResponse => StatusCode::BAD_REQUEST,
        Media::Json => StatusCode::OK,
    };
    refusal(
        media,
        status,
        ErrorCode::ResponseTooLarge,
        format!(
            "the answer is larger than {max_bytes} bytes; ask for fewer fields, smaller pages or \
             narrower year ranges"
        ),
    )
}

/// `value` as JSON, unless it passes `max_bytes` (serialisation stops there).
fn capped(value: &impl serde::Serialize, max_bytes: usize) -> Option<Vec<u8>> {
    struct Capped {
        bytes: Vec<u8>,
        max: usize,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.bytes.len() + buf.len() > self.max {
                return Err(std::io::Error::other("response size limit"));
            }
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped {
        bytes: Vec::new(),
        max: max_bytes,
    };
    serde_json::to_writer(&mut out, value).ok()?;
    Some(out.bytes)
}

/// The status and body of one response: no `data` when it never executed.
fn shape(media: Media, response: &GraphqlResponse) -> (StatusCode, Shaped<'_>) {
    let refusal = (response.data == Value::Null)
        .then(|| response.errors.iter().find_map(refusal_code))
        .flatten();
    let Some(refusal) = refusal else {
        let status = outage_status(response).unwrap_or(StatusCode::OK);
        return (status, Shaped::Whole(response));
    };
    let status = match refusal {
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ if media == Media::GraphqlResponse => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    (status, Shaped::WithoutData(response))
}

/// An answer as it is sent, serialised straight from the response (no intermediate JSON tree):
/// whole, or without `data` for an operation that did not run. Every object's members are in
/// the order of their names, at every level, as they were when answers went through a
/// `serde_json::Value`: async-graphql collects an object's fields in the order they finish, so
/// without it the same request could give different bytes (and a cached answer, ETag included,
/// whichever order its computation happened to take).
enum Shaped<'a> {
    Whole(&'a GraphqlResponse),
    WithoutData(&'a GraphqlResponse),
}

impl serde::Serialize for Shaped<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let (response, data) = match self {
            Shaped::Whole(response) => (response, true),
            Shaped::WithoutData(response) => (response, false),
        };
        let mut map = serializer.serialize_map(None)?;
        if data {
            map.serialize_entry("data", &Ordered(&response.data))?;
        }
        if !response.errors.is_empty() {
            // Few and small: through a JSON tree, which orders their members.
            let errors = serde_json::to_value(&response.errors).map_err(S::Error::custom)?;
            map.serialize_entry("errors", &errors)?;
        }
        if !response.extensions.is_empty() {
            let extensions: std::collections::BTreeMap<_, _> = response
                .extensions
                .iter()
                .map(|(name, value)| (name, Ordered(value)))
                .collect();
            map.serialize_entry("extensions", &extensions)?;
        }
        map.end()
    }
}

/// A GraphQL value with each object's members in the order of their names.
struct Ordered<'a>(&'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(members) => {
                let mut sorted: Vec<_> = members.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                let mut map = serializer.serialize_map(Some(sorted.len()))?;
                for (name, value) in sorted {
                    map.serialize_entry(name.as_str(), &Ordered(value))?;
                }
                map.end()
            }
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ordered(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// The code of an error that means the operation did not run (to completion).
fn refusal_code(error: &ServerError) -> Option<ErrorCode> {
    ErrorCode::of(error).filter(|code| code.is_request_error() || *code == ErrorCode::Timeout)
}

fn with_bytes(status: StatusCode, media: Media, bytes: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        bytes,
    )
        .into_response()
}

fn body(status: StatusCode, media: Media, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_bytes(status, media, bytes),
        Err(err) => {
            tracing::error!(error = %err, "response serialisation failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn graphql_response_json_is_chosen_only_when_named_and_preferred() {
        assert_eq!(Media::negotiate(&HeaderMap::new()), Media::Json);
        assert_eq!(Media::negotiate(&accept("*/*")), Media::Json);
        assert_eq!(Media::negotiate(&accept(JSON)), Media::Json);
        assert_eq!(
            Media::negotiate(&accept(GRAPHQL_RESPONSE)),
            Media::GraphqlResponse
        );
        assert_eq!(
            Media::negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Media::GraphqlResponse
        );
        assert_eq!(
            Media::negotiate(&accept(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Media::Json
        );
        assert_eq!(
            Media::negotiate(&accept("application/graphql-response+json;q=0")),
            Media::Json
        );
    }
}
