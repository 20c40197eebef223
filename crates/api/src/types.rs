//! GraphQL object types. Each wraps a store model and resolves its relations through the
//! per-request loaders.

use crate::error::{ApiError, OrGraphqlError};
use crate::loaders::{
    CompaniesOfCountry, CompaniesOfSector, CountryCode, HighlightsOfCountry, LatestOfMetric,
    LatestValue, Loaders, MetricSlug, SectorsOfCompany, SourceId, SourcesOfMetric,
};
use crate::query::resolve;
use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use techbalance_store::entities::{
    company, country, highlight, metric, observation, sector, source,
};
use techbalance_store::queries::{
    preferred_per_year, ObservationFilter, DEFAULT_SOURCE_PREFERENCE,
};
use techbalance_store::Store;

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

pub struct Country(pub country::Model);

/// A country compared by the service.
#[Object]
impl Country {
    /// ISO 3166-1 alpha-3 code, the public id (e.g. `USA`, `CHN`).
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
    /// The country's tech giants, by name.
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        let rows = loaders(ctx)
            .load_one(CompaniesOfCountry(self.0.code.clone()))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Company).collect())
    }
    /// Short narrative points about the country, optionally of one topic
    /// (`ai_advantages`, `talent`, `chip_controls`, `business_models`).
    async fn highlights(&self, ctx: &Context<'_>, topic: Option<String>) -> Result<Vec<Highlight>> {
        let rows = loaders(ctx)
            .load_one(HighlightsOfCountry(self.0.code.clone()))
            .await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .filter(|h| topic.as_deref().is_none_or(|t| h.topic == t))
            .map(Highlight)
            .collect())
    }
}

pub struct Metric(pub metric::Model);

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
    /// `USD`, `PERCENT_OF_GDP`, `PERCENT`, `PERSONS`, `PER_MILLION_PEOPLE` or `COUNT`.
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
    /// The sources that currently publish values of this metric.
    async fn sources(&self, ctx: &Context<'_>) -> Result<Vec<Source>> {
        let rows = loaders(ctx)
            .load_one(SourcesOfMetric(self.0.slug.clone()))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Source).collect())
    }
    /// One value per year for a country, oldest first, from the preferred source for each year.
    async fn series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ISO3 or ISO2 code")] country: String,
        #[graphql(desc = "First year, inclusive")] from: Option<i32>,
        #[graphql(desc = "Last year, inclusive")] to: Option<i32>,
    ) -> Result<Vec<Observation>> {
        resolve::year_range(from, to).or_gql()?;
        let country = resolve::country(ctx, &country).await?;
        let rows = store(ctx)
            .observations(&ObservationFilter {
                metric: self.0.slug.clone(),
                countries: Some(vec![country.code]),
                from_year: from,
                to_year: to,
                ..Default::default()
            })
            .await
            .or_gql()?;
        Ok(preferred_per_year(rows, DEFAULT_SOURCE_PREFERENCE)
            .into_iter()
            .map(Observation)
            .collect())
    }
    /// The most recent year's value for a country.
    async fn latest(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ISO3 or ISO2 code")] country: String,
    ) -> Result<Option<Observation>> {
        let country = resolve::country(ctx, &country).await?;
        let key = LatestValue {
            metric: self.0.slug.clone(),
            country: country.code,
        };
        Ok(loaders(ctx).load_one(key).await?.map(Observation))
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

/// How exact a figure is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Qualifier {
    /// About this much (`~` in the source).
    Approximate,
    /// At least this much (`+` in the source).
    LowerBound,
}

impl Qualifier {
    fn from_db(text: &str) -> Option<Self> {
        match text {
            "~" => Some(Qualifier::Approximate),
            "+" => Some(Qualifier::LowerBound),
            _ => None,
        }
    }
}

pub struct Observation(pub observation::Model);

/// One yearly value of a metric for a country, as one source published it.
#[Object]
impl Observation {
    /// Identifies this version of the value.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn country(&self, ctx: &Context<'_>) -> Result<Country> {
        required(ctx, CountryCode(self.0.country.clone()))
            .await
            .map(Country)
    }
    async fn metric(&self, ctx: &Context<'_>) -> Result<Metric> {
        required(ctx, MetricSlug(self.0.metric.clone()))
            .await
            .map(Metric)
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Source> {
        required(ctx, SourceId(self.0.source.clone()))
            .await
            .map(Source)
    }
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// The value in the metric's unit; null for a withdrawn value.
    async fn value(&self) -> Option<f64> {
        self.0.value
    }
    async fn qualifier(&self) -> Option<Qualifier> {
        self.0.qualifier.as_deref().and_then(Qualifier::from_db)
    }
    /// When this value became known here.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_from
    }
    /// When a later version replaced it; null while it is current.
    async fn superseded_at(&self) -> Option<DateTime<Utc>> {
        self.0.recorded_to
    }
    /// The source's own release marker for this value (e.g. its last-updated date).
    async fn release(&self) -> Option<&str> {
        self.0.release.as_deref()
    }
    /// Where the figure comes from, as precisely as the source allows.
    async fn citation(&self) -> Option<&str> {
        self.0.citation.as_deref()
    }
}

