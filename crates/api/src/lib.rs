//! The GraphQL API of techbalance: the schema (queries over the store) and its HTTP transport.
//! It reads the store only; it never calls upstream sources.

mod error;
mod http;
mod loaders;
mod query;
mod schema;
mod types;

pub use error::ApiError;
pub use http::{router, HttpSettings};
pub use query::MAX_PAGE_SIZE;
pub use schema::{build_schema, sdl, AppSchema, SchemaLimits};
