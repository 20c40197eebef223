//! GraphQL object types, by domain. Each wraps a store model and resolves its relations through
//! the per-request loaders; each enum mirrors a store vocabulary once (`#[graphql(remote)]`).

mod catalog;
mod figures;
mod runs;
mod sectors;

pub use catalog::{Country, Metric, Source};
pub use figures::{Comparison, ComparisonEntry, Observation, Qualifier, Revision, RevisionKind};
pub use runs::{AuditEntry, RefreshRun, RunStatus, Schedule};
pub use sectors::{Company, Sector, SectorLeader};

use crate::error::ApiError;
use crate::loaders::Loaders;
use async_graphql::{Context, Result};
use techbalance_store::Store;

mod provenance;
mod sector_evidence;
pub(crate) use sector_evidence::default_countries;

fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

pub(crate) fn store<'a>(ctx: &Context<'a>) -> &'a Store {
    ctx.data_unchecked::<Store>()
}

/// Loads a row that a foreign key guarantees; its absence is a broken invariant.
async fn required<K, V>(ctx: &Context<'_>, key: K) -> Result<V>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + std::fmt::Debug + 'static,
    crate::loaders::StoreLoader:
        async_graphql::dataloader::Loader<K, Value = V, Error = async_graphql::Error>,
    V: Send + Sync + Clone + 'static,
{
    match loaders(ctx).load_one(key.clone()).await? {
        Some(value) => Ok(value),
        None => {
            tracing::error!(?key, "dangling reference");
            Err(ApiError::Internal.into_graphql())
        }
    }
}
