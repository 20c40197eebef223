//! Countries, metrics, sources and sectors: what the service knows about.

use super::arguments;
use crate::types::{loaders, Country, Metric, Sector, SectorLeader, Source};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Every country, by name.
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<Country>> {
        let all = loaders(ctx).loader().countries().await?;
        Ok(all.iter().cloned().map(Country).collect())
    }

    /// A country by ISO3 or ISO2 code, in any case (`USA`, `us`, `CHN`, `cn`).
    async fn country(&self, ctx: &Context<'_>, code: String) -> Result<Country> {
        arguments::country(ctx, &code).await.map(Country)
    }

    /// Every metric, optionally of one category (e.g. `innovation_inputs`, `talent`, `ai`).
    async fn metrics(&self, ctx: &Context<'_>, category: Option<String>) -> Result<Vec<Metric>> {
        let all = loaders(ctx).loader().metrics().await?;
        Ok(all
            .iter()
            .filter(|m| category.as_ref().is_none_or(|c| &m.category == c))
            .cloned()
            .map(Metric)
            .collect())
    }

    /// A metric by slug (e.g. `rd_intensity`).
    async fn metric(&self, ctx: &Context<'_>, slug: String) -> Result<Metric> {
        arguments::metric(ctx, &slug).await.map(Metric)
    }

    /// Every data source.
    async fn sources(&self, ctx: &Context<'_>) -> Result<Vec<Source>> {
        let all = loaders(ctx).loader().sources().await?;
        Ok(all.iter().cloned().map(Source).collect())
    }

    /// Technology sectors, optionally only those a given side leads.
    async fn sectors(
        &self,
        ctx: &Context<'_>,
        leader: Option<SectorLeader>,
    ) -> Result<Vec<Sector>> {
        let leader = leader.map(techbalance_store::entities::sector::SectorLeader::from);
        let all = loaders(ctx).loader().sectors().await?;
        Ok(all
            .iter()
            .filter(|s| leader.is_none_or(|l| s.leader == l))
            .cloned()
            .map(Sector)
            .collect())
    }

    /// A sector by slug (e.g. `semiconductors`).
    async fn sector(&self, ctx: &Context<'_>, slug: String) -> Result<Sector> {
        match arguments::find_sector(ctx, &slug).await? {
            Some(sector) => Ok(Sector(sector)),
            None => Err(super::arguments::unknown_sector(ctx, &slug).await),
        }
    }
}
