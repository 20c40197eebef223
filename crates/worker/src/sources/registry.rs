//! What each source declares about itself, and the functions that read the whole registry.
//!
//! A source declares, in its own module, one [`SourceSpec`] constant named `SPEC`: its id, its
//! row in the `sources` table, its default schedule, its preference rank and its base-URL
//! variable, and how to build it from the configuration. The `registry!` line in
//! [`crate::sources`] declares each source's module and lists its `SPEC` in
//! [`REGISTRY`](crate::sources::REGISTRY); everything else (the rows registered on seeding, the
//! schedules created on first start, the default order of preference handed to the store, the
//! configuration's URL variables, the ids `refresh` accepts, the sources the worker runs) is
//! read from that list.
//!
//! # Adding a source
//! 1. Write `crates/worker/src/sources/<name>.rs`: the [`Source`] implementation, and
//!    `pub const SPEC: SourceSpec = SourceSpec { id, reference, schedule, preference_rank,
//!    base_url, build }` (see [`crate::sources::oecd::SPEC`] for a public source).
//! 2. Add `<name>` to the `registry!(…)` line in `crates/worker/src/sources.rs`.
//! 3. Document its base-URL variable in the README's configuration table (a test compares the
//!    variables read with the table).
//!
//! A setting of its own beyond the base URL (as the World Bank's page size) is a field of
//! [`SourceContext`], read by the configuration.

use super::baseline::BaselineFile;
use super::{Source, SourceError, REGISTRY};
use crate::fetch::{FetchSettings, Fetcher};
use std::collections::BTreeMap;
use techbalance_store::entities::source;
use techbalance_store::schedules::NewSchedule;

/// Everything the service needs to know about one source, declared once in its module.
#[derive(Debug)]
pub struct SourceSpec {
    /// The source's id: `sources.id`, `observations.source`, `refresh <id>` (e.g. `worldbank`).
    pub id: &'static str,
    /// Its row in the `sources` table, registered on seeding; `None` for a source that brings
    /// its own (the baseline's row comes from its file).
    pub reference: Option<Reference>,
    /// The schedule created for it on first start; `None`: refreshed only on demand.
    pub schedule: Option<DefaultSchedule>,
    /// Its place in the default order of preference when several sources publish a figure for
    /// the same year: lower is preferred (ties keep the registry's order). A metric may set its
    /// own order.
    pub preference_rank: u16,
    /// The environment variable that overrides its base URL, and the default; `None` for a
    /// source read from a file.
    pub base_url: Option<BaseUrl>,
    /// Builds the source from the configuration.
    pub build: fn(&SourceContext<'_>) -> Result<Box<dyn Source>, SourceError>,
}

/// A source's row in the `sources` table.
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub name: &'static str,
    pub homepage: &'static str,
    /// Licence and terms of use, with where to read them.
    pub terms: &'static str,
}

/// A schedule created on first start (a cron expression with seconds, in an IANA time zone).
#[derive(Clone, Copy, Debug)]
pub struct DefaultSchedule {
    pub cron: &'static str,
    pub timezone: &'static str,
}

/// A source's base URL: the variable that sets it, and its default.
#[derive(Clone, Copy, Debug)]
pub struct BaseUrl {
    /// e.g. `TECHBALANCE_WORLDBANK_URL`.
    pub variable: &'static str,
    pub default: &'static str,
}

/// The configuration sources are built from.
#[derive(Clone, Copy, Debug)]
pub struct SourceContext<'a> {
    /// Base URLs by source id, as configured; a source without an entry uses its default.
    pub base_urls: &'a BTreeMap<String, String>,
    pub fetch: &'a FetchSettings,
    /// First year fetched.
    pub from_year: i32,
    /// The World Bank's page size (rows per request).
    pub worldbank_per_page: u32,
    pub baseline: &'a BaselineFile,
}

impl SourceContext<'_> {
    /// `spec`'s base URL: the configured one, else its default (empty for a source without one).
    pub fn base_url(&self, spec: &SourceSpec) -> String {
        self.base_urls
            .get(spec.id)
            .cloned()
            .or_else(|| spec.base_url.map(|url| url.default.to_owned()))
            .unwrap_or_default()
    }

    /// An HTTP fetcher for `spec`, with the configured settings.
    pub fn fetcher(&self, spec: &SourceSpec) -> Result<Fetcher, SourceError> {
        Fetcher::new(spec.id, self.fetch.clone())
    }
}

