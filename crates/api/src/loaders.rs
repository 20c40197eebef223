//! Batched, per-request loading of every relation field. Created per request, so nothing cached
//! outlives its request.
//!
//! Reference tables (countries, metrics, sources, sectors, companies, highlights) are small and
//! bounded by curation: the first field that needs one reads it whole, once per request, and every
//! later lookup in that request is answered from that snapshot. So are the per-metric aggregates
//! (each metric's latest values and its sources), which are bounded by metrics × countries. The
//! statements a query costs therefore depend on its shape alone: not on how many rows it returns,
//! and not on how the executor happens to interleave sibling fields.

use crate::error::OrGraphqlError;
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use std::future::Future;
use techbalance_store::entities::refresh_run;
use techbalance_store::entities::{
    company, company_sector, country, highlight, metric, observation, sector, source,
};
use techbalance_store::history::SeriesKey;
use techbalance_store::queries::SourcePreference;
use techbalance_store::runs::LastSuccess;
use techbalance_store::{Store, StoreError};
use tokio::sync::OnceCell;

pub type Loaders = DataLoader<StoreLoader>;

pub fn per_request(store: Store) -> Loaders {
    DataLoader::new(
        StoreLoader {
            store,
            snapshot: Snapshot::default(),
        },
        tokio::spawn,
    )
}

pub struct StoreLoader {
    store: Store,
    snapshot: Snapshot,
}

/// Reference tables, each read at most once per request.
#[derive(Default)]
struct Snapshot {
    countries: OnceCell<Vec<country::Model>>,
    metrics: OnceCell<Vec<metric::Model>>,
    sources: OnceCell<Vec<source::Model>>,
    sectors: OnceCell<Vec<sector::Model>>,
    companies: OnceCell<Vec<company::Model>>,
    company_sectors: OnceCell<Vec<company_sector::Model>>,
    highlights: OnceCell<Vec<highlight::Model>>,
    last_successes: OnceCell<Vec<LastSuccess>>,
}

async fn once<T, F>(cell: &OnceCell<Vec<T>>, read: impl FnOnce() -> F) -> Result<&[T]>
where
    F: Future<Output = std::result::Result<Vec<T>, StoreError>>,
{
    cell.get_or_try_init(|| async { read().await.or_gql() })
        .await
        .map(Vec::as_slice)
}

impl StoreLoader {
    async fn countries(&self) -> Result<&[country::Model]> {
        once(&self.snapshot.countries, || self.store.countries()).await
    }
    async fn metrics(&self) -> Result<&[metric::Model]> {
        once(&self.snapshot.metrics, || self.store.metrics(None)).await
    }
    async fn sources(&self) -> Result<&[source::Model]> {
        once(&self.snapshot.sources, || self.store.sources()).await
    }
    async fn sectors(&self) -> Result<&[sector::Model]> {
        once(&self.snapshot.sectors, || self.store.sectors(None)).await
    }
    async fn companies(&self) -> Result<&[company::Model]> {
        once(&self.snapshot.companies, || self.store.companies()).await
    }
    async fn company_sectors(&self) -> Result<&[company_sector::Model]> {
        once(&self.snapshot.company_sectors, || {
            self.store.company_sectors()
        })
        .await
    }
    async fn highlights(&self) -> Result<&[highlight::Model]> {
        once(&self.snapshot.highlights, || self.store.highlights()).await
    }
    /// The source order of every metric (metrics are read once per request).
    async fn preference(&self) -> Result<SourcePreference> {
        Ok(SourcePreference::from_metrics(
            self.store.source_preference(),
            self.metrics().await?,
        ))
    }
    async fn last_successes(&self) -> Result<&[LastSuccess]> {
        once(&self.snapshot.last_successes, || {
            self.store.last_successes()
        })
        .await
    }
}

macro_rules! key {
    ($($name:ident),*) => {$(
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub String);
    )*};
}
key!(
    CountryCode,
    MetricSlug,
    SourceId,
    CompaniesOfCountry,
    CompaniesOfSector,
    SectorsOfCompany,
    HighlightsOfCountry,
    SourcesOfMetric,
    LatestOfMetric
);

/// The versions of one series point of one source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HistoryOf(pub SeriesKey);

/// A refresh run by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RunId(pub i64);

/// The latest successful run of a source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LastSuccessOf(pub String);

/// The latest value of one metric for one country.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LatestValue {
    pub metric: String,
    pub country: String,
}

type Result<T> = async_graphql::Result<T>;

/// For each key, the rows whose `field` equals it (cloned), in snapshot order.
fn select<K, R>(
    keys: &[K],
    key: impl Fn(&K) -> &str,
    rows: &[R],
    field: impl Fn(&R) -> &str,
) -> HashMap<K, Vec<R>>
where
    K: Clone + Eq + std::hash::Hash,
    R: Clone,
{
    keys.iter()
        .map(|k| {
            let matching = rows
                .iter()
                .filter(|r| field(r) == key(k))
                .cloned()
                .collect();
            (k.clone(), matching)
        })
        .collect()
}

/// The distinct values, in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// For each key, the one row whose `field` equals it, if any.
fn find<K, R>(
    keys: &[K],
    key: impl Fn(&K) -> &str,
    rows: &[R],
    field: impl Fn(&R) -> &str,
) -> HashMap<K, R>
where
    K: Clone + Eq + std::hash::Hash,
    R: Clone,
{
    keys.iter()
        .filter_map(|k| {
            let row = rows.iter().find(|r| field(r) == key(k))?;
            Some((k.clone(), row.clone()))
        })
        .collect()
}

