//! GraphQL object types. Each wraps a store model and resolves its relations through the
//! per-request loaders.

use crate::error::{ApiError, OrGraphqlError};
use crate::loaders::{
    CompaniesOfCountry, CompaniesOfSector, CountryCode, HighlightsOfCountry, HistoryOf,
    LastSuccessOf, LatestOfMetric, LatestValue, Loaders, MetricSlug, RunId, SectorsOfCompany,
    SourceId, SourcesOfMetric,
};
use crate::query::resolve;
use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use techbalance_store::entities::refresh_run;
use techbalance_store::entities::{
    company, country, highlight, metric, observation, sector, source,
};
use techbalance_store::history;
use techbalance_store::queries::{preference_of, preferred_per_year, ObservationFilter};
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
        resolve::year_range(from, to).or_gql()?;
        let country = resolve::country(ctx, &country).await?;
        let source = resolve::optional_source(ctx, source).await?;
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
        let country = resolve::country(ctx, &country).await?;
        match resolve::optional_source(ctx, source).await? {
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
    /// When the last successful refresh of this source finished.
    async fn last_refreshed_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        let last = loaders(ctx)
            .load_one(LastSuccessOf(self.0.id.clone()))
            .await?;
        Ok(last.map(|l| l.finished_at))
    }
    /// The source's own release marker as of the last successful refresh (e.g. the World Bank's
    /// last-updated date, `2025-12-16`).
    async fn released_at(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let last = loaders(ctx)
            .load_one(LastSuccessOf(self.0.id.clone()))
            .await?;
        Ok(last.and_then(|l| l.release))
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

/// What set a refresh run off.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RunTrigger {
    Manual,
    Schedule,
}

/// Where a refresh run stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    /// Finished, but withdrawals were held back for an operator (see `heldWithdrawals`, `notes`
    /// and the `acceptWithdrawals` mutation); everything else was recorded.
    Held,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_db(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Held => "held",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// Why a queued run waits before a worker may start it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RunWaitReason {
    /// The retry backoff after a failed attempt (`TECHBALANCE_RUN_RETRY_SECS` × 2^(attempt−2)).
    Backoff,
    /// The source answered 429 or 503 with `Retry-After`: the run waits until the time it asked
    /// for, at most `TECHBALANCE_RUN_RETRY_AFTER_MAX_SECS` (the run's `error` quotes the answer).
    RetryAfter,
}

pub struct RefreshRun(pub refresh_run::Model);

impl RefreshRun {
    fn is_queued(&self) -> bool {
        self.0.status == RunStatus::Queued.as_db()
    }
}

