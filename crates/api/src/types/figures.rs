//! Figures: observations and their revisions, and comparisons of one metric across countries.

use super::{country_or_none, loaders, metric_of, required, Country, Metric, RefreshRun, Source};
use crate::loaders::{CountryCode, HistoryOf, MetricSlug, RunId, SourceId};
use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use techbalance_store::entities::observation;
use techbalance_store::history;

/// How exact or final a figure is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Qualifier {
    /// About this much (`~`).
    Approximate,
    /// At least this much (`+`).
    LowerBound,
    /// Provisional, likely to be revised (OECD `P`).
    Provisional,
    /// Estimated (OECD `E`).
    Estimated,
    /// A break in the series: not comparable with earlier years (OECD `B`).
    BreakInSeries,
    /// Another status code of the source; see `qualifierCode`.
    Other,
}

impl Qualifier {
    pub(crate) fn from_db(text: &str) -> Self {
        match text {
            "~" => Qualifier::Approximate,
            "+" => Qualifier::LowerBound,
            "P" => Qualifier::Provisional,
            "E" => Qualifier::Estimated,
            "B" => Qualifier::BreakInSeries,
            _ => Qualifier::Other,
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
        self.0.qualifier.as_deref().map(Qualifier::from_db)
    }
    /// The qualifier as the source wrote it (`~`, `+`, or a status code such as `P`).
    async fn qualifier_code(&self) -> Option<&str> {
        self.0.qualifier.as_deref()
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
    /// Every version of this figure from this source, oldest first (this one included).
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<Observation>> {
        let o = &self.0;
        let key = HistoryOf((
            o.metric.clone(),
            o.country.clone(),
            o.source.clone(),
            o.year,
        ));
        let rows = loaders(ctx).load_one(key).await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(Observation)
            .collect())
    }
    /// The refresh run that recorded this version.
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<RefreshRun>> {
        match self.0.run_id {
            Some(id) => Ok(loaders(ctx).load_one(RunId(id)).await?.map(RefreshRun)),
            None => Ok(None),
        }
    }
}

/// What a revision did.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RevisionKind {
    /// The value changed.
    Revised,
    /// The source stopped publishing the value.
    Withdrawn,
    /// A withdrawn value was published again.
    Reinstated,
}

impl RevisionKind {
    /// What replacing `previous` with `value` was (`None`: no value, i.e. withdrawn).
    pub fn between(previous: Option<f64>, value: Option<f64>) -> Self {
        match (previous, value) {
            (Some(_), None) => RevisionKind::Withdrawn,
            (None, _) => RevisionKind::Reinstated,
            _ => RevisionKind::Revised,
        }
    }
}

pub struct Revision(pub history::Revision);

/// A version that replaced an earlier one of the same figure from the same source.
#[Object]
impl Revision {
    /// The id of the new version.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> RevisionKind {
        RevisionKind::between(self.0.previous_value, self.0.value)
    }
    async fn metric(&self, ctx: &Context<'_>) -> Result<Metric> {
        required(ctx, MetricSlug(self.0.metric.clone()))
            .await
            .map(Metric)
    }
    async fn country(&self, ctx: &Context<'_>) -> Result<Country> {
        required(ctx, CountryCode(self.0.country.clone()))
            .await
            .map(Country)
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Source> {
        required(ctx, SourceId(self.0.source.clone()))
            .await
            .map(Source)
    }
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// The value before; null when a withdrawn value came back.
    async fn previous_value(&self) -> Option<f64> {
        self.0.previous_value
    }
    /// The value after; null for a withdrawal.
    async fn value(&self) -> Option<f64> {
        self.0.value
    }
    async fn previous_qualifier(&self) -> Option<Qualifier> {
        self.0.previous_qualifier.as_deref().map(Qualifier::from_db)
    }
    async fn qualifier(&self) -> Option<Qualifier> {
        self.0.qualifier.as_deref().map(Qualifier::from_db)
    }
    /// When the change became known here.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// The refresh run that recorded the change.
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<RefreshRun>> {
        match self.0.run_id {
            Some(id) => Ok(loaders(ctx).load_one(RunId(id)).await?.map(RefreshRun)),
            None => Ok(None),
        }
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
        metric_of(ctx, &self.metric_slug).await
    }
    /// The country in the stronger position, respecting whether higher is better; null on a tie
    /// or when fewer than two countries have values.
    async fn leader(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        country_or_none(ctx, self.leader_code.as_deref()).await
    }
}
