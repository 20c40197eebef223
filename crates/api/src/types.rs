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

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

pub(crate) fn store<'a>(ctx: &Context<'a>) -> &'a Store {
    ctx.data_unchecked::<Store>()
}

/// The metric a stored slug names (a foreign key: see [`required`]).
async fn metric_of(ctx: &Context<'_>, slug: &str) -> Result<Metric> {
    required(ctx, crate::loaders::MetricSlug(slug.to_owned()))
        .await
        .map(Metric)
}

/// The country a stored code names, or `None` for no code (a leader on a tie, say).
async fn country_or_none(ctx: &Context<'_>, code: Option<&str>) -> Result<Option<Country>> {
    match code {
        Some(code) => required(ctx, crate::loaders::CountryCode(code.to_owned()))
            .await
            .map(|c| Some(Country(c))),
        None => Ok(None),
    }
}

/// Looks up a row that a foreign key guarantees; its absence is a broken invariant.
async fn required<K, V>(ctx: &Context<'_>, key: K) -> Result<V>
where
    K: crate::loaders::FromSnapshot + std::fmt::Debug,
    crate::loaders::StoreLoader:
        async_graphql::dataloader::Loader<K, Value = V, Error = async_graphql::Error>,
    V: Send + Sync + Clone + 'static,
{
    match crate::loaders::lookup(loaders(ctx), key.clone()).await? {
        Some(value) => Ok(value),
        None => {
            tracing::error!(?key, "dangling reference");
            Err(ApiError::Internal.into_graphql())
        }
    }
}