/// Who leads a technology sector.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SectorLeader {
    Us,
    China,
    Contested,
    UsAndAllies,
}

impl SectorLeader {
    pub fn as_db(self) -> &'static str {
        match self {
            SectorLeader::Us => "US",
            SectorLeader::China => "CHINA",
            SectorLeader::Contested => "CONTESTED",
            SectorLeader::UsAndAllies => "US_AND_ALLIES",
        }
    }
    fn from_db(text: &str) -> Option<Self> {
        [Self::Us, Self::China, Self::Contested, Self::UsAndAllies]
            .into_iter()
            .find(|l| l.as_db() == text)
    }
}

pub struct Sector(pub sector::Model);

/// A technology sector and who leads it.
#[Object]
impl Sector {
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn leader(&self) -> Result<SectorLeader> {
        SectorLeader::from_db(&self.0.leader).ok_or_else(|| {
            tracing::error!(leader = %self.0.leader, "unknown sector leader in database");
            ApiError::Internal.into_graphql()
        })
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// Companies active in the sector, by name.
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        let rows = loaders(ctx)
            .load_one(CompaniesOfSector(self.0.slug.clone()))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Company).collect())
    }
}

/// How a company is owned and steered.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Ownership {
    /// Privately or publicly held, run for profit.
    Private,
    /// A national champion operating under state supervision.
    StateSupervised,
}

pub struct Company(pub company::Model);

/// A technology company.
#[Object]
impl Company {
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn country(&self, ctx: &Context<'_>) -> Result<Country> {
        required(ctx, CountryCode(self.0.country.clone()))
            .await
            .map(Country)
    }
    async fn sectors(&self, ctx: &Context<'_>) -> Result<Vec<Sector>> {
        let rows = loaders(ctx)
            .load_one(SectorsOfCompany(self.0.slug.clone()))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Sector).collect())
    }
    async fn ownership(&self) -> Result<Ownership> {
        match self.0.ownership.as_str() {
            "PRIVATE" => Ok(Ownership::Private),
            "STATE_SUPERVISED" => Ok(Ownership::StateSupervised),
            other => {
                tracing::error!(ownership = other, "unknown ownership in database");
                Err(ApiError::Internal.into_graphql())
            }
        }
    }
    async fn founded(&self) -> Option<i32> {
        self.0.founded
    }
    async fn headquarters(&self) -> Option<&str> {
        self.0.headquarters.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
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
}

pub struct Source(pub source::Model);

/// A publisher of figures.
#[Object]
impl Source {
    /// `baseline`, `worldbank`, `oecd-msti`, …
    async fn id(&self) -> &str {
        &self.0.id
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
}

/// One country's side of a comparison.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ComparisonEntry {
    #[graphql(skip)]
    pub country_code: String,
    /// The value compared; null when the country has no value at all.
    pub value: Option<f64>,
    /// The year the value is from: the requested year, or the nearest earlier one the country
    /// has (the nearest later one when it has none earlier).
    pub year_used: Option<i32>,
    pub observation: Option<ObservationRef>,
}

#[ComplexObject]
impl ComparisonEntry {
    async fn country(&self, ctx: &Context<'_>) -> Result<Country> {
        required(ctx, CountryCode(self.country_code.clone()))
            .await
            .map(Country)
    }
}

/// The observation a comparison entry used (its source, citation and knowledge time).
pub type ObservationRef = Observation;

/// Values of one metric side by side.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Comparison {
    #[graphql(skip)]
    pub metric_slug: String,
    /// The year asked for; null when the latest values were compared.
    pub year: Option<i32>,
    /// One entry per requested country, in the order requested.
    pub entries: Vec<ComparisonEntry>,
    /// The first country's value divided by the second's; null when either is missing or zero.
    pub ratio: Option<f64>,
    #[graphql(skip)]
    pub leader_code: Option<String>,
    /// Whether every country had a value for exactly the requested year.
    pub same_year: bool,
}

#[ComplexObject]
impl Comparison {
    async fn metric(&self, ctx: &Context<'_>) -> Result<Metric> {
        required(ctx, MetricSlug(self.metric_slug.clone()))
            .await
            .map(Metric)
    }
    /// The country in the stronger position, respecting whether higher is better; null on a tie
    /// or when fewer than two countries have values.
    async fn leader(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        match &self.leader_code {
            Some(code) => required(ctx, CountryCode(code.clone()))
                .await
                .map(|c| Some(Country(c))),
            None => Ok(None),
        }
    }
}
