//! Which other origins' browser pages may call the API (CORS), from `TECHBALANCE_CORS_ORIGINS`.
//! No origin by default: only pages served by the API itself (GraphiQL) call it from a browser.

use axum::http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// Request headers a page from an allowed origin may send, besides those browsers never ask
/// about: what GraphQL clients and tracing libraries send. The custom ones force a preflight
/// (see `csrf`). `TECHBALANCE_CORS_HEADERS` adds more, or allows any.
pub const ALLOWED_HEADERS: [&str; 25] = [
    // The request itself.
    "accept",
    "authorization",
    "content-type",
    "x-request-id",
    // CSRF prevention headers (GraphQL over HTTP, Apollo).
    "x-graphql-csrf",
    "apollo-require-preflight",
    // Apollo Client: client awareness and the operation name.
    "apollographql-client-name",
    "apollographql-client-version",
    "x-apollo-operation-name",
    // W3C Trace Context and Baggage (OpenTelemetry).
    "traceparent",
    "tracestate",
    "baggage",
    // Zipkin B3, single and multiple headers.
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    // Sentry.
    "sentry-trace",
    // Datadog.
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-origin",
    "x-datadog-sampling-priority",
    "x-datadog-tags",
    // Request correlation.
    "x-correlation-id",
];

/// Which request headers allowed origins may send (`TECHBALANCE_CORS_HEADERS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CorsHeaders {
    /// [`ALLOWED_HEADERS`].
    #[default]
    Standard,
    /// [`ALLOWED_HEADERS`] and these (lowercase names), kept for the life of the process.
    Extra(&'static [HeaderName]),
    /// Whatever a preflight asks for (`*`).
    Any,
}

impl CorsHeaders {
    /// Parses a comma-separated list of header names to allow besides [`ALLOWED_HEADERS`], or
    /// `*` for any.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(CorsHeaders::Any);
        }
        let mut extra = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
                Ok(header) if !ALLOWED_HEADERS.contains(&header.as_str()) => extra.push(header),
                Ok(_) => {}
                Err(_) => return Err(format!("\"{name}\" is not a header name, nor *")),
            }
        }
        if extra.is_empty() {
            return Ok(CorsHeaders::Standard);
        }
        Ok(CorsHeaders::Extra(Vec::leak(extra)))
    }

    fn allow_headers(self) -> AllowHeaders {
        let standard = ALLOWED_HEADERS.into_iter().map(HeaderName::from_static);
        match self {
            CorsHeaders::Standard => AllowHeaders::list(standard),
            CorsHeaders::Extra(extra) => AllowHeaders::list(standard.chain(extra.iter().cloned())),
            CorsHeaders::Any => AllowHeaders::mirror_request(),
        }
    }
}

/// The origins allowed to make cross-origin requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin browser access.
    #[default]
    None,
    /// Any origin (`*`): a public API whose reads anyone may embed.
    Any,
    /// These origins (`https://example.org`), exactly. Read once at start-up and kept for the
    /// life of the process, which keeps the settings `Copy`.
    List(&'static [HeaderValue]),
}

impl CorsOrigins {
    /// Parses a comma-separated list of origins, or `*`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(CorsOrigins::Any);
        }
        let mut origins = Vec::new();
        for origin in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (scheme, host) = origin.split_once("://").unwrap_or(("", ""));
            let valid = matches!(scheme, "http" | "https")
                && !host.is_empty()
                && !host.contains(['/', '?', '#', ' ', '*']);
            match HeaderValue::from_str(origin) {
                Ok(value) if valid => origins.push(value),
                _ => {
                    return Err(format!(
                        "\"{origin}\" is not an origin like https://example.org (no path), nor *"
                    ))
                }
            }
        }
        if origins.is_empty() {
            return Ok(CorsOrigins::None);
        }
        Ok(CorsOrigins::List(Vec::leak(origins)))
    }

    /// Whether a request from `origin` is allowed.
    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        match self {
            CorsOrigins::None => false,
            CorsOrigins::Any => true,
            CorsOrigins::List(origins) => origins.contains(origin),
        }
    }
}

pub(super) fn layer(origins: CorsOrigins, headers: CorsHeaders) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(headers.allow_headers())
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    match origins {
        CorsOrigins::None => layer,
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => layer.allow_origin(AllowOrigin::list(list.iter().cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_list_a_star_or_nothing() {
        assert_eq!(CorsOrigins::parse(""), Ok(CorsOrigins::None));
        assert_eq!(CorsOrigins::parse(" * "), Ok(CorsOrigins::Any));
        let list = CorsOrigins::parse("https://a.example, http://localhost:3000").expect("list");
        assert!(list.allows(&HeaderValue::from_static("http://localhost:3000")));
        assert!(!list.allows(&HeaderValue::from_static("https://b.example")));
        for bad in [
            "example.org",
            "https://a.example/path",
            "ftp://a.example",
            "https://*.a",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_the_standard_ones_plus_a_list_or_any() {
        assert_eq!(CorsHeaders::parse(""), Ok(CorsHeaders::Standard));
        assert_eq!(CorsHeaders::parse("Traceparent"), Ok(CorsHeaders::Standard));
        assert_eq!(CorsHeaders::parse(" * "), Ok(CorsHeaders::Any));
        let CorsHeaders::Extra(extra) = CorsHeaders::parse("X-Tenant, x-feature").expect("list")
        else {
            panic!("not a list");
        };
        assert_eq!(extra, ["x-tenant", "x-feature"]);
        assert!(CorsHeaders::parse("bad header").is_err());
        assert!(ALLOWED_HEADERS
            .iter()
            .all(|h| HeaderName::from_static(h).as_str() == *h));
    }
}