/// One attempt to bring a source's figures in.
#[Object]
impl RefreshRun {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Source> {
        required(ctx, SourceId(self.0.source.clone()))
            .await
            .map(Source)
    }
    async fn trigger(&self) -> RunTrigger {
        match self.0.trigger.as_str() {
            "schedule" => RunTrigger::Schedule,
            _ => RunTrigger::Manual,
        }
    }
    async fn status(&self) -> Result<RunStatus> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Held,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_db() == self.0.status)
        .ok_or_else(|| {
            tracing::error!(status = %self.0.status, "unknown run status in database");
            ApiError::Internal.into_graphql()
        })
    }
    /// The schedule's fire time; null for a manual run.
    async fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_for
    }
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// While the run is queued: the earliest instant a worker may start it (null when it may
    /// start at once).
    async fn not_before(&self) -> Option<DateTime<Utc>> {
        self.0.not_before.filter(|_| self.is_queued())
    }
    /// While the run is queued for a later attempt: why it waits until `notBefore`.
    async fn wait_reason(&self) -> Option<RunWaitReason> {
        use techbalance_store::queue::WaitReason;
        match self.0.wait_reason.as_deref().and_then(WaitReason::parse) {
            Some(WaitReason::Backoff) if self.is_queued() => Some(RunWaitReason::Backoff),
            Some(WaitReason::RetryAfter) if self.is_queued() => Some(RunWaitReason::RetryAfter),
            _ => None,
        }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    async fn pages_fetched(&self) -> i64 {
        self.0.pages_fetched
    }
    /// Observations received from the source.
    async fn fetched(&self) -> i64 {
        self.0.fetched
    }
    /// First versions recorded (new years, or withdrawn values published again).
    async fn inserted(&self) -> i64 {
        self.0.inserted
    }
    async fn revised(&self) -> i64 {
        self.0.revised
    }
    async fn withdrawn(&self) -> i64 {
        self.0.withdrawn
    }
    async fn unchanged(&self) -> i64 {
        self.0.unchanged
    }
    /// The source's release marker as of this run.
    async fn release(&self) -> Option<&str> {
        self.0.release.as_deref()
    }
    /// Why the run failed, in words anyone may read (no URL, credential or database message).
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// The class of the failure, stable: `UPSTREAM_UNREACHABLE`, `UPSTREAM_REFUSED`,
    /// `UPSTREAM_MALFORMED`, `UPSTREAM_THROTTLED`, `STORAGE_UNAVAILABLE`, `STORAGE_FAILURE`, `STORAGE_LOST`,
    /// `RUN_CONFLICT`, `BASELINE_INVALID`, `SOURCE_UNKNOWN`, `INTERRUPTED` (or `UNCLASSIFIED`
    /// for runs recorded before errors were classified).
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    /// The full failure (URLs with their credentials masked). Operators only: `UNAUTHENTICATED`
    /// or `FORBIDDEN` otherwise.
    async fn error_detail(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        crate::operator::check_operator(ctx)?;
        Ok(self.0.error_detail.as_deref())
    }
    /// Remarks, such as the baseline file read and its SHA-256, series the source retired,
    /// countries it refused or left out, conflicts in its answer, and withdrawals held.
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    /// Withdrawals the guard held back for an operator (current values the source's answer no
    /// longer had, left as they were); 0 unless the run is `HELD`.
    async fn held_withdrawals(&self) -> i64 {
        self.0.held_withdrawals
    }
    /// Whether the run records every withdrawal, because an operator accepted them.
    async fn accepts_withdrawals(&self) -> bool {
        self.0.accept_withdrawals
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

pub struct Schedule(pub techbalance_store::entities::schedule::Model);

/// When a source is refreshed.
#[Object]
impl Schedule {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Source> {
        required(ctx, SourceId(self.0.source.clone()))
            .await
            .map(Source)
    }
    /// Six fields, seconds first (`0 0 3 * * *`: every day at 03:00:00).
    async fn cron(&self) -> &str {
        &self.0.cron
    }
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The operator (token name) who created it, or `system`.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn last_fired_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_fired_at
    }
    /// The next fire time; null while disabled.
    async fn next_fire_at(&self) -> Option<DateTime<Utc>> {
        if !self.0.enabled {
            return None;
        }
        techbalance_store::schedules::CronSchedule::parse(&self.0.cron, &self.0.timezone)
            .ok()
            .and_then(|c| c.next_after(techbalance_store::now()))
    }
}

pub struct AuditEntry(pub techbalance_store::entities::audit_entry::Model);

/// One mutation an operator made, or refused attempts counted together (`attempts` of them
/// between `at` and `lastAt`, from `address`).
#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The operator's token name (`cli:<user>` from the command line); for refused attempts,
    /// the revoked token's name, `anonymous` or `invalid token`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The mutation, e.g. `triggerRefresh`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// Its arguments.
    async fn arguments(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(
            serde_json::from_str(&self.0.arguments).unwrap_or(serde_json::Value::Null),
        )
    }
    /// `ok`, or the error code the mutation answered with.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    /// When it happened; for counted refusals, the first attempt.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// How many attempts the entry stands for: 1, or more for refused attempts counted together.
    async fn attempts(&self) -> i64 {
        self.0.attempts
    }
    /// The last attempt counted, for refused attempts.
    async fn last_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_at
    }
    /// The client address, for refused attempts (`*` for the overflow entry of a window).
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
}