impl Loader<CountryCode> for StoreLoader {
    type Value = country::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[CountryCode]) -> Result<HashMap<CountryCode, Self::Value>> {
        Ok(find(keys, |k| &k.0, self.countries().await?, |c| &c.code))
    }
}

impl Loader<MetricSlug> for StoreLoader {
    type Value = metric::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[MetricSlug]) -> Result<HashMap<MetricSlug, Self::Value>> {
        Ok(find(keys, |k| &k.0, self.metrics().await?, |m| &m.slug))
    }
}

impl Loader<SourceId> for StoreLoader {
    type Value = source::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[SourceId]) -> Result<HashMap<SourceId, Self::Value>> {
        Ok(find(keys, |k| &k.0, self.sources().await?, |s| &s.id))
    }
}

impl Loader<CompaniesOfCountry> for StoreLoader {
    type Value = Vec<company::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CompaniesOfCountry],
    ) -> Result<HashMap<CompaniesOfCountry, Self::Value>> {
        Ok(select(
            keys,
            |k| &k.0,
            self.companies().await?,
            |c| &c.country,
        ))
    }
}

impl Loader<CompaniesOfSector> for StoreLoader {
    type Value = Vec<company::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CompaniesOfSector],
    ) -> Result<HashMap<CompaniesOfSector, Self::Value>> {
        let links = self.company_sectors().await?;
        let companies = self.companies().await?;
        Ok(keys
            .iter()
            .map(|k| {
                let members = companies
                    .iter()
                    .filter(|c| links.iter().any(|l| l.sector == k.0 && l.company == c.slug))
                    .cloned()
                    .collect();
                (k.clone(), members)
            })
            .collect())
    }
}

impl Loader<SectorsOfCompany> for StoreLoader {
    type Value = Vec<sector::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[SectorsOfCompany],
    ) -> Result<HashMap<SectorsOfCompany, Self::Value>> {
        let links = self.company_sectors().await?;
        let sectors = self.sectors().await?;
        Ok(keys
            .iter()
            .map(|k| {
                let active = sectors
                    .iter()
                    .filter(|s| links.iter().any(|l| l.company == k.0 && l.sector == s.slug))
                    .cloned()
                    .collect();
                (k.clone(), active)
            })
            .collect())
    }
}

impl Loader<HighlightsOfCountry> for StoreLoader {
    type Value = Vec<highlight::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[HighlightsOfCountry],
    ) -> Result<HashMap<HighlightsOfCountry, Self::Value>> {
        Ok(select(
            keys,
            |k| &k.0,
            self.highlights().await?,
            |h| &h.country,
        ))
    }
}

impl Loader<SourcesOfMetric> for StoreLoader {
    type Value = Vec<source::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[SourcesOfMetric],
    ) -> Result<HashMap<SourcesOfMetric, Self::Value>> {
        let metrics: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let pairs = self.store.metric_sources(Some(&metrics)).await.or_gql()?;
        Ok(keys
            .iter()
            .map(|k| {
                let sources = pairs
                    .iter()
                    .filter(|(metric, _)| *metric == k.0)
                    .map(|(_, source)| source.clone())
                    .collect();
                (k.clone(), sources)
            })
            .collect())
    }
}

impl Loader<LatestOfMetric> for StoreLoader {
    type Value = Vec<observation::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LatestOfMetric]) -> Result<HashMap<LatestOfMetric, Self::Value>> {
        let metrics: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self
            .store
            .latest_values(Some(&metrics), None, &self.preference().await?)
            .await
            .or_gql()?;
        Ok(select(keys, |k| &k.0, &rows, |o| &o.metric))
    }
}

impl Loader<LatestValue> for StoreLoader {
    type Value = observation::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LatestValue]) -> Result<HashMap<LatestValue, Self::Value>> {
        let metrics = distinct(keys.iter().map(|k| &k.metric));
        let countries = distinct(keys.iter().map(|k| &k.country));
        let rows = self
            .store
            .latest_values(Some(&metrics), Some(&countries), &self.preference().await?)
            .await
            .or_gql()?;
        Ok(keys
            .iter()
            .filter_map(|k| {
                let row = rows
                    .iter()
                    .find(|o| o.metric == k.metric && o.country == k.country)?;
                Some((k.clone(), row.clone()))
            })
            .collect())
    }
}

impl Loader<HistoryOf> for StoreLoader {
    type Value = Vec<observation::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[HistoryOf]) -> Result<HashMap<HistoryOf, Self::Value>> {
        let series: Vec<SeriesKey> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.store.histories(&series).await.or_gql()?;
        Ok(keys
            .iter()
            .map(|k| {
                let (metric, country, source, year) = &k.0;
                let versions = rows
                    .iter()
                    .filter(|o| {
                        &o.metric == metric
                            && &o.country == country
                            && &o.source == source
                            && o.year == *year
                    })
                    .cloned()
                    .collect();
                (k.clone(), versions)
            })
            .collect())
    }
}

impl Loader<RunId> for StoreLoader {
    type Value = refresh_run::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[RunId]) -> Result<HashMap<RunId, Self::Value>> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = self.store.runs_by_id(&ids).await.or_gql()?;
        Ok(rows.into_iter().map(|r| (RunId(r.id), r)).collect())
    }
}

impl Loader<LastSuccessOf> for StoreLoader {
    type Value = LastSuccess;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LastSuccessOf]) -> Result<HashMap<LastSuccessOf, Self::Value>> {
        Ok(find(
            keys,
            |k| &k.0,
            self.last_successes().await?,
            |s| &s.source,
        ))
    }
}
