//! HTTP transport. One file per concern: `execute` (the one path every transport runs an
//! operation through: caller, loaders, request id, span, metrics), `graphql` (GraphQL over HTTP
//! and GraphiQL, with `params` for its request parameters and `reply` for its statuses and bodies), `ws`
//! (subscriptions over WebSocket), `sse` (subscriptions over Server-Sent Events), `health`
//! (liveness and readiness), `assets` (the balance page at `/`, GraphiQL's page and the files
//! both load), `observability` (request ids, metrics), `status` (HTTP status of a
//! GraphQL response), `body_limit`, `rate_limit`, `cors` and `csrf` (what a public endpoint
//! refuses); this file assembles the router.

mod admission;
mod assets;
mod body_limit;
mod cached;
mod cors;
mod csrf;
mod deadline;
mod execute;
mod graphql;
mod health;
pub mod observability;
mod params;
mod rate_limit;
mod reply;
mod server;
mod shared;
mod sse;
mod status;
pub(crate) mod ws;

pub use cors::{CorsHeaders, CorsOrigins};
pub use rate_limit::{ClientAddr, RateLimitSettings};
pub use server::{raise_fd_limit, serve, ServerSettings};
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
    /// Timeouts and the limit on open connections (see `server`).
    pub connections: ServerSettings,
    /// Largest serialised GraphQL answer, in bytes (see `reply`).
    pub max_response_bytes: usize,
    /// Longest a GraphQL-over-HTTP request may take, from its headers to the last byte of
    /// its answer (see `deadline`); `None` for no limit.
    pub request_timeout: Option<std::time::Duration>,
    /// Bound of the response cache, in bytes; 0 turns it off (see `crate::response_cache`).
    pub response_cache_bytes: usize,
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
            connections: ServerSettings::default(),
            max_response_bytes: 16 * 1024 * 1024,
            request_timeout: Some(std::time::Duration::from_secs(10)),
            response_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What every handler shares; one allocation, so that the clones each layer and extractor
/// takes cost a reference count.
#[derive(Clone)]
pub(crate) struct AppState(std::sync::Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub(crate) struct Shared {
    pub(crate) schema: AppSchema,
    pub(crate) store: Store,
    pub(crate) live: Live,
    pub(crate) max_body_bytes: usize,
    pub(crate) http: HttpSettings,
    pub(crate) cache: crate::response_cache::ResponseCache,
    pub(crate) admission: admission::Admission,
    /// Reference tables of the current data version (see `crate::loaders`).
    pub(crate) reference: crate::loaders::ReferenceSnapshots,
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
        .with_state(AppState(std::sync::Arc::new(Shared {
            schema,
            admission: admission::Admission::new(&store, settings.request_timeout),
            cache: crate::response_cache::ResponseCache::new(
                settings.response_cache_bytes,
                store.clone(),
            ),
            store,
            live,
            max_body_bytes: settings.max_body_bytes,
            http: settings,
            reference: crate::loaders::ReferenceSnapshots::default(),
        })))
}

/// Leaves the client's address on the request, for the audit of refused attempts.
fn with_peer(state: &AppState, mut request: Request) -> Request {
    let address = rate_limit::client_address(&request, state.http.rate_limit.trust_forwarded_for);
    request
        .extensions_mut()
        .insert(crate::operator::Peer(address));
    request
}

/// GET `/graphql`: a WebSocket upgrade, an event stream, or GraphQL over HTTP / GraphiQL.
async fn get_graphql(State(state): State<AppState>, request: Request) -> Response {
    let request = with_peer(&state, request);
    if request.headers().contains_key(header::UPGRADE) {
        ws::serve(state, request).await
    } else if sse::wanted(request.headers()) {
        sse::serve(state, request).await
    } else {
        let media = reply::Media::negotiate(request.headers());
        let limit = state.http.request_timeout;
        deadline::within(limit, media, graphql::graphql_get.call(request, state)).await
    }
}

/// POST `/graphql`: an event stream, or GraphQL over HTTP.
async fn post_graphql(State(state): State<AppState>, request: Request) -> Response {
    let request = with_peer(&state, request);
    if sse::wanted(request.headers()) {
        sse::serve(state, request).await
    } else {
        let media = reply::Media::negotiate(request.headers());
        let limit = state.http.request_timeout;
        deadline::within(limit, media, graphql::graphql_post.call(request, state)).await
    }
}
