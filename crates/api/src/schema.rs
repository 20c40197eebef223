use crate::mutation::MutationRoot;
use crate::query::QueryRoot;
use crate::subscription::SubscriptionRoot;
use async_graphql::extensions::apollo_persisted_queries::{
    ApolloPersistedQueries, LruCacheStorage,
};
use async_graphql::{Schema, SchemaBuilder};
use chrono::{DateTime, Utc};
use std::num::NonZeroUsize;
use std::time::Duration;
use techbalance_store::Store;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

mod coerce;
mod cost;
mod document;
mod escapes;
mod guard;
mod sdl;

pub(crate) use guard::{refused, selected_type, selects_subscription};
pub use guard::{OperationKind, QueriesOnly};

/// Limits on what one operation may ask for, checked before it runs (see [`guard`]).
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    /// Deepest field nesting.
    pub depth: usize,
    /// Highest complexity (about one per field selected, fragments expanded).
    pub complexity: usize,
    /// Deepest nesting of brackets in the text, and of selections and fragment spreads.
    pub recursion: usize,
    /// Most list items (nodes) an operation may be estimated to return (see [`cost`]).
    pub nodes: u64,
    /// Most aliases in a document.
    pub aliases: usize,
    /// Most directives in a document.
    pub directives: usize,
    /// Most lexical tokens in a document.
    pub tokens: usize,
    /// Longest an operation may run; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Whether `__schema` and `__type` may be queried.
    pub introspection: bool,
    /// Whether validation errors suggest similar field names.
    pub suggestions: bool,
    /// Automatic persisted queries kept (least recently used first out); 0 turns them off.
    pub persisted_queries: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self {
            depth: 15,
            complexity: 5_000,
            recursion: 32,
            nodes: 50_000,
            aliases: 50,
            directives: 50,
            tokens: 5_000,
            timeout: Some(Duration::from_secs(10)),
            introspection: true,
            suggestions: true,
            persisted_queries: 256,
        }
    }
}

pub fn build_schema(store: Store, limits: SchemaLimits) -> AppSchema {
    // The guard comes first: it sees the text before persisted queries parse it.
    let persisted = NonZeroUsize::new(limits.persisted_queries)
        .map(|capacity| LruCacheStorage::new(capacity.get()));
    let mut builder = builder()
        .data(store)
        .extension(guard::Guard {
            limits,
            persisted: persisted.clone(),
            documents: guard::Documents::default(),
        })
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(limits.recursion)
        .limit_directives(limits.directives);
    if let Some(storage) = persisted {
        builder = builder.extension(ApolloPersistedQueries::new(storage));
    }
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema's types, before any data, limit or extension.
fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot)
        .override_output_type_description::<DateTime<Utc>>(
            "An instant, as an RFC 3339 date and time with its offset \
             (`2025-12-16T03:00:00Z`); answers are in UTC.",
        )
}

/// The schema in SDL as committed in `schema/schema.graphql`: fields sorted, two-space indent,
/// one argument per line where any is described, built-in directives left out.
pub fn sdl() -> String {
    sdl::tidy(&builder().finish().sdl_with_options(sdl::options()))
}
