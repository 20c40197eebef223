//! The GraphQL API of techbalance: the schema (queries over the store) and its HTTP transport.
//! It reads the store only; it never calls upstream sources.

pub mod auth;
mod connection;
mod error;
mod http;
mod loaders;
mod mutation;
mod query;
mod schema;
mod subscription;
mod types;

pub use connection::MAX_PAGE_SIZE;
pub use error::ApiError;
pub use http::{
    observability, router, router_with, ClientAddr, CorsHeaders, CorsOrigins, HttpSettings, Live,
    RateLimitSettings, WsSettings,
};
pub use schema::{build_schema, sdl, AppSchema, QueriesOnly, SchemaLimits};