impl SourceSpec {
    /// Its `sources` row, when it declares one.
    pub fn reference_row(&self) -> Option<source::Model> {
        self.reference.map(|r| source::Model {
            id: self.id.to_owned(),
            name: r.name.to_owned(),
            homepage: r.homepage.to_owned(),
            terms: r.terms.to_owned(),
        })
    }
}

/// The registered source with this id.
pub fn find(id: &str) -> Option<&'static SourceSpec> {
    REGISTRY.iter().copied().find(|spec| spec.id == id)
}

/// Every source id, in the registry's order.
pub fn ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|spec| spec.id).collect()
}

/// The `sources` rows the registry declares (the baseline's comes from its file).
pub fn reference_rows() -> Vec<source::Model> {
    REGISTRY
        .iter()
        .filter_map(|spec| spec.reference_row())
        .collect()
}

/// The schedules created on first start, in the registry's order, created by `system`.
pub fn default_schedules() -> Vec<NewSchedule> {
    REGISTRY
        .iter()
        .filter_map(|spec| {
            spec.schedule.map(|schedule| NewSchedule {
                source: spec.id.to_owned(),
                cron: schedule.cron.to_owned(),
                timezone: schedule.timezone.to_owned(),
                enabled: true,
                created_by: "system".to_owned(),
            })
        })
        .collect()
}

/// Source ids by preference rank, most preferred first: the store's default order.
pub fn preference() -> Vec<String> {
    let mut specs: Vec<&SourceSpec> = REGISTRY.to_vec();
    specs.sort_by_key(|spec| spec.preference_rank);
    specs.iter().map(|spec| spec.id.to_owned()).collect()
}

/// Each source with a base URL, and its variable and default, in the registry's order.
pub fn base_urls() -> impl Iterator<Item = (&'static SourceSpec, BaseUrl)> {
    REGISTRY
        .iter()
        .filter_map(|spec| spec.base_url.map(|url| (*spec, url)))
}

/// Every source, built from `context`, in the registry's order.
pub fn build_all(context: &SourceContext<'_>) -> Result<Vec<Box<dyn Source>>, SourceError> {
    REGISTRY.iter().map(|spec| (spec.build)(context)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_source_has_its_own_id_and_its_own_variable() {
        let ids: HashSet<&str> = REGISTRY.iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), REGISTRY.len(), "{:?}", self::ids());
        let variables: HashSet<&str> = base_urls().map(|(_, url)| url.variable).collect();
        assert_eq!(variables.len(), base_urls().count());
        for (spec, url) in base_urls() {
            assert!(
                url.variable.starts_with("TECHBALANCE_") && url.default.starts_with("https://"),
                "{}: {url:?}",
                spec.id
            );
        }
    }

    #[test]
    fn official_statistics_are_preferred_to_the_baseline() {
        assert_eq!(preference(), ["oecd-msti", "worldbank", "baseline"]);
    }

    #[test]
    fn the_default_schedules_are_valid_and_the_baseline_has_none() {
        let schedules = default_schedules();
        let planned: Vec<(&str, &str)> = schedules
            .iter()
            .map(|s| (s.source.as_str(), s.cron.as_str()))
            .collect();
        assert_eq!(
            planned,
            [("worldbank", "0 0 3 * * *"), ("oecd-msti", "0 0 4 * * Mon")]
        );
        for schedule in &schedules {
            techbalance_store::schedules::CronSchedule::parse(&schedule.cron, &schedule.timezone)
                .unwrap_or_else(|e| panic!("{}: {e}", schedule.source));
        }
    }

    #[test]
    fn every_public_source_declares_its_reference_row() {
        let rows = reference_rows();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["worldbank", "oecd-msti"]);
        assert!(rows
            .iter()
            .all(|r| !r.name.is_empty() && r.homepage.starts_with("https://")));
    }

    #[test]
    fn each_source_is_built_under_its_registered_id_and_url() {
        let base_urls = BTreeMap::from([("oecd-msti".to_owned(), "http://127.0.0.1:9".to_owned())]);
        let context = SourceContext {
            base_urls: &base_urls,
            fetch: &FetchSettings::default(),
            from_year: 1990,
            worldbank_per_page: 1000,
            baseline: &BaselineFile::Bundled,
        };
        let built = build_all(&context).expect("build");
        let built: Vec<&str> = built.iter().map(|s| s.id()).collect();
        assert_eq!(built, self::ids());
        let oecd = find("oecd-msti").expect("registered");
        assert_eq!(context.base_url(oecd), "http://127.0.0.1:9");
        let worldbank = find("worldbank").expect("registered");
        assert_eq!(context.base_url(worldbank), "https://api.worldbank.org/v2");
        assert!(find("elsewhere").is_none());
    }
}
