//! Live updates. Every subscription reads the process's change hub (see
//! `techbalance_store::changes`) and filters on the server.

use crate::error::ApiError;
use crate::query::arguments;
use crate::types::{
    store, Country, Metric, Observation, Qualifier, RefreshRun, RevisionKind, Source,
};
use async_graphql::{Context, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use std::sync::Arc;
use techbalance_store::changes::{Change, RevisionEvent};
use tokio::sync::broadcast::error::RecvError;

pub(crate) mod leadership;

#[derive(Default)]
pub struct SubscriptionRoot;

/// The data version moved: refetch what you show.
#[derive(SimpleObject, Clone)]
pub struct DataChange {
    /// Grows with every version recorded.
    pub version: i64,
    /// Metrics whose figures changed; empty on a resync.
    pub metrics: Vec<String>,
    /// The refresh run that recorded the change; null on a resync.
    pub run_id: Option<ID>,
    /// True when this process may have missed changes (its change listener reconnected):
    /// refetch everything.
    pub resync: bool,
}

/// A revised figure, as pushed to subscribers: the `index`th revision of a change, shared with
/// every other subscriber of the process rather than copied for each.
pub struct ObservationRevision {
    change: Arc<Change>,
    index: usize,
}

impl ObservationRevision {
    fn event(&self) -> &RevisionEvent {
        match &*self.change {
            Change::Recorded { revisions, .. } => &revisions[self.index],
            _ => unreachable!("built from a Change::Recorded and an index into its revisions"),
        }
    }
}

#[Object]
impl ObservationRevision {
    async fn kind(&self) -> RevisionKind {
        RevisionKind::between(self.event().previous.value, self.event().current.value)
    }
    async fn year(&self) -> i32 {
        self.event().current.year
    }
    async fn previous_value(&self) -> Option<f64> {
        self.event().previous.value
    }
    async fn value(&self) -> Option<f64> {
        self.event().current.value
    }
    async fn previous_qualifier(&self) -> Option<Qualifier> {
        self.event()
            .previous
            .qualifier
            .as_deref()
            .map(Qualifier::from_db)
    }
    async fn qualifier(&self) -> Option<Qualifier> {
        self.event()
            .current
            .qualifier
            .as_deref()
            .map(Qualifier::from_db)
    }
    /// When the change became known here.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.event().current.recorded_from
    }
    async fn metric(&self) -> Metric {
        Metric(self.event().metric.clone())
    }
    async fn country(&self) -> Country {
        Country(self.event().country.clone())
    }
    async fn source(&self) -> Source {
        Source(self.event().source.clone())
    }
    /// The new version.
    async fn observation(&self) -> Observation {
        Observation(self.event().current.clone())
    }
    /// The run that recorded it.
    async fn run(&self) -> Option<RefreshRun> {
        self.event().run.clone().map(RefreshRun)
    }
}

