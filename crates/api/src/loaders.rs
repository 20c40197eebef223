//! Batched, per-request loading of every relation field. Created per request, so nothing cached
//! outlives its request.
//!
//! Reference tables (countries, metrics, sources, sectors, companies, highlights, sector evidence
//! and verdicts, the last successful run of each source) are small and bounded by curation: the
//! first field that needs one reads it whole, and every later lookup is answered from that
//! snapshot. A snapshot is shared by every request of one **data version**
//! ([`Store::change_generation`], which every recorded change moves, cluster-wide through the
//! change notices, as for the response cache): a request never reads a table older than a change
//! its process has seen, and requests between two changes read each table once between them.
//! While changes may be missed (PostgreSQL's change listener is disconnected), each request
//! reads its own. The per-metric aggregates (each metric's latest values and its sources), which
//! are bounded by metrics × countries, are read once per request. The statements a query costs
//! therefore depend on its shape alone: not on how many rows it returns, and not on how the
//! executor happens to interleave sibling fields.

use crate::error::OrGraphqlError;
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use techbalance_store::entities::refresh_run;
use techbalance_store::entities::{
    company, company_sector, country, highlight, metric, observation, sector, sector_evidence,
    sector_verdict, source,
};
use techbalance_store::history::SeriesKey;
use techbalance_store::queries::SourcePreference;
use techbalance_store::runs::LastSuccess;
use techbalance_store::{Store, StoreError};
use tokio::sync::OnceCell;

pub type Loaders = DataLoader<StoreLoader>;

/// The loaders of one request, reading reference tables from `reference`'s snapshot of the
/// current data version.
pub fn per_request(store: Store, reference: &ReferenceSnapshots) -> Loaders {
    let snapshot = reference.current(&store);
    DataLoader::new(StoreLoader { store, snapshot }, tokio::spawn)
}

pub struct StoreLoader {
    store: Store,
    snapshot: Arc<Snapshot>,
}

/// The snapshot of reference tables of the current data version, shared by the requests of one
/// process (see the module documentation).
#[derive(Clone, Default)]
pub struct ReferenceSnapshots(Arc<Mutex<Option<Versioned>>>);

/// A snapshot and the data version it was taken at.
type Versioned = (u64, Arc<Snapshot>);

impl ReferenceSnapshots {
    /// The snapshot for the data version now: the one requests of this version share, or a
    /// fresh one (a new version, or changes that may be missed: then it is this request's own).
    fn current(&self, store: &Store) -> Arc<Snapshot> {
        if !store.change_listener_connected() {
            return Arc::default();
        }
        let version = store.change_generation();
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some((seen, snapshot)) if *seen == version => snapshot.clone(),
            _ => {
                let snapshot = Arc::new(Snapshot::default());
                *slot = Some((version, snapshot.clone()));
                snapshot
            }
        }
    }
}

/// Reference tables, each read at most once per snapshot.
#[derive(Default)]
pub struct Snapshot {
    countries: OnceCell<Vec<country::Model>>,
    metrics: OnceCell<Vec<metric::Model>>,
    sources: OnceCell<Vec<source::Model>>,
    sectors: OnceCell<Vec<sector::Model>>,
    companies: OnceCell<Vec<company::Model>>,
    company_sectors: OnceCell<Vec<company_sector::Model>>,
    highlights: OnceCell<Vec<highlight::Model>>,
    sector_evidence: OnceCell<Vec<sector_evidence::Model>>,
    sector_verdicts: OnceCell<Vec<sector_verdict::Model>>,
    last_successes: OnceCell<Vec<LastSuccess>>,
    /// Positions in the tables above by primary key, built on first use.
    country_index: OnceLock<Index>,
    metric_index: OnceLock<Index>,
    source_index: OnceLock<Index>,
    company_index: OnceLock<Index>,
    sector_index: OnceLock<Index>,
}

/// The position of each row by its key.
type Index = HashMap<String, usize>;

