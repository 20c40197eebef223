//! A sector's evidence: its indicators compared across countries (through `compare`'s code
//! path), who leads on them, the spans of years each country led, and the versions of the
//! sector's editorial verdict.

use super::{
    country_or_none, loaders, metric_of, required, Comparison, Country, Metric, RefreshRun,
    SectorLeader,
};
use crate::error::ApiError;
use crate::loaders::{EvidenceOf, MetricSlug, RunId, VerdictsOf};
use crate::query::compare;
use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use techbalance_store::entities::{sector, sector_evidence, sector_verdict};

/// What an indicator says about a sector.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum EvidenceRole {
    /// Resources put in (R&D spending).
    Input,
    /// What is produced or achieved (exports, objects launched, AI systems built).
    Output,
    /// How widely the technology is taken up.
    Adoption,
    /// Capacity to produce (share of world manufacturing capacity).
    Capacity,
    /// Capital put in (private investment).
    Investment,
    /// Research produced (papers, citations, patents).
    Research,
}

impl EvidenceRole {
    fn from_db(text: &str) -> Result<Self> {
        Ok(match text {
            "input" => EvidenceRole::Input,
            "output" => EvidenceRole::Output,
            "adoption" => EvidenceRole::Adoption,
            "capacity" => EvidenceRole::Capacity,
            "investment" => EvidenceRole::Investment,
            "research" => EvidenceRole::Research,
            other => {
                tracing::error!(role = other, "unknown evidence role in database");
                return Err(ApiError::Internal.into_graphql());
            }
        })
    }
}

/// One indicator of a sector, compared across the countries asked for.
pub struct SectorEvidence {
    indicator: sector_evidence::Model,
    comparison: Comparison,
}

#[Object]
impl SectorEvidence {
    async fn metric(&self, ctx: &Context<'_>) -> Result<Metric> {
        required(ctx, MetricSlug(self.indicator.metric.clone()))
            .await
            .map(Metric)
    }
    /// The indicator's values side by side, as `compare` answers them (each entry's
    /// `observation` carries its source, year and citation).
    async fn comparison(&self) -> &Comparison {
        &self.comparison
    }
    async fn role(&self) -> Result<EvidenceRole> {
        EvidenceRole::from_db(&self.indicator.role)
    }
    /// Whether a larger value is the stronger position.
    async fn higher_is_better(&self) -> bool {
        self.indicator.higher_is_better
    }
    /// True when the indicator is economy-wide (e.g. all resident patent filings) rather than
    /// specific to the sector: weak evidence, shown as such.
    async fn proxy(&self) -> bool {
        self.indicator.proxy
    }
}

/// A run of consecutive years in which one country led on one indicator.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct LeadershipSpan {
    #[graphql(skip)]
    pub metric_slug: String,
    /// First year, inclusive.
    pub from: i32,
    /// Last year, inclusive.
    pub to: i32,
    #[graphql(skip)]
    pub leader_code: Option<String>,
}

#[ComplexObject]
impl LeadershipSpan {
    async fn metric(&self, ctx: &Context<'_>) -> Result<Metric> {
        metric_of(ctx, &self.metric_slug).await
    }
    /// The country in the stronger position in every year of the span; null when the values
    /// were tied.
    async fn leader(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        country_or_none(ctx, self.leader_code.as_deref()).await
    }
}

pub struct SectorVerdict(pub sector_verdict::Model);

/// One version of a sector's editorial verdict, valid in knowledge time from `recordedAt`
/// until `supersededAt`.
#[Object]
impl SectorVerdict {
    async fn leader(&self) -> SectorLeader {
        self.0.leader.into()
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// Where the verdict comes from; null: unsourced (see `sourced`).
    async fn citation(&self) -> Option<&str> {
        self.0.citation.as_deref()
    }
    /// Whether the verdict has a citation.
    async fn sourced(&self) -> bool {
        self.0.citation.is_some()
    }
    /// When this version became known here.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_from
    }
    /// When a later version replaced it; null while it is current.
    async fn superseded_at(&self) -> Option<DateTime<Utc>> {
        self.0.recorded_to
    }
    /// The refresh run (of the baseline) that recorded this version.
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<RefreshRun>> {
        match self.0.run_id {
            Some(id) => Ok(loaders(ctx).load_one(RunId(id)).await?.map(RefreshRun)),
            None => Ok(None),
        }
    }
}

/// The countries compared when a sector field is not told: the United States and China.
pub(crate) fn default_countries() -> Vec<String> {
    vec!["USA".to_owned(), "CHN".to_owned()]
}