fn lagged(skipped: u64) -> async_graphql::Error {
    ApiError::SlowConsumer(format!(
        "this subscription fell {skipped} changes behind and was closed; resubscribe and refetch"
    ))
    .into_graphql()
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Revised, withdrawn and reinstated figures as refreshes record them, optionally of one
    /// metric and some countries.
    async fn observation_revised(
        &self,
        ctx: &Context<'_>,
        metric: Option<String>,
        #[graphql(desc = "ISO3 or ISO2 codes")] countries: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Result<ObservationRevision>>> {
        let metric = match metric {
            Some(slug) => Some(arguments::metric(ctx, &slug).await?.slug),
            None => None,
        };
        let countries = match countries {
            Some(codes) => Some(
                arguments::countries(ctx, &codes)
                    .await?
                    .into_iter()
                    .map(|c| c.code)
                    .collect::<Vec<_>>(),
            ),
            None => None,
        };
        let mut changes = store(ctx).subscribe_changes();
        Ok(async_stream::stream! {
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        if let Change::Recorded { revisions, .. } = &*change {
                            for (index, event) in revisions.iter().enumerate() {
                                let wanted = metric.as_ref().is_none_or(|m| *m == event.current.metric)
                                    && countries.as_ref().is_none_or(|c| c.contains(&event.current.country));
                                if wanted {
                                    yield Ok(ObservationRevision { change: change.clone(), index });
                                }
                            }
                        }
                    }
                    Err(RecvError::Lagged(skipped)) => {
                        yield Err(lagged(skipped));
                        break;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// A refresh run's status and progress (pages fetched, counts), optionally of one source.
    async fn refresh_run_updated(
        &self,
        ctx: &Context<'_>,
        source: Option<String>,
    ) -> Result<impl Stream<Item = Result<RefreshRun>>> {
        let source = arguments::optional_source(ctx, source).await?;
        let mut changes = store(ctx).subscribe_changes();
        Ok(async_stream::stream! {
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        if let Change::Run(run) = &*change {
                            if source.as_ref().is_none_or(|s| *s == run.source) {
                                yield Ok(RefreshRun(run.as_ref().clone()));
                            }
                        }
                    }
                    Err(RecvError::Lagged(skipped)) => {
                        yield Err(lagged(skipped));
                        break;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// Leadership changing hands, as refreshes record it: on an indicator (`INDICATOR`: the
    /// leader `compare` gives, latest values, just before the run and as of it), on a sector's
    /// evidence (`SECTOR_EVIDENCE`: `Sector.evidenceLeader`), or in a sector's editorial verdict
    /// (`SECTOR_VERDICT`). Optionally of one metric (indicator changes only) or one sector
    /// (sector changes only), among `countries` (default the United States and China).
    async fn leadership_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "crate::types::default_countries()",
            desc = "ISO3 or ISO2 codes, at least two"
        )]
        countries: Vec<String>,
        metric: Option<String>,
        #[graphql(desc = "Sector slug")] sector: Option<String>,
    ) -> Result<impl Stream<Item = Result<leadership::LeadershipChange>>> {
        let codes = crate::query::compare::compared_countries(ctx, &countries).await?;
        let metric = match metric {
            Some(slug) => Some(arguments::metric(ctx, &slug).await?.slug),
            None => None,
        };
        if let Some(slug) = &sector {
            if arguments::find_sector(ctx, slug).await?.is_none() {
                return Err(arguments::unknown_sector(ctx, slug).await);
            }
        }
        let watch = leadership::Watch {
            codes,
            metric,
            sector,
        };
        let store = store(ctx).clone();
        let mut changes = store.subscribe_changes();
        Ok(async_stream::stream! {
            loop {
                match changes.recv().await {
                    Ok(change) => match watch.changes(&store, &change).await {
                        Ok(found) => for item in found { yield Ok(item); },
                        Err(e) => {
                            tracing::warn!(error = ?e.message, "could not compare leadership for a change");
                        }
                    },
                    Err(RecvError::Lagged(skipped)) => {
                        yield Err(lagged(skipped));
                        break;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// The data version, each time figures change (and on a resync), for clients that refetch.
    async fn data_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<DataChange>>> {
        let store = store(ctx).clone();
        let mut changes = store.subscribe_changes();
        Ok(async_stream::stream! {
            loop {
                match changes.recv().await {
                    Ok(change) => match &*change {
                        Change::Recorded { run, metrics, data_version, .. } => yield Ok(DataChange {
                            version: *data_version,
                            metrics: metrics.clone(),
                            run_id: Some(ID::from(run)),
                            resync: false,
                        }),
                        Change::Resync { data_version } => yield Ok(DataChange {
                            version: *data_version,
                            metrics: Vec::new(),
                            run_id: None,
                            resync: true,
                        }),
                        Change::Verdicts { run, .. } => yield Ok(DataChange {
                            version: store.data_version().await.unwrap_or(0),
                            metrics: Vec::new(),
                            run_id: Some(ID::from(run)),
                            resync: false,
                        }),
                        Change::Run(_) => {}
                    },
                    Err(RecvError::Lagged(_)) => {
                        // A refetching client loses nothing by skipping ahead: send a resync.
                        let version = store.data_version().await.unwrap_or(0);
                        yield Ok(DataChange { version, metrics: Vec::new(), run_id: None, resync: true });
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
