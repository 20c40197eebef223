//! What a browser loads: the balance page at `/`, GraphiQL at `/graphql`, and the scripts and
//! styles both use, under `/assets/<content hash>/<file name>`. Every file is compiled into the
//! binary from `crates/api/web` (the vendored libraries in `web/vendor`, pinned and licensed, see
//! its UPDATING.md), so no request ever leaves the server's origin.
//!
//! Assets are immutable at their URL (`Cache-Control: immutable`, a year) and carry their hash as
//! ETag; the two HTML pages are revalidated on every load (`no-cache`, ETag) and name the assets
//! by hashed URL, so a new binary is picked up at once. Compression (brotli, gzip) is negotiated
//! by `tower_http`'s compression layer on these routes only.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;
use tower_http::compression::CompressionLayer;

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// One file compiled in: its path under `web/`, media type and bytes.
struct File {
    path: &'static str,
    media: &'static str,
    bytes: &'static [u8],
}

macro_rules! web_file {
    ($path:literal, $media:expr) => {
        File {
            path: $path,
            media: $media,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

/// The assets, served at hashed URLs.
const ASSETS: &[File] = &[
    web_file!("vendor/react/react.production.min.js", JS),
    web_file!("vendor/react-dom/react-dom.production.min.js", JS),
    web_file!("vendor/graphiql/graphiql.min.js", JS),
    web_file!("vendor/graphiql/graphiql.min.css", CSS),
    web_file!("vendor/graphql-ws/graphql-ws.min.js", JS),
    web_file!("vendor/uplot/uPlot.iife.min.js", JS),
    web_file!("vendor/uplot/uPlot.min.css", CSS),
    web_file!("graphiql.js", JS),
    web_file!("page/app.js", JS),
    web_file!("page/app.css", CSS),
];

/// The pages: templates naming assets as `{{path}}`, replaced by their hashed URLs.
const GRAPHIQL: File = web_file!("graphiql.html", HTML);
const PAGE: File = web_file!("page/index.html", HTML);

/// Scripts and styles from this origin only; inline styles for GraphiQL's editor, `data:` for
/// its bundled fonts and icons; connections (HTTP, WebSocket) to this origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Served {
    media: &'static str,
    bytes: &'static [u8],
    etag: HeaderValue,
}

struct RenderedPage {
    html: String,
    etag: HeaderValue,
}

struct Catalogue {
    /// By URL path, e.g. `/assets/0123456789abcdef/app.js`.
    assets: HashMap<String, Served>,
    graphiql: RenderedPage,
    page: RenderedPage,
}

/// The first 16 hex digits of the SHA-256 of `bytes`.
fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn etag(hash: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{hash}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// The URL an asset is served at.
fn url(file: &File) -> String {
    let name = file.path.rsplit('/').next().unwrap_or(file.path);
    format!("/assets/{}/{name}", hash(file.bytes))
}

fn render(template: &File) -> RenderedPage {
    let mut html = String::from_utf8_lossy(template.bytes).into_owned();
    for file in ASSETS {
        html = html.replace(&format!("{{{{{}}}}}", file.path), &url(file));
    }
    let etag = etag(&hash(html.as_bytes()));
    RenderedPage { html, etag }
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue {
    assets: ASSETS
        .iter()
        .map(|file| {
            let served = Served {
                media: file.media,
                bytes: file.bytes,
                etag: etag(&hash(file.bytes)),
            };
            (url(file), served)
        })
        .collect(),
    graphiql: render(&GRAPHIQL),
    page: render(&PAGE),
});

/// `/` and `/assets/…`, compressed when the browser accepts it.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/assets/{hash}/{name}", get(asset))
        .layer(CompressionLayer::new())
}

/// Whether the request's `If-None-Match` names `etag`.
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        })
}

fn html(headers: &HeaderMap, page: &'static RenderedPage) -> Response {
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, page.etag.clone()),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if not_modified(headers, &page.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(HTML))],
        page.html.as_str(),
    )
        .into_response()
}

/// GET `/`: the balance page.
async fn page(headers: HeaderMap) -> Response {
    html(&headers, &CATALOGUE.page)
}

/// GraphiQL's page, for a browser's GET `/graphql` without a query.
pub(super) fn graphiql(headers: &HeaderMap) -> Response {
    let mut response = html(headers, &CATALOGUE.graphiql);
    // Not compressed by the layer (it is the GraphQL route): small enough as it is.
    response.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static(header::ACCEPT.as_str()),
    );
    response
}

/// GET `/assets/<hash>/<name>`: an asset, or 404 for any other hash or name.
async fn asset(Path((hash, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(served) = CATALOGUE.assets.get(&format!("/assets/{hash}/{name}")) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ),
        (header::ETAG, served.etag.clone()),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if not_modified(&headers, &served.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(served.media))],
        served.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_a_page_names_is_replaced_by_its_hashed_url() {
        for page in [&CATALOGUE.page, &CATALOGUE.graphiql] {
            assert!(
                !page.html.contains("{{"),
                "an unknown asset in {}",
                page.html
            );
            assert!(page.html.contains("/assets/"));
        }
        assert_eq!(
            CATALOGUE.assets.len(),
            ASSETS.len(),
            "two assets share a URL"
        );
    }

    #[test]
    fn an_etag_matches_with_or_without_the_weak_prefix_and_in_a_list() {
        let tag = etag("abc");
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            not_modified(&headers, &tag)
        };
        assert!(with("\"abc\""));
        assert!(with("W/\"abc\""));
        assert!(with("\"x\", \"abc\""));
        assert!(!with("\"abd\""));
        assert!(!not_modified(&HeaderMap::new(), &tag));
    }
}
