use crate::mutation::MutationRoot;
use crate::query::QueryRoot;
use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use techbalance_store::Store;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Static limits on what one operation may ask for.
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    pub depth: usize,
    pub complexity: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self {
            depth: 12,
            complexity: 5_000,
        }
    }
}

pub fn build_schema(store: Store, limits: SchemaLimits) -> AppSchema {
    Schema::build(QueryRoot::default(), MutationRoot, EmptySubscription)
        .data(store)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .finish()
}

/// The schema in SDL, fields sorted, as committed in `schema/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot, EmptySubscription)
        .finish()
        .sdl_with_options(SDLExportOptions::new().sorted_fields())
}