/// For each key, the one row of `rows` whose key it is, found through `index` (built from `rows`
/// by `field` on first use): a snapshot answers thousands of lookups in a dashboard.
fn find_indexed<K, R>(
    keys: &[K],
    key: impl Fn(&K) -> &str,
    rows: &[R],
    index: &OnceLock<Index>,
    field: impl Fn(&R) -> &str,
) -> HashMap<K, R>
where
    K: Clone + Eq + std::hash::Hash,
    R: Clone,
{
    let index = index.get_or_init(|| {
        rows.iter()
            .enumerate()
            .map(|(i, r)| (field(r).to_owned(), i))
            .collect()
    });
    keys.iter()
        .filter_map(|k| {
            let row = rows.get(*index.get(key(k))?)?;
            Some((k.clone(), row.clone()))
        })
        .collect()
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
    pub(crate) async fn countries(&self) -> Result<&[country::Model]> {
        once(&self.snapshot.countries, || self.store.countries()).await
    }
    pub(crate) async fn metrics(&self) -> Result<&[metric::Model]> {
        once(&self.snapshot.metrics, || self.store.metrics(None)).await
    }
    pub(crate) async fn sources(&self) -> Result<&[source::Model]> {
        once(&self.snapshot.sources, || self.store.sources()).await
    }
    pub(crate) async fn sectors(&self) -> Result<&[sector::Model]> {
        once(&self.snapshot.sectors, || self.store.sectors(None)).await
    }
    pub(crate) async fn companies(&self) -> Result<&[company::Model]> {
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
    LatestOfMetric,
    CompanySlug,
    SectorSlug,
    LinksOfCompany,
    LinksOfSector,
    EvidenceOf,
    VerdictsOf
);

/// Keys answered from the reference snapshot alone. Looking one up needs no batching (the
/// snapshot is read at most once, however many lookups there are), so [`lookup`] skips the
/// loader's batching delay.
pub trait FromSnapshot: Send + Sync + std::hash::Hash + Eq + Clone + 'static {}

macro_rules! from_snapshot {
    ($($name:ident),*) => {$(impl FromSnapshot for $name {})*};
}
from_snapshot!(
    CountryCode,
    MetricSlug,
    SourceId,
    CompaniesOfCountry,
    CompaniesOfSector,
    SectorsOfCompany,
    HighlightsOfCountry,
    CompanySlug,
    SectorSlug,
    LinksOfCompany,
    LinksOfSector,
    EvidenceOf,
    VerdictsOf,
    LastSuccessOf
);

/// The value of `key`, from the request's reference snapshot, without waiting for a batch.
pub async fn lookup<K, V>(loaders: &Loaders, key: K) -> Result<Option<V>>
where
    K: FromSnapshot,
    StoreLoader: Loader<K, Value = V, Error = async_graphql::Error>,
{
    let mut found = loaders.loader().load(std::slice::from_ref(&key)).await?;
    Ok(found.remove(&key))
}

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

/// A loader of rows by primary key from the reference snapshot, through its index.
macro_rules! by_key {
    ($($key:ident => $model:ty, $table:ident, $index:ident, $field:ident;)*) => {$(
        impl Loader<$key> for StoreLoader {
            type Value = $model;
            type Error = async_graphql::Error;
            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>> {
                Ok(find_indexed(
                    keys,
                    |k| &k.0,
                    self.$table().await?,
                    &self.snapshot.$index,
                    |row| &row.$field,
                ))
            }
        }
    )*};
}
by_key! {
    CountryCode => country::Model, countries, country_index, code;
    MetricSlug => metric::Model, metrics, metric_index, slug;
    SourceId => source::Model, sources, source_index, id;
    CompanySlug => company::Model, companies, company_index, slug;
    SectorSlug => sector::Model, sectors, sector_index, slug;
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

impl StoreLoader {
    async fn sector_evidence(&self) -> Result<&[sector_evidence::Model]> {
        once(&self.snapshot.sector_evidence, || {
            self.store.sector_evidence()
        })
        .await
    }
    async fn sector_verdicts(&self) -> Result<&[sector_verdict::Model]> {
        once(&self.snapshot.sector_verdicts, || {
            self.store.sector_verdicts()
        })
        .await
    }
}

impl Loader<LinksOfCompany> for StoreLoader {
    type Value = Vec<company_sector::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LinksOfCompany]) -> Result<HashMap<LinksOfCompany, Self::Value>> {
        let links = self.company_sectors().await?;
        Ok(select(keys, |k| &k.0, links, |l| &l.company))
    }
}

impl Loader<LinksOfSector> for StoreLoader {
    type Value = Vec<company_sector::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LinksOfSector]) -> Result<HashMap<LinksOfSector, Self::Value>> {
        let links = self.company_sectors().await?;
        Ok(select(keys, |k| &k.0, links, |l| &l.sector))
    }
}

impl Loader<EvidenceOf> for StoreLoader {
    type Value = Vec<sector_evidence::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[EvidenceOf]) -> Result<HashMap<EvidenceOf, Self::Value>> {
        Ok(select(
            keys,
            |k| &k.0,
            self.sector_evidence().await?,
            |e| &e.sector,
        ))
    }
}

impl Loader<VerdictsOf> for StoreLoader {
    type Value = Vec<sector_verdict::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[VerdictsOf]) -> Result<HashMap<VerdictsOf, Self::Value>> {
        Ok(select(
            keys,
            |k| &k.0,
            self.sector_verdicts().await?,
            |v| &v.sector,
        ))
    }
}
