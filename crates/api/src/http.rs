//! HTTP transport. One file per concern: `graphql` (GraphQL over HTTP and GraphiQL), `health`
//! (liveness and readiness); this file assembles the router.

mod graphql;
mod health;

use crate::schema::AppSchema;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use techbalance_store::Store;

#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: AppSchema,
    pub(crate) store: Store,
}

pub fn router(schema: AppSchema, store: Store, settings: HttpSettings) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(AppState { schema, store })
}
