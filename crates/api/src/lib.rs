//! The GraphQL API of techbalance: the schema (queries over the store) and its HTTP transport.
//! It reads the store only; it never calls upstream sources.

pub mod auth;
mod connection;
mod error;
mod http;
mod loaders;
mod mutation;
mod operator;
mod query;
pub mod response_cache;
mod schema;
mod subscription;
mod types;

pub use connection::MAX_PAGE_SIZE;
pub use error::ApiError;
pub use http::{
    observability, raise_fd_limit, router, router_with, serve, ClientAddr, CorsHeaders,
    CorsOrigins, HttpSettings, Live, RateLimitSettings, ServerSettings, WsSettings,
};
pub use operator::Peer;
pub use schema::{build_schema, sdl, AppSchema, QueriesOnly, SchemaLimits};
