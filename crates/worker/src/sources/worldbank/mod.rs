//! World Bank Indicators API v2 (World Development Indicators): one request per indicator and page,
//! for every requested country at once, parsed strictly.
//!
//! A refresh can bring a million rows, so a page is read in one pass straight into typed rows
//! whose text borrows from the body; countries are looked up by hash, and the strings every point
//! of an indicator shares (its citation) are held once.
//!
//! Here: the source and its indicators, and the narrowing of refused requests per indicator.
//! [`paging`] follows one request's pages and checks them against each other and the request;
//! [`payload`] reads one page's JSON.

mod paging;
mod payload;

use super::registry::{BaseUrl, DefaultSchedule, Reference, SourceSpec};
use super::{
    refused_note, Bisection, CountryInfo, FetchRequest, Fetched, Progress, Source, SourceError,
};
use crate::fetch::Fetcher;
use async_trait::async_trait;
use chrono::Datelike;
use paging::Part;
use std::collections::HashMap;
use techbalance_store::record::{Batch, Scope};

pub const SOURCE_ID: &str = "worldbank";
pub const DEFAULT_BASE_URL: &str = "https://api.worldbank.org/v2";

/// The World Bank in the registry: refreshed daily at 03:00 UTC, preferred to the baseline.
pub const SPEC: SourceSpec = SourceSpec {
    id: SOURCE_ID,
    reference: Some(Reference {
        name: "World Bank World Development Indicators",
        homepage: "https://data.worldbank.org/",
        terms: "Creative Commons Attribution 4.0 (CC BY 4.0); https://www.worldbank.org/en/about/legal/terms-of-use-for-datasets",
    }),
    schedule: Some(DefaultSchedule {
        cron: "0 0 3 * * *",
        timezone: "UTC",
    }),
    preference_rank: 20,
    base_url: Some(BaseUrl {
        variable: "TECHBALANCE_WORLDBANK_URL",
        default: DEFAULT_BASE_URL,
    }),
    build: |context| {
        Ok(Box::new(WorldBank::new(
            context.base_url(&SPEC),
            context.fetcher(&SPEC)?,
            context.worldbank_per_page,
            (context.from_year, chrono::Utc::now().year()),
        )))
    },
};
pub const DEFAULT_PER_PAGE: u32 = 1000;

/// World Bank indicator code → metric slug.
pub const INDICATORS: &[(&str, &str)] = &[
    ("GB.XPD.RSDV.GD.ZS", "rd_intensity"),
    ("SP.POP.SCIE.RD.P6", "researchers_per_million"),
    ("IP.PAT.RESD", "patent_applications_resident"),
    ("IP.PAT.NRES", "patent_applications_nonresident"),
    ("IP.JRN.ARTC.SC", "scientific_papers"),
    ("TX.VAL.TECH.CD", "high_tech_exports_usd"),
    ("NY.GDP.MKTP.CD", "gdp_usd"),
];

/// The error id the API answers for an indicator that was deleted or archived.
const RETIRED: &str = "175";

pub struct WorldBank {
    base_url: String,
    fetcher: Fetcher,
    per_page: u32,
    years: (i32, i32),
    indicators: Vec<(String, String)>,
}

impl WorldBank {
    /// Every indicator of [`INDICATORS`]; `years` is inclusive.
    pub fn new(
        base_url: impl Into<String>,
        fetcher: Fetcher,
        per_page: u32,
        years: (i32, i32),
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            fetcher,
            per_page: per_page.max(1),
            years,
            indicators: INDICATORS
                .iter()
                .map(|(code, slug)| (code.to_string(), slug.to_string()))
                .collect(),
        }
    }

    /// Restricts the fetch to these (indicator code, metric slug) pairs.
    pub fn with_indicators(mut self, indicators: &[(&str, &str)]) -> Self {
        self.indicators = indicators
            .iter()
            .map(|(code, slug)| (code.to_string(), slug.to_string()))
            .collect();
        self
    }

    fn url(&self, countries: &str, code: &str, page: u32) -> String {
        let (from, to) = self.years;
        format!(
            "{}/country/{countries}/indicator/{code}?format=json&per_page={}&page={page}&date={from}:{to}",
            self.base_url, self.per_page
        )
    }
}

/// What one indicator gave.
enum Series {
    Batch(Batch),
    Retired,
}

