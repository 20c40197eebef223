//! `leadershipChanged`: who leads an indicator, a sector's evidence, or a sector's editorial
//! verdict changed hands. Fed by the change hub (cluster-wide, both backends): for each run that
//! recorded figures, the metrics it touched are compared just before the run and as of it,
//! through `compare`'s code path; for each run that revised a verdict, the two versions.

use crate::error::OrGraphqlError;
use crate::query::compare;
use crate::types::{Country, Metric, Sector, SectorLeader};
use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Duration, Utc};
use techbalance_store::changes::Change;
use techbalance_store::entities::{metric, sector};
use techbalance_store::Store;

/// What changed hands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LeadershipScope {
    /// The leader on one indicator (as `compare` answers it, latest values).
    Indicator,
    /// A sector's evidence leader (`Sector.evidenceLeader`).
    SectorEvidence,
    /// A sector's editorial verdict (`Sector.leader`).
    SectorVerdict,
}

/// Who led before and who leads now.
pub struct LeadershipChange {
    scope: LeadershipScope,
    metric: Option<metric::Model>,
    sector: Option<sector::Model>,
    previous_leader: Option<String>,
    leader: Option<String>,
    previous_verdict: Option<sector::SectorLeader>,
    verdict: Option<sector::SectorLeader>,
    run: i64,
    recorded_at: DateTime<Utc>,
}

async fn country(ctx: &Context<'_>, code: &Option<String>) -> Result<Option<Country>> {
    match code {
        Some(code) => crate::query::arguments::country(ctx, code)
            .await
            .map(|c| Some(Country(c))),
        None => Ok(None),
    }
}

#[Object]
impl LeadershipChange {
    async fn scope(&self) -> LeadershipScope {
        self.scope
    }
    /// The indicator, for `INDICATOR`.
    async fn metric(&self) -> Option<Metric> {
        self.metric.clone().map(Metric)
    }
    /// The sector, for `SECTOR_EVIDENCE` and `SECTOR_VERDICT` (as it is now).
    async fn sector(&self) -> Option<Sector> {
        self.sector.clone().map(Sector)
    }
    /// Who led before (null: nobody, i.e. a tie, a split or missing values); for `INDICATOR`
    /// and `SECTOR_EVIDENCE`.
    async fn previous_leader(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        country(ctx, &self.previous_leader).await
    }
    /// Who leads now (null: nobody); for `INDICATOR` and `SECTOR_EVIDENCE`.
    async fn leader(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        country(ctx, &self.leader).await
    }
    /// The verdict before, for `SECTOR_VERDICT`.
    async fn previous_verdict(&self) -> Option<SectorLeader> {
        self.previous_verdict.map(Into::into)
    }
    /// The verdict now, for `SECTOR_VERDICT`.
    async fn verdict(&self) -> Option<SectorLeader> {
        self.verdict.map(Into::into)
    }
    /// The refresh run whose figures (or baseline verdict) brought the change.
    async fn run_id(&self) -> ID {
        ID::from(self.run)
    }
    /// When the change became known here.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }
}

/// What one subscription watches.
pub struct Watch {
    pub codes: Vec<String>,
    pub metric: Option<String>,
    pub sector: Option<String>,
}

impl Watch {
    /// The leadership changes `change` brought about, for this watch.
    pub async fn changes(&self, store: &Store, change: &Change) -> Result<Vec<LeadershipChange>> {
        match change {
            Change::Recorded {
                run,
                metrics,
                recorded_at: Some(at),
                ..
            } => self.recorded(store, *run, metrics, *at).await,
            Change::Verdicts { run, revisions } => {
                let mut out = Vec::new();
                for (previous, current) in revisions {
                    let wanted = self.metric.is_none()
                        && self.sector.as_ref().is_none_or(|s| *s == current.sector);
                    if !wanted || previous.leader == current.leader {
                        continue;
                    }
                    out.push(LeadershipChange {
                        scope: LeadershipScope::SectorVerdict,
                        metric: None,
                        sector: store.find_sector(&current.sector).await.or_gql()?,
                        previous_leader: None,
                        leader: None,
                        previous_verdict: Some(previous.leader),
                        verdict: Some(current.leader),
                        run: *run,
                        recorded_at: current.recorded_from,
                    });
                }
                Ok(out)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Indicator and sector-evidence leaders just before the run (recorded at `at`) and as of
    /// it, for the metrics the run touched.
    async fn recorded(
        &self,
        store: &Store,
        run: i64,
        touched: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<LeadershipChange>> {
        let before = at - Duration::microseconds(1);
        let all_metrics = store.metrics(None).await.or_gql()?;
        let metric_of = |slug: &str| all_metrics.iter().find(|m| m.slug == slug).cloned();
        let change = |scope, metric, sector, previous_leader, leader| LeadershipChange {
            scope,
            metric,
            sector,
            previous_leader,
            leader,
            previous_verdict: None,
            verdict: None,
            run,
            recorded_at: at,
        };
        let mut out = Vec::new();
        if self.sector.is_none() {
            for slug in touched {
                if self.metric.as_ref().is_some_and(|m| m != slug) {
                    continue;
                }
                let Some(model) = metric_of(slug) else {
                    continue;
                };
                let (previous, leader) = self
                    .leaders(store, &Metric(model.clone()), before, at)
                    .await?;
                if previous != leader {
                    out.push(change(
                        LeadershipScope::Indicator,
                        Some(model),
                        None,
                        previous,
                        leader,
                    ));
                }
            }
        }
        if self.metric.is_some() {
            return Ok(out);
        }
        let evidence = store.sector_evidence().await.or_gql()?;
        for sector in store.sectors(None).await.or_gql()? {
            if self.sector.as_ref().is_some_and(|s| *s != sector.slug) {
                continue;
            }
            let indicators: Vec<&str> = evidence
                .iter()
                .filter(|e| e.sector == sector.slug)
                .map(|e| e.metric.as_str())
                .collect();
            if !indicators.iter().any(|m| touched.iter().any(|t| t == m)) {
                continue;
            }
            let (mut previous, mut now) = (Vec::new(), Vec::new());
            for slug in indicators {
                let Some(model) = metric_of(slug) else {
                    continue;
                };
                let (p, n) = self.leaders(store, &Metric(model), before, at).await?;
                previous.push(p);
                now.push(n);
            }
            let (previous, leader) = (plurality(&previous), plurality(&now));
            if previous != leader {
                out.push(change(
                    LeadershipScope::SectorEvidence,
                    None,
                    Some(sector),
                    previous,
                    leader,
                ));
            }
        }
        Ok(out)
    }

    /// The leader on `metric` (latest values) as of `before` and as of `at`.
    async fn leaders(
        &self,
        store: &Store,
        metric: &Metric,
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(Option<String>, Option<String>)> {
        let mut leaders = [None, None];
        for (slot, as_of) in leaders.iter_mut().zip([before, at]) {
            *slot = compare::comparison(store, metric, &self.codes, None, None, Some(as_of))
                .await?
                .leader_code;
        }
        let [previous, now] = leaders;
        Ok((previous, now))
    }
}

/// The country leading on more indicators than any other; `None` when none leads or the lead
/// is shared (the rule of `Sector.evidenceLeader`).
pub(crate) fn plurality(leaders: &[Option<String>]) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for code in leaders.iter().flatten() {
        *counts.entry(code).or_default() += 1;
    }
    let most = counts.values().copied().max()?;
    let mut top = counts.iter().filter(|(_, &n)| n == most);
    let (code, _) = top.next()?;
    top.next().is_none().then(|| (*code).to_owned())
}
