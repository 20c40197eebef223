//! Countries, metrics, sources and sectors: what the service knows about.

use super::arguments;
use crate::error::OrGraphqlError;
use crate::types::{store, Country, Metric, Sector, SectorLeader, Source};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Every country, by name.
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<Country>> {
        Ok(store(ctx)
            .countries()
            .await
            .or_gql()?
            .into_iter()
            .map(Country)
            .collect())
    }

    /// A country by ISO3 or ISO2 code, in any case (`USA`, `us`, `CHN`, `cn`).
    async fn country(&self, ctx: &Context<'_>, code: String) -> Result<Country> {
        arguments::country(ctx, &code).await.map(Country)
    }

    /// Every metric, optionally of one category (e.g. `innovation_inputs`, `talent`, `ai`).
    async fn metrics(&self, ctx: &Context<'_>, category: Option<String>) -> Result<Vec<Metric>> {
        let rows = store(ctx).metrics(category.as_deref()).await.or_gql()?;
        Ok(rows.into_iter().map(Metric).collect())
    }

    /// A metric by slug (e.g. `rd_intensity`).
    async fn metric(&self, ctx: &Context<'_>, slug: String) -> Result<Metric> {
        arguments::metric(ctx, &slug).await.map(Metric)
    }

    /// Every data source.
    async fn sources(&self, ctx: &Context<'_>) -> Result<Vec<Source>> {
        Ok(store(ctx)
            .sources()
            .await
            .or_gql()?
            .into_iter()
            .map(Source)
            .collect())
    }

    /// Technology sectors, optionally only those a given side leads.
    async fn sectors(
        &self,
        ctx: &Context<'_>,
        leader: Option<SectorLeader>,
    ) -> Result<Vec<Sector>> {
        let rows = store(ctx).sectors(leader.map(Into::into)).await.or_gql()?;
        Ok(rows.into_iter().map(Sector).collect())
    }

    /// A sector by slug (e.g. `semiconductors`).
    async fn sector(&self, ctx: &Context<'_>, slug: String) -> Result<Sector> {
        match store(ctx).find_sector(&slug).await.or_gql()? {
            Some(sector) => Ok(Sector(sector)),
            None => Err(super::arguments::unknown_sector(ctx, &slug).await),
        }
    }
}
