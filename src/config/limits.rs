//! What one GraphQL operation may ask for. Every default is the API crate's
//! ([`SchemaLimits::default`]); this module only names the variables and their bounds.
//!
//! `TECHBALANCE_MAX_DEPTH`, `TECHBALANCE_MAX_COMPLEXITY`, `TECHBALANCE_MAX_RECURSION`,
//! `TECHBALANCE_MAX_NODES`, `TECHBALANCE_MAX_ALIASES`, `TECHBALANCE_MAX_DIRECTIVES`,
//! `TECHBALANCE_MAX_TOKENS`, `TECHBALANCE_REQUEST_TIMEOUT_MS`, `TECHBALANCE_INTROSPECTION`,
//! `TECHBALANCE_FIELD_SUGGESTIONS`, `TECHBALANCE_PERSISTED_QUERIES`.

use clap::builder::RangedU64ValueParser;
use clap::ArgAction;
use std::time::Duration;
use techbalance_api::SchemaLimits;

fn limits() -> SchemaLimits {
    SchemaLimits::default()
}

fn in_range(range: impl std::ops::RangeBounds<u64>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(range)
}

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// Deepest field nesting accepted (at least 1)
    #[arg(long = "max-depth", env = "TECHBALANCE_MAX_DEPTH", default_value_t = limits().depth,
          value_parser = in_range(1..))]
    depth: usize,
    /// Most complex query accepted, about one per field with fragments expanded (at least 1)
    #[arg(long = "max-complexity", env = "TECHBALANCE_MAX_COMPLEXITY",
          default_value_t = limits().complexity, value_parser = in_range(1..))]
    complexity: usize,
    /// Deepest nesting of brackets, selections and fragment spreads (1–256)
    #[arg(long = "max-recursion", env = "TECHBALANCE_MAX_RECURSION",
          default_value_t = limits().recursion, value_parser = in_range(1..=256))]
    recursion: usize,
    /// Most list items an operation may be estimated to return (at least 1)
    #[arg(long = "max-nodes", env = "TECHBALANCE_MAX_NODES", default_value_t = limits().nodes,
          value_parser = clap::value_parser!(u64).range(1..))]
    nodes: u64,
    /// Most aliases in a document
    #[arg(long = "max-aliases", env = "TECHBALANCE_MAX_ALIASES", default_value_t = limits().aliases)]
    aliases: usize,
    /// Most directives in a document
    #[arg(long = "max-directives", env = "TECHBALANCE_MAX_DIRECTIVES",
          default_value_t = limits().directives)]
    directives: usize,
    /// Most lexical tokens in a document (at least 1)
    #[arg(long = "max-tokens", env = "TECHBALANCE_MAX_TOKENS", default_value_t = limits().tokens,
          value_parser = in_range(1..))]
    tokens: usize,
    /// Longest a GraphQL request over HTTP, or an operation over WebSocket or SSE, may take, in
    /// milliseconds; 0 for no limit
    #[arg(long = "request-timeout-ms", env = "TECHBALANCE_REQUEST_TIMEOUT_MS",
          default_value_t = limits().timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)))]
    request_timeout_ms: u64,
    /// `false` refuses `__schema` and `__type`
    #[arg(long = "introspection", env = "TECHBALANCE_INTROSPECTION",
          default_value_t = limits().introspection, action = ArgAction::Set)]
    introspection: bool,
    /// `false` drops "Did you mean …" from validation errors
    #[arg(long = "field-suggestions", env = "TECHBALANCE_FIELD_SUGGESTIONS",
          default_value_t = limits().suggestions, action = ArgAction::Set)]
    suggestions: bool,
    /// Automatic persisted queries remembered (0–100000); 0 turns them off
    #[arg(long = "persisted-queries", env = "TECHBALANCE_PERSISTED_QUERIES",
          default_value_t = limits().persisted_queries, value_parser = in_range(..=100_000))]
    persisted_queries: usize,
}

impl Variables {
    /// `TECHBALANCE_REQUEST_TIMEOUT_MS`: `None` for 0. The HTTP transport applies it too.
    pub fn request_timeout(&self) -> Option<Duration> {
        (self.request_timeout_ms > 0).then(|| Duration::from_millis(self.request_timeout_ms))
    }

    pub fn settings(self) -> SchemaLimits {
        SchemaLimits {
            depth: self.depth,
            complexity: self.complexity,
            recursion: self.recursion,
            nodes: self.nodes,
            aliases: self.aliases,
            directives: self.directives,
            tokens: self.tokens,
            timeout: self.request_timeout(),
            introspection: self.introspection,
            suggestions: self.suggestions,
            persisted_queries: self.persisted_queries,
        }
    }
}
