//! Our World in Data's chart API: for each chart the baseline file maps (`[[owid_charts]]`),
//! `<base>/<slug>.metadata.json` (unit, source, citation) and `<base>/<slug>.csv`
//! (`entity,code,year,<short names…>`), parsed strictly.
//!
//! Each chart is one batch (one metric) whose figures cite the column's `citationShort` and the
//! chart. Its scope is the requested countries the chart has rows for: a country it does not
//! publish is named in the notes and its stored values are left alone. Regions and `OWID_*`
//! aggregates are skipped (never made into countries), except the EU, which the store knows as
//! `EUU` and Our World in Data as `OWID_EU27` ("European Union (27)").
//!
//! Faults, by kind:
//! - a chart that no longer exists (404 on either file) is named in the notes and not refreshed;
//!   the other charts are recorded (every chart gone fails the fetch);
//! - a column that is missing or renamed is a degenerate answer: the chart's batch comes empty,
//!   so the withdrawal guard holds its series (the run ends `held`) and nothing is withdrawn
//!   unless an operator accepts it;
//! - a unit other than the one the mapping expects, an HTML page or a malformed CSV or metadata
//!   fails the fetch (nothing recorded), naming the chart and the URL; another 4xx is a refusal.

pub mod parse;

use super::baseline::{BaselineFile, OwidChart};
use super::registry::{BaseUrl, DefaultSchedule, Reference, SourceSpec};
use super::{FetchRequest, Fetched, Progress, Source, SourceError};
use crate::fetch::{FetchError, Fetcher, Response};
use async_trait::async_trait;
use chrono::Datelike;
use parse::{CsvProblem, Metadata};
use std::collections::HashMap;
use std::sync::Arc;
use techbalance_store::record::{Batch, Scope};

pub const SOURCE_ID: &str = "owid";
pub const DEFAULT_BASE_URL: &str = "https://ourworldindata.org/grapher";

/// Our World in Data in the registry: weekly, preferred after the official statistics (it
/// republishes others' figures with its own processing) and before the baseline.
pub const SPEC: SourceSpec = SourceSpec {
    id: SOURCE_ID,
    reference: Some(Reference {
        name: "Our World in Data",
        homepage: "https://ourworldindata.org/",
        terms: "Creative Commons Attribution 4.0 (CC BY 4.0) for data processed by Our World in Data; the original producer's terms apply too (each figure's citation names it); https://ourworldindata.org/faqs#can-i-use-or-reproduce-your-data",
    }),
    schedule: Some(DefaultSchedule {
        cron: "0 30 4 * * Mon",
        timezone: "UTC",
    }),
    preference_rank: 30,
    base_url: Some(BaseUrl {
        variable: "TECHBALANCE_OWID_URL",
        default: DEFAULT_BASE_URL,
    }),
    build: |context| {
        Ok(Box::new(Owid::new(
            context.base_url(&SPEC),
            context.fetcher(&SPEC)?,
            context.baseline.clone(),
            (context.from_year, chrono::Utc::now().year()),
        )))
    },
};

/// Store codes that Our World in Data spells otherwise (aggregates without an ISO 3166-1 code).
const OWID_CODES: &[(&str, &str)] = &[("EUU", "OWID_EU27")];

/// Our World in Data's code for a store country code.
pub fn owid_code(code: &str) -> &str {
    OWID_CODES
        .iter()
        .find(|(ours, _)| *ours == code)
        .map_or(code, |(_, theirs)| theirs)
}

pub struct Owid {
    base_url: String,
    fetcher: Fetcher,
    baseline: BaselineFile,
    years: (i32, i32),
}