/// Counters shared by every indicator of one fetch, for progress reports, and the countries the
/// source named.
struct Tally<'a> {
    request: &'a FetchRequest<'a>,
    progress: Progress,
    /// Each requested ISO3 code and its position in `request.countries`.
    requested: HashMap<&'a str, usize>,
    /// By position in `request.countries`: already in `countries`.
    named: Vec<bool>,
    countries: Vec<CountryInfo>,
    /// Countries the source refused, with its reason: not asked for again in this fetch.
    refused: Vec<(String, String)>,
    notes: Vec<String>,
}

#[async_trait]
impl Source for WorldBank {
    fn id(&self) -> &'static str {
        SOURCE_ID
    }

    /// A request for several countries that the API refuses as a whole (error 120, as for an
    /// economy it does not serve) is split until the refused countries are alone: the others are
    /// refreshed, and the refused ones are named in the notes and left out of every batch's
    /// scope (their stored values stay). A country the API leaves out silently is named too.
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, SourceError> {
        let mut fetched = Fetched::default();
        if request.countries.is_empty() {
            return Ok(fetched);
        }
        let mut tally = Tally {
            request,
            progress: Progress::default(),
            requested: request
                .countries
                .iter()
                .enumerate()
                .map(|(i, code)| (code.as_str(), i))
                .collect(),
            named: vec![false; request.countries.len()],
            countries: Vec::new(),
            refused: Vec::new(),
            notes: Vec::new(),
        };
        for (code, slug) in &self.indicators {
            match self.indicator(code, slug, &mut tally).await? {
                Series::Retired => fetched.retired.push(code.clone()),
                Series::Batch(batch) => {
                    if batch.release > fetched.release {
                        fetched.release = batch.release.clone();
                    }
                    fetched.batches.push(batch);
                }
            }
        }
        if !tally.refused.is_empty() {
            tally.notes.push(refused_note(SOURCE_ID, &tally.refused));
        }
        let absent: Vec<&str> = request
            .countries
            .iter()
            .enumerate()
            .filter(|(i, c)| !tally.named[*i] && !tally.refused.iter().any(|(r, _)| r == *c))
            .map(|(_, c)| c.as_str())
            .collect();
        if !absent.is_empty() && !fetched.batches.is_empty() {
            tally.notes.push(format!(
                "absent from every {SOURCE_ID} answer: {}",
                absent.join(", ")
            ));
        }
        fetched.pages = tally.progress.pages_fetched;
        fetched.countries = tally.countries;
        fetched.notes = tally.notes;
        Ok(fetched)
    }
}

impl WorldBank {
    /// One indicator for every country not refused yet, narrowing refused requests down.
    async fn indicator(
        &self,
        code: &str,
        slug: &str,
        tally: &mut Tally<'_>,
    ) -> Result<Series, SourceError> {
        let countries: Vec<String> = tally
            .request
            .countries
            .iter()
            .filter(|c| !tally.refused.iter().any(|(r, _)| r == *c))
            .cloned()
            .collect();
        let mut bisection = Bisection::new(countries.clone());
        let mut points = Vec::new();
        let mut release: Option<String> = None;
        let mut scope: Vec<String> = Vec::with_capacity(countries.len());
        let mut first_refusal: Option<(String, String)> = None;
        while let Some(group) = bisection.next_group() {
            match self.pages(code, slug, &group, tally).await? {
                Part::Rows {
                    points: part,
                    release: part_release,
                    conflicted,
                } => {
                    points.extend(part);
                    release = release.max(part_release);
                    scope.extend(group.into_iter().filter(|c| !conflicted.contains(c)));
                }
                Part::Retired => return Ok(Series::Retired),
                Part::Refused(problem, url) => {
                    first_refusal.get_or_insert((problem.clone(), url));
                    bisection.refused(group, problem);
                }
            }
        }
        if bisection.all_refused() {
            // Every country refused alone: the request itself is at fault, not a country.
            let (problem, url) = first_refusal.unwrap_or_default();
            return Err(SourceError::Refused {
                source_id: SOURCE_ID,
                url,
                problem,
            });
        }
        tally.refused.extend(bisection.refused);
        // Groups come back in any order: keep the order the countries were asked for.
        scope.sort_by_key(|c| tally.requested.get(c.as_str()).copied());
        Ok(Series::Batch(Batch {
            source: SOURCE_ID.to_owned(),
            release,
            scope: Scope {
                metrics: vec![slug.to_owned()],
                countries: Some(scope),
                years: Some(self.years),
            },
            points,
        }))
    }
}
