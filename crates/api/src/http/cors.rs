//! Which other origins' browser pages may call the API (CORS), from `TECHBALANCE_CORS_ORIGINS`.
//! No origin by default: only pages served by the API itself (GraphiQL) call it from a browser.

use axum::http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers that a page may send; the custom ones force a preflight (see `csrf`).
const ALLOWED_HEADERS: [&str; 7] = [
    "accept",
    "authorization",
    "content-type",
    "x-graphql-csrf",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-request-id",
];

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

pub(super) fn layer(origins: CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
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
}