impl Owid {
    /// Charts are read from `baseline` at every fetch; `years` is inclusive.
    pub fn new(
        base_url: impl Into<String>,
        fetcher: Fetcher,
        baseline: BaselineFile,
        years: (i32, i32),
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            fetcher,
            baseline,
            years,
        }
    }

    fn url(&self, chart: &OwidChart, file: &str, countries: &[String]) -> String {
        let codes: Vec<&str> = countries.iter().map(|c| owid_code(c)).collect();
        format!(
            "{}/{}.{file}?useColumnShortNames=true&country={}",
            self.base_url,
            chart.slug,
            codes.join("~")
        )
    }

    /// A file of a chart: its body, `None` when the chart does not exist (404), or the error.
    async fn get(&self, url: String) -> Result<Option<Response>, SourceError> {
        match self.fetcher.get(&url).await {
            Ok(response) => Ok(Some(response)),
            Err(FetchError::Rejected(rejection)) if rejection.status == 404 => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

#[async_trait]
impl Source for Owid {
    fn id(&self) -> &'static str {
        SOURCE_ID
    }

    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, SourceError> {
        let loaded = self.baseline.load().map_err(|e| SourceError::File {
            source_id: SOURCE_ID,
            problem: e.to_string(),
        })?;
        let charts = loaded.baseline.owid_charts();
        let mut fetched = Fetched::default();
        if request.countries.is_empty() || charts.is_empty() {
            return Ok(fetched);
        }
        let wanted: HashMap<String, String> = request
            .countries
            .iter()
            .map(|c| (owid_code(c).to_owned(), c.clone()))
            .collect();
        let mut progress = Progress {
            pages_total: 2 * charts.len() as u32,
            ..Progress::default()
        };
        let mut gone = Vec::new();
        for chart in charts {
            let malformed = |url: &str, problem: String| SourceError::Malformed {
                source_id: SOURCE_ID,
                url: url.to_owned(),
                problem: format!("chart {}: {problem}", chart.slug),
            };
            let metadata_url = self.url(chart, "metadata.json", request.countries);
            let Some(metadata) = self.get(metadata_url.clone()).await? else {
                gone.push(format!("{} (HTTP 404 at {metadata_url})", chart.slug));
                continue;
            };
            progress.pages_fetched += 1;
            (request.progress)(progress);
            let metadata =
                Metadata::parse(&metadata.body).map_err(|p| malformed(&metadata_url, p))?;
            let csv_url = self.url(chart, "csv", request.countries);
            let Some(csv) = self.get(csv_url.clone()).await? else {
                gone.push(format!("{} (HTTP 404 at {csv_url})", chart.slug));
                continue;
            };
            progress.pages_fetched += 1;
            let Some(column) = metadata.column(&chart.column) else {
                let problem = format!(
                    "the metadata describes no column {} (it has {})",
                    chart.column,
                    sorted(metadata.columns.keys())
                );
                self.hold(&mut fetched, chart, request.countries, &problem);
                continue;
            };
            if let Some(expected) = &chart.owid_unit {
                let unit = column.unit.as_deref().unwrap_or("");
                if !unit.trim().eq_ignore_ascii_case(expected) {
                    return Err(malformed(
                        &metadata_url,
                        format!(
                            "column {} is in \"{unit}\", not \"{expected}\" as mapped: the mapping's scale may no longer hold",
                            chart.column
                        ),
                    ));
                }
            }
            let citation: Arc<str> = citation(&self.base_url, chart, &metadata, column).into();
            let rows = match parse::rows(&csv.body, chart, &wanted, self.years, &citation) {
                Ok(rows) => rows,
                Err(CsvProblem::MissingColumn(found)) => {
                    let problem = format!(
                        "the CSV has no column {} (it has {})",
                        chart.column,
                        found.join(", ")
                    );
                    self.hold(&mut fetched, chart, request.countries, &problem);
                    continue;
                }
                Err(CsvProblem::Malformed(problem)) => return Err(malformed(&csv_url, problem)),
            };
            progress.observations += rows.points.len() as u64;
            (request.progress)(progress);
            let absent: Vec<&str> = request
                .countries
                .iter()
                .filter(|c| !rows.present.contains(*c))
                .map(String::as_str)
                .collect();
            if !absent.is_empty() {
                fetched.notes.push(format!(
                    "{SOURCE_ID} {} does not publish {}: not refreshed",
                    chart.slug,
                    absent.join(", ")
                ));
            }
            let scope: Vec<String> = request
                .countries
                .iter()
                .filter(|c| rows.present.contains(*c))
                .cloned()
                .collect();
            let release = column.last_updated.clone();
            if release > fetched.release {
                fetched.release.clone_from(&release);
            }
            fetched
                .batches
                .push(self.batch(chart, scope, rows.points, release));
        }
        if !gone.is_empty() {
            if fetched.batches.is_empty() {
                return Err(SourceError::Refused {
                    source_id: SOURCE_ID,
                    url: self.base_url.clone(),
                    problem: format!("no chart exists any more: {}", gone.join(", ")),
                });
            }
            fetched.notes.push(format!(
                "chart(s) not found, not refreshed, stored values kept: {}",
                gone.join(", ")
            ));
        }
        fetched.pages = progress.pages_fetched;
        Ok(fetched)
    }
}

impl Owid {
    /// A re-shaped chart (its column missing): an empty batch over every requested country, so
    /// that the withdrawal guard holds each stored series of the chart, and a note saying why.
    fn hold(&self, fetched: &mut Fetched, chart: &OwidChart, countries: &[String], problem: &str) {
        fetched.notes.push(format!(
            "{SOURCE_ID} {}: {problem}; a re-shaped answer is not evidence that the data is gone: \
             the values of {} are held, not withdrawn",
            chart.slug, chart.metric
        ));
        fetched
            .batches
            .push(self.batch(chart, countries.to_vec(), Vec::new(), None));
    }

    fn batch(
        &self,
        chart: &OwidChart,
        countries: Vec<String>,
        points: Vec<techbalance_store::record::Point>,
        release: Option<String>,
    ) -> Batch {
        Batch {
            source: SOURCE_ID.to_owned(),
            release,
            scope: Scope {
                metrics: vec![chart.metric.clone()],
                countries: Some(countries),
                years: Some(self.years),
            },
            points,
        }
    }
}

/// "Epoch AI (2025) – with major processing by Our World in Data; Our World in Data, chart
/// "Cumulative number of large-scale AI systems" (<base>/<slug>), column cumulative_count,
/// updated 2025-06-02".
fn citation(
    base_url: &str,
    chart: &OwidChart,
    metadata: &Metadata,
    column: &parse::ColumnMetadata,
) -> String {
    let title = metadata
        .chart
        .title
        .as_deref()
        .unwrap_or(&column.title_short);
    let mut text = format!(
        "{}; Our World in Data, chart \"{title}\" ({base_url}/{}), column {}",
        column.citation_short.trim(),
        chart.slug,
        chart.column
    );
    if let Some(updated) = &column.last_updated {
        text.push_str(&format!(", updated {updated}"));
    }
    text
}

fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    names.sort_unstable();
    names.join(", ")
}
