//! Batched, per-request loading of every relation field: one statement per key type and query
//! level, however many rows ask. Created per request, so no cache outlives its request.

use crate::error::OrGraphqlError;
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use techbalance_store::entities::{
    company, country, highlight, metric, observation, sector, source,
};
use techbalance_store::queries::DEFAULT_SOURCE_PREFERENCE;
use techbalance_store::Store;

pub type Loaders = DataLoader<StoreLoader>;

pub fn per_request(store: Store) -> Loaders {
    DataLoader::new(StoreLoader { store }, tokio::spawn)
}

pub struct StoreLoader {
    store: Store,
}

macro_rules! key {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub String);
    };
}
key!(CountryCode);
key!(MetricSlug);
key!(SourceId);
key!(CompaniesOfCountry);
key!(CompaniesOfSector);
key!(SectorsOfCompany);
key!(HighlightsOfCountry);
key!(SourcesOfMetric);
key!(LatestOfMetric);

/// The latest value of one metric for one country.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LatestValue {
    pub metric: String,
    pub country: String,
}

type Result<T> = async_graphql::Result<T>;

fn keyed<K: Clone, V>(
    keys: &[K],
    f: impl Fn(&K) -> String,
    map: &mut HashMap<String, V>,
) -> HashMap<K, V>
where
    K: std::hash::Hash + Eq,
{
    keys.iter()
        .filter_map(|k| map.remove(&f(k)).map(|v| (k.clone(), v)))
        .collect()
}

fn grouped<V>(rows: impl IntoIterator<Item = (String, V)>) -> HashMap<String, Vec<V>> {
    let mut groups: HashMap<String, Vec<V>> = HashMap::new();
    for (key, value) in rows {
        groups.entry(key).or_default().push(value);
    }
    groups
}

fn strings<K>(keys: &[K], f: impl Fn(&K) -> &String) -> Vec<String> {
    keys.iter().map(|k| f(k).clone()).collect()
}

impl Loader<CountryCode> for StoreLoader {
    type Value = country::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[CountryCode]) -> Result<HashMap<CountryCode, Self::Value>> {
        let rows = self
            .store
            .countries_by_code(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = rows.into_iter().map(|c| (c.code.clone(), c)).collect();
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<MetricSlug> for StoreLoader {
    type Value = metric::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[MetricSlug]) -> Result<HashMap<MetricSlug, Self::Value>> {
        let rows = self
            .store
            .metrics_by_slug(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = rows.into_iter().map(|m| (m.slug.clone(), m)).collect();
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<SourceId> for StoreLoader {
    type Value = source::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[SourceId]) -> Result<HashMap<SourceId, Self::Value>> {
        let rows = self
            .store
            .sources_by_id(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = rows.into_iter().map(|s| (s.id.clone(), s)).collect();
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<CompaniesOfCountry> for StoreLoader {
    type Value = Vec<company::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CompaniesOfCountry],
    ) -> Result<HashMap<CompaniesOfCountry, Self::Value>> {
        let rows = self
            .store
            .companies_of_countries(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = grouped(rows.into_iter().map(|c| (c.country.clone(), c)));
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<CompaniesOfSector> for StoreLoader {
    type Value = Vec<company::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CompaniesOfSector],
    ) -> Result<HashMap<CompaniesOfSector, Self::Value>> {
        let rows = self
            .store
            .companies_of_sectors(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = grouped(rows);
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<SectorsOfCompany> for StoreLoader {
    type Value = Vec<sector::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[SectorsOfCompany],
    ) -> Result<HashMap<SectorsOfCompany, Self::Value>> {
        let rows = self
            .store
            .sectors_of_companies(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = grouped(rows);
        for sectors in map.values_mut() {
            sectors.sort_by_key(|s| s.position);
        }
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<HighlightsOfCountry> for StoreLoader {
    type Value = Vec<highlight::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[HighlightsOfCountry],
    ) -> Result<HashMap<HighlightsOfCountry, Self::Value>> {
        let rows = self
            .store
            .highlights_of_countries(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = grouped(rows.into_iter().map(|h| (h.country.clone(), h)));
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<SourcesOfMetric> for StoreLoader {
    type Value = Vec<source::Model>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[SourcesOfMetric],
    ) -> Result<HashMap<SourcesOfMetric, Self::Value>> {
        let rows = self
            .store
            .sources_of_metrics(&strings(keys, |k| &k.0))
            .await
            .or_gql()?;
        let mut map = grouped(rows);
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<LatestOfMetric> for StoreLoader {
    type Value = Vec<observation::Model>;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LatestOfMetric]) -> Result<HashMap<LatestOfMetric, Self::Value>> {
        let rows = self
            .store
            .latest_values(&strings(keys, |k| &k.0), None, DEFAULT_SOURCE_PREFERENCE)
            .await
            .or_gql()?;
        let mut map = grouped(rows.into_iter().map(|o| (o.metric.clone(), o)));
        Ok(keyed(keys, |k| k.0.clone(), &mut map))
    }
}

impl Loader<LatestValue> for StoreLoader {
    type Value = observation::Model;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[LatestValue]) -> Result<HashMap<LatestValue, Self::Value>> {
        let mut metrics: Vec<String> = keys.iter().map(|k| k.metric.clone()).collect();
        let mut countries: Vec<String> = keys.iter().map(|k| k.country.clone()).collect();
        metrics.sort();
        metrics.dedup();
        countries.sort();
        countries.dedup();
        let rows = self
            .store
            .latest_values(&metrics, Some(&countries), DEFAULT_SOURCE_PREFERENCE)
            .await
            .or_gql()?;
        let mut map: HashMap<String, observation::Model> = rows
            .into_iter()
            .map(|o| (format!("{}\u{0}{}", o.metric, o.country), o))
            .collect();
        Ok(keyed(
            keys,
            |k| format!("{}\u{0}{}", k.metric, k.country),
            &mut map,
        ))
    }
}
