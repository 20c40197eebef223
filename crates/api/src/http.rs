//! HTTP transport. One file per concern: `graphql` (GraphQL over HTTP and GraphiQL, with
//! `params` for its request parameters and `reply` for its statuses and bodies), `ws`
//! (subscriptions over WebSocket), `sse` (subscriptions over Server-Sent Events), `health`
//! (liveness and readiness), `assets` (the balance page at `/`, GraphiQL's page and the files
//! both load), `observability` (request ids, metrics), `status` (HTTP status of a
//! GraphQL response), `body_limit`, `rate_limit`, `cors` and `csrf` (what a public endpoint
//! refuses); this file assembles the router.

mod assets;
mod body_limit;
mod cors;
mod csrf;
mod graphql;
mod health;
pub mod observability;
mod params;
mod rate_limit;
mod reply;
mod shared;
mod sse;
mod status;
pub(crate) mod ws;

pub use cors::{CorsHeaders, CorsOrigins};
pub use rate_limit::{ClientAddr, RateLimitSettings};
pub use ws::{Live, WsSettings};

use crate::schema::AppSchema;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use techbalance_store::Store;
use tower_http::limit::RequestBodyLimitLayer;

#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    pub ws: WsSettings,
    /// Most operations in a batch (a JSON array); 0 refuses batches.
    pub max_batch: usize,
    pub rate_limit: RateLimitSettings,
    /// Origins whose pages may call the API from a browser.
    pub cors_origins: CorsOrigins,
    /// Request headers those pages may send.
    pub cors_headers: CorsHeaders,
    /// Whether GETs a browser marks as sent by another site are refused (see `csrf`).
    pub csrf_prevention: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            ws: WsSettings::default(),
            max_batch: 0,
            rate_limit: RateLimitSettings::default(),
            cors_origins: CorsOrigins::None,
            cors_headers: CorsHeaders::Standard,
            csrf_prevention: true,
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: AppSchema,
    pub(crate) store: Store,
    pub(crate) live: Live,
    pub(crate) max_body_bytes: usize,
    pub(crate) http: HttpSettings,
}

pub fn router(schema: AppSchema, store: Store, settings: HttpSettings) -> Router {
    router_with(schema, store, settings, Live::new(settings.ws))
}

/// The router, with `live` tracking its WebSocket connections (to count them, or close them all
/// on shutdown).
pub fn router_with(schema: AppSchema, store: Store, settings: HttpSettings, live: Live) -> Router {
    Router::new()
        .route("/graphql", get(get_graphql).post(post_graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(observability::metrics))
        .merge(assets::routes())
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        // Enforced while the body streams in, whoever reads it; a declared length is checked
        // before (see `body_limit`).
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(axum::middleware::map_response(body_limit::as_json))
        .layer(axum::middleware::from_fn_with_state(
            settings.max_body_bytes,
            body_limit::refuse_declared,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rate_limit::RateLimiter::new(settings.rate_limit, store.clone()),
            rate_limit::limit,
        ))
        .layer(cors::layer(settings.cors_origins, settings.cors_headers))
        .layer(axum::middleware::from_fn(observability::track))
        .with_state(AppState {
            schema,
            store,
            live,
            max_body_bytes: settings.max_body_bytes,
            http: settings,
        })
}

/// GET `/graphql`: a WebSocket upgrade, an event stream, or GraphQL over HTTP / GraphiQL.
async fn get_graphql(State(state): State<AppState>, request: Request) -> Response {
    if request.headers().contains_key(header::UPGRADE) {
        ws::serve(state, request).await
    } else if sse::wanted(request.headers()) {
        sse::serve(state, request).await
    } else {
        graphql::graphql_get.call(request, state).await
    }
}

/// POST `/graphql`: an event stream, or GraphQL over HTTP.
async fn post_graphql(State(state): State<AppState>, request: Request) -> Response {
    if sse::wanted(request.headers()) {
        sse::serve(state, request).await
    } else {
        graphql::graphql_post.call(request, state).await
    }
}
