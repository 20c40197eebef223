//! Cross-site request forgery. A browser sends a "simple" request to another site without asking
//! first (no CORS preflight): a GET, or a POST whose body is form data or plain text. This API
//! executes POSTs only with `Content-Type: application/json`, which no simple request can carry,
//! so a POST from another site always goes through CORS. What is left is GET, which runs queries
//! only (mutations are refused with 405): a GET that the browser marks as sent by another site
//! (`Sec-Fetch-Site: cross-site` or `same-site`) is refused unless its origin is allowed by CORS
//! or it carries a header that forces a preflight (`x-graphql-csrf`, `apollo-require-preflight`,
//! `x-apollo-operation-name`). Clients that are not browsers send no `Sec-Fetch-Site` and are not
//! concerned; neither is GraphiQL, which is served to a GET without a query.

use super::cors::CorsOrigins;
use crate::error::ErrorCode;
use axum::http::{header, HeaderMap};

/// The `extensions.code` of a refused request.
pub(super) const CODE: ErrorCode = ErrorCode::CsrfRejected;

/// Headers a browser can only send after a CORS preflight.
const PREFLIGHT_HEADERS: [&str; 3] = [
    "x-graphql-csrf",
    "apollo-require-preflight",
    "x-apollo-operation-name",
];

/// Whether a GET carrying an operation may run; the message says how to send it otherwise.
pub(super) fn check_get(headers: &HeaderMap, origins: CorsOrigins) -> Result<(), &'static str> {
    if PREFLIGHT_HEADERS.iter().any(|h| headers.contains_key(*h)) {
        return Ok(());
    }
    let from_another_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| {
            site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site")
        });
    let allowed_origin = headers
        .get(header::ORIGIN)
        .is_some_and(|origin| origins.allows(origin));
    if from_another_site && !allowed_origin {
        return Err(
            "this GET was sent by a page of another site and may be a cross-site request \
             forgery; send it with an `x-graphql-csrf: 1` header, or as a JSON POST",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_gets_marked_as_sent_by_another_site_are_refused() {
        let none = CorsOrigins::None;
        assert!(check_get(&headers(&[]), none).is_ok());
        assert!(check_get(&headers(&[("sec-fetch-site", "same-origin")]), none).is_ok());
        assert!(check_get(&headers(&[("sec-fetch-site", "none")]), none).is_ok());
        assert!(check_get(&headers(&[("sec-fetch-site", "cross-site")]), none).is_err());
        assert!(check_get(&headers(&[("sec-fetch-site", "same-site")]), none).is_err());
        assert!(check_get(
            &headers(&[("sec-fetch-site", "cross-site"), ("x-graphql-csrf", "1")]),
            none
        )
        .is_ok());
        let allowed = CorsOrigins::parse("https://app.example").expect("origins");
        assert!(check_get(
            &headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example")
            ]),
            allowed
        )
        .is_ok());
        assert!(check_get(
            &headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example")
            ]),
            allowed
        )
        .is_err());
    }
}