/// The sector's indicators, in order.
async fn indicators(ctx: &Context<'_>, sector: &str) -> Result<Vec<sector_evidence::Model>> {
    Ok(
        crate::loaders::lookup(loaders(ctx), EvidenceOf(sector.to_owned()))
            .await?
            .unwrap_or_default(),
    )
}

/// Each indicator compared across `countries` (latest values, as known now or at `as_of`).
pub(crate) async fn evidence(
    ctx: &Context<'_>,
    sector: &str,
    countries: &[String],
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<SectorEvidence>> {
    let codes = compare::compared_countries(ctx, countries).await?;
    let mut items = Vec::new();
    for indicator in indicators(ctx, sector).await? {
        let metric = metric_of(ctx, &indicator.metric).await?;
        let comparison =
            compare::comparison(super::store(ctx), &metric, &codes, None, None, as_of).await?;
        items.push(SectorEvidence {
            indicator,
            comparison,
        });
    }
    Ok(items)
}

/// The country leading on more indicators than any other; `None` when no indicator has a
/// leader, or when the lead is shared (split evidence).
pub(crate) fn evidence_leader(items: &[SectorEvidence]) -> Option<String> {
    let leaders: Vec<Option<String>> = items
        .iter()
        .map(|item| item.comparison.leader_code.clone())
        .collect();
    crate::subscription::leadership::plurality(&leaders)
}

/// Whether a country leading on the evidence agrees with an editorial verdict: `US` means the
/// United States, `CHINA` China, `US_AND_ALLIES` any country but China; `CONTESTED` agrees with
/// no single leader.
pub(crate) fn agrees(verdict: sector::SectorLeader, evidence_leader: &str) -> bool {
    use sector::SectorLeader as Verdict;
    match verdict {
        Verdict::Us => evidence_leader == "USA",
        Verdict::China => evidence_leader == "CHN",
        Verdict::UsAndAllies => evidence_leader != "CHN",
        Verdict::Contested => false,
    }
}

/// Every version of the sector's verdict, oldest first.
pub(crate) async fn verdicts(ctx: &Context<'_>, sector: &str) -> Result<Vec<SectorVerdict>> {
    Ok(
        crate::loaders::lookup(loaders(ctx), VerdictsOf(sector.to_owned()))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(SectorVerdict)
            .collect(),
    )
}

/// The verdict version current at `as_of` (now when `None`); `None` before the first.
pub(crate) async fn verdict(
    ctx: &Context<'_>,
    sector: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<Option<SectorVerdict>> {
    let versions = crate::loaders::lookup(loaders(ctx), VerdictsOf(sector.to_owned()))
        .await?
        .unwrap_or_default();
    Ok(techbalance_store::verdicts::verdict_as_of(&versions, as_of)
        .cloned()
        .map(SectorVerdict))
}

/// For each indicator, the spans of consecutive years with the same leader, oldest first. A
/// year counts when every country compared has a value for it; a year without breaks a span.
pub(crate) async fn leader_history(
    ctx: &Context<'_>,
    sector: &str,
    countries: &[String],
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<LeadershipSpan>> {
    let codes = compare::compared_countries(ctx, countries).await?;
    let mut spans = Vec::new();
    for indicator in indicators(ctx, sector).await? {
        let metric = metric_of(ctx, &indicator.metric).await?;
        let rows = compare::yearly(super::store(ctx), &metric, &codes, None, as_of).await?;
        let mut years: BTreeMap<i32, Vec<(&str, Option<f64>)>> = BTreeMap::new();
        for row in &rows {
            years
                .entry(row.year)
                .or_default()
                .push((row.country.as_str(), row.value));
        }
        let mut current: Option<LeadershipSpan> = None;
        for (year, values) in years {
            let complete = codes
                .iter()
                .all(|code| values.iter().any(|(c, v)| c == code && v.is_some()));
            if !complete {
                spans.extend(current.take());
                continue;
            }
            let leader = compare::leader(&values, metric.0.higher_is_better).map(str::to_owned);
            match &mut current {
                Some(span) if span.to + 1 == year && span.leader_code == leader => span.to = year,
                _ => {
                    spans.extend(current.take());
                    current = Some(LeadershipSpan {
                        metric_slug: metric.0.slug.clone(),
                        from: year,
                        to: year,
                        leader_code: leader,
                    });
                }
            }
        }
        spans.extend(current);
    }
    Ok(spans)
}
