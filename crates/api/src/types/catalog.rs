//! The catalogue: countries, metrics, sources and the narrative highlights about countries.

use super::{loaders, store, Company, Observation};
use crate::error::OrGraphqlError;
use crate::loaders::{
    CompaniesOfCountry, HighlightsOfCountry, LastSuccessOf, LatestOfMetric, LatestValue,
    SourcesOfMetric,
};
use crate::query::arguments;
use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Utc};
use techbalance_store::entities::{country, highlight, metric, observation, source};
use techbalance_store::queries::{preference_of, preferred_per_year, ObservationFilter};
use techbalance_store::Store;

/// What a [`Country`] row stands for.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "country::CountryKind")]
pub enum CountryKind {
    /// An ISO 3166-1 country.
    Country,
    /// A group of countries published as one (the European Union).
    Aggregate,
}

pub struct Country(pub country::Model);

/// A country compared by the service.
#[Object]
impl Country {
    /// ISO 3166-1 alpha-3 code, the public id (e.g. `USA`, `CHN`); for an aggregate, the code
    /// sources give it (`EUU`, the European Union).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// ISO 3166-1 alpha-2 code (e.g. `US`, `CN`).
    async fn iso2(&self) -> &str {
        &self.0.iso2
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The flag emoji.
    async fn flag(&self) -> &str {
        &self.0.flag
    }
    /// An ISO 3166-1 country, or an aggregate of countries that sources publish as one (the
    /// European Union, `EUU`, whose alpha-2 code `EU` ISO 3166 reserves for it).
    async fn kind(&self) -> CountryKind {
        self.0.kind.into()
    }
    /// The country's tech giants, by name.
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        let rows =
            crate::loaders::lookup(loaders(ctx), CompaniesOfCountry(self.0.code.clone())).await?;
        Ok(rows.unwrap_or_default().into_iter().map(Company).collect())
    }
    /// Short narrative points about the country, optionally of one topic
    /// (`ai_advantages`, `talent`, `chip_controls`, `business_models`).
    async fn highlights(&self, ctx: &Context<'_>, topic: Option<String>) -> Result<Vec<Highlight>> {
        let rows =
            crate::loaders::lookup(loaders(ctx), HighlightsOfCountry(self.0.code.clone())).await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .filter(|h| topic.as_deref().is_none_or(|t| h.topic == t))
            .map(Highlight)
            .collect())
    }
}

pub struct Metric(pub metric::Model);

impl Metric {
    /// One observation per (country, year), by this metric's source preference.
    pub fn pick(&self, store: &Store, rows: Vec<observation::Model>) -> Vec<observation::Model> {
        let order = preference_of(&self.0, store.source_preference());
        let order: Vec<&str> = order.iter().map(String::as_str).collect();
        preferred_per_year(rows, &order)
    }
}

/// An indicator observed yearly per country.
#[Object]
impl Metric {
    /// Stable identifier, e.g. `rd_intensity`.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// `USD`, `PERCENT_OF_GDP`, `PERCENT`, `PERSONS`, `PER_MILLION_PEOPLE`, `COUNT` or `GIGAWATTS`.
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Whether a larger value is the stronger position (decides who leads in `compare`).
    async fn higher_is_better(&self) -> bool {
        self.0.higher_is_better
    }
    /// Source ids in the order used to pick one value per year, most preferred first.
    async fn source_preference(&self, ctx: &Context<'_>) -> Vec<String> {
        preference_of(&self.0, store(ctx).source_preference())
    }
    /// The sources that currently publish values of this metric.
    async fn sources(&self, ctx: &Context<'_>) -> Result<Vec<Source>> {
        let rows = loaders(ctx)
            .load_one(SourcesOfMetric(self.0.slug.clone()))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Source).collect())
    }
    /// One value per year for a country, oldest first, from the preferred source for each year
    /// (see `sources`), or from the one source pinned; as known now, or at `asOf`.
    #[allow(clippy::too_many_arguments)]
    async fn series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ISO3 or ISO2 code")] country: String,
        #[graphql(desc = "First year, inclusive")] from: Option<i32>,
        #[graphql(desc = "Last year, inclusive")] to: Option<i32>,
        #[graphql(desc = "Only this source's values")] source: Option<String>,
        #[graphql(desc = "The values as they were known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<Observation>> {
        arguments::year_range(from, to).or_gql()?;
        let country = arguments::country(ctx, &country).await?;
        let source = arguments::optional_source(ctx, source).await?;
        let rows = store(ctx)
            .observations(&ObservationFilter {
                metric: self.0.slug.clone(),
                countries: Some(vec![country.code]),
                from_year: from,
                to_year: to,
                source,
                as_of,
            })
            .await
            .or_gql()?;
        Ok(self
            .pick(store(ctx), rows)
            .into_iter()
            .map(Observation)
            .collect())
    }
    /// The most recent year's value for a country, from the preferred source or the one pinned.
    async fn latest(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ISO3 or ISO2 code")] country: String,
        #[graphql(desc = "Only this source's values")] source: Option<String>,
    ) -> Result<Option<Observation>> {
        let country = arguments::country(ctx, &country).await?;
        match arguments::optional_source(ctx, source).await? {
            None => {
                let key = LatestValue {
                    metric: self.0.slug.clone(),
                    country: country.code,
                };
                Ok(loaders(ctx).load_one(key).await?.map(Observation))
            }
            Some(source) => {
                let rows = store(ctx)
                    .observations(&ObservationFilter {
                        metric: self.0.slug.clone(),
                        countries: Some(vec![country.code]),
                        source: Some(source),
                        ..Default::default()
                    })
                    .await
                    .or_gql()?;
                Ok(rows.into_iter().max_by_key(|o| o.year).map(Observation))
            }
        }
    }
    /// The most recent year's value for every country that has one, by country code.
    async fn latest_by_country(&self, ctx: &Context<'_>) -> Result<Vec<Observation>> {
        let rows = loaders(ctx)
            .load_one(LatestOfMetric(self.0.slug.clone()))
            .await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(Observation)
            .collect())
    }
}

pub struct Highlight(pub highlight::Model);

/// A short narrative point about a country.
#[Object]
impl Highlight {
    async fn topic(&self) -> &str {
        &self.0.topic
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Whether the point has a citation.
    async fn sourced(&self) -> bool {
        self.0.citation.is_some()
    }
    /// The dataset the point was loaded from; null: unsourced.
    async fn source(&self, ctx: &Context<'_>) -> Result<Option<Source>> {
        super::provenance::source_of(ctx, self.0.citation.as_deref()).await
    }
    /// Where the point (and any figure in it) comes from; null: unsourced.
    async fn citation(&self) -> Option<&str> {
        self.0.citation.as_deref()
    }
}

pub struct Source(pub source::Model);

/// A publisher of figures.
#[Object]
impl Source {
    /// `baseline`, `worldbank`, `oecd-msti`, …
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn homepage(&self) -> &str {
        &self.0.homepage
    }
    /// Licence or terms of use.
    async fn terms(&self) -> &str {
        &self.0.terms
    }
    /// When the last successful refresh of this source finished.
    async fn last_refreshed_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        let last = crate::loaders::lookup(loaders(ctx), LastSuccessOf(self.0.id.clone())).await?;
        Ok(last.map(|l| l.finished_at))
    }
    /// The source's own release marker as of the last successful refresh (e.g. the World Bank's
    /// last-updated date, `2025-12-16`).
    async fn released_at(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let last = crate::loaders::lookup(loaders(ctx), LastSuccessOf(self.0.id.clone())).await?;
        Ok(last.and_then(|l| l.release))
    }
}
