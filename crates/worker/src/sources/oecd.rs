//! OECD Main Science and Technology Indicators over SDMX REST, as `csvfilewithlabels`: one request
//! per series for every requested country at once, parsed strictly.
//!
//! A value is stored only with its magnitude established: `UNIT_MULT` (values are in units ×
//! 10^UNIT_MULT; GERD comes in millions) is a required column, and an empty or unknown multiplier
//! fails the fetch, naming the series and the column. A request for several areas that the
//! service refuses (a 4xx) or answers `NoRecordsFound` is split until each such area is alone
//! (see [`Bisection`]): an area refused alone is named and left out of the scope; an area with no
//! records alone is named, and stays in scope (the withdrawal guard keeps its stored values).

use super::registry::{BaseUrl, DefaultSchedule, Reference, SourceSpec};
use super::{refused_note, Bisection, FetchRequest, Fetched, Progress, Source, SourceError};
use crate::fetch::{FetchError, Fetcher};
use async_trait::async_trait;
use chrono::Datelike;
use std::collections::{HashMap, HashSet};
use techbalance_store::record::{Batch, Point, Scope};

pub const SOURCE_ID: &str = "oecd-msti";
pub const DEFAULT_BASE_URL: &str = "https://sdmx.oecd.org/public/rest";

/// The OECD in the registry: refreshed every Monday at 04:00 UTC (the service allows about 60
/// downloads an hour), preferred to every other source.
pub const SPEC: SourceSpec = SourceSpec {
    id: SOURCE_ID,
    reference: Some(Reference {
        name: "OECD Main Science and Technology Indicators",
        homepage: "https://www.oecd.org/en/data/datasets/main-science-and-technology-indicators.html",
        terms: "OECD terms and conditions; https://www.oecd.org/en/about/terms-conditions.html",
    }),
    schedule: Some(DefaultSchedule {
        cron: "0 0 4 * * Mon",
        timezone: "UTC",
    }),
    preference_rank: 10,
    base_url: Some(BaseUrl {
        variable: "TECHBALANCE_OECD_URL",
        default: DEFAULT_BASE_URL,
    }),
    build: |context| {
        Ok(Box::new(Oecd::new(
            context.base_url(&SPEC),
            context.fetcher(&SPEC)?,
            context.from_year,
        )))
    },
};
pub const DATAFLOW: &str = "OECD.STI.STP,DSD_MSTI@DF_MSTI,1.3";

/// Store codes the OECD spells otherwise: the European Union (27 members since 2020).
const AREA_CODES: &[(&str, &str)] = &[("EUU", "EU27_2020")];

/// The OECD's `REF_AREA` for a store country code.
fn area_code(code: &str) -> &str {
    AREA_CODES
        .iter()
        .find(|(ours, _)| *ours == code)
        .map_or(code, |(_, theirs)| theirs)
}

/// One MSTI series and the metric it feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series {
    pub slug: &'static str,
    pub measure: &'static str,
    pub unit: &'static str,
    /// Rows with another PRICE_BASE are left out; `None` keeps every row.
    pub price_base: Option<&'static str>,
}

pub const SERIES: &[Series] = &[
    // GERD in US dollars at purchasing power parity, current prices.
    Series {
        slug: "rd_spending_usd",
        measure: "G",
        unit: "USD_PPP",
        price_base: Some("V"),
    },
    // Total researchers, full-time equivalent.
    Series {
        slug: "researchers_fte",
        measure: "T_RS",
        unit: "FTE",
        price_base: None,
    },
];

/// Columns every payload must have (codes, plus the label of the reference area).
const REQUIRED: &[&str] = &[
    "REF_AREA",
    "Reference area",
    "FREQ",
    "MEASURE",
    "UNIT_MEASURE",
    "PRICE_BASE",
    "TIME_PERIOD",
    "OBS_VALUE",
    "OBS_STATUS",
    "UNIT_MULT",
];

pub struct Oecd {
    base_url: String,
    fetcher: Fetcher,
    start_year: i32,
}

impl Oecd {
    pub fn new(base_url: impl Into<String>, fetcher: Fetcher, start_year: i32) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            fetcher,
            start_year,
        }
    }

    /// One series for `countries`: its rows, no records, or a refusal (a 4xx other than
    /// `NoRecordsFound`). Any other status fails the fetch.
    async fn request(
        &self,
        countries: &[String],
        series: &Series,
        years: (i32, i32),
    ) -> Result<Answer, SourceError> {
        let url = self.url(countries, series);
        match self.fetcher.get(&url).await {
            Ok(response) => parse(
                &String::from_utf8_lossy(&response.body),
                series,
                countries,
                years,
            )
            .map(Answer::Rows)
            .map_err(|problem| SourceError::Malformed {
                source_id: SOURCE_ID,
                url,
                problem: format!("{}: {problem}", series.slug),
            }),
            // The query matched nothing: the source has no values in this scope.
            Err(FetchError::Rejected(rejection))
                if rejection.status == 404 && no_records(&rejection.text()) =>
            {
                Ok(Answer::NoRecords)
            }
            Err(FetchError::Rejected(rejection)) if rejection.is_client_error() => {
                Ok(Answer::Refused(rejection.problem(), url))
            }
            Err(error) => Err(error.into()),
        }
    }

    fn url(&self, countries: &[String], series: &Series) -> String {
        format!(
            "{}/data/{DATAFLOW}/{}.A.{}.{}..?startPeriod={}&dimensionAtObservation=AllDimensions&format=csvfilewithlabels",
            self.base_url,
            countries
                .iter()
                .map(|c| area_code(c))
                .collect::<Vec<_>>()
                .join("+"),
            series.measure,
            series.unit,
            self.start_year
        )
    }
}

#[async_trait]
impl Source for Oecd {
    fn id(&self) -> &'static str {
        SOURCE_ID
    }

    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, SourceError> {
        let mut fetched = Fetched::default();
        if request.countries.is_empty() {
            return Ok(fetched);
        }
        let years = (self.start_year, chrono::Utc::now().year());
        let mut progress = Progress {
            pages_total: SERIES.len() as u32,
            ..Progress::default()
        };
        let mut refused: Vec<(String, String)> = Vec::new();
        let mut answered: HashSet<String> = HashSet::new();
        for series in SERIES {
            let countries: Vec<String> = request
                .countries
                .iter()
                .filter(|c| !refused.iter().any(|(r, _)| r == *c))
                .cloned()
                .collect();
            let mut bisection = Bisection::new(countries);
            let mut points = Vec::new();
            let mut scope = Vec::new();
            let mut empty = Vec::new();
            let mut first_refusal: Option<(String, String)> = None;
            let mut requests = 0;
            while let Some(group) = bisection.next_group() {
                requests += 1;
                if requests > 1 {
                    progress.pages_total += 1;
                }
                let answer = self.request(&group, series, years).await?;
                progress.pages_fetched += 1;
                match answer {
                    Answer::Rows(rows) => {
                        progress.observations += rows.points.len() as u64;
                        answered.extend(rows.named);
                        for (country, problem) in &rows.conflicts {
                            fetched.notes.push(format!(
                                "conflict: {SOURCE_ID} {}: {problem}; not recorded for {country}",
                                series.slug
                            ));
                        }
                        scope.extend(
                            group
                                .into_iter()
                                .filter(|c| !rows.conflicts.iter().any(|(x, _)| x == c)),
                        );
                        points.extend(rows.points);
                    }
                    // Several areas: find the ones without records; one: it has none.
                    Answer::NoRecords if group.len() > 1 => bisection.split(group),
                    Answer::NoRecords => {
                        empty.extend(group.iter().cloned());
                        scope.extend(group);
                    }
                    Answer::Refused(problem, url) => {
                        first_refusal.get_or_insert((problem.clone(), url));
                        bisection.refused(group, problem);
                    }
                }
                (request.progress)(progress);
            }
            if bisection.all_refused() {
                let (problem, url) = first_refusal.unwrap_or_default();
                return Err(SourceError::Refused {
                    source_id: SOURCE_ID,
                    url,
                    problem,
                });
            }
            refused.extend(bisection.refused);
            if !empty.is_empty() && empty.len() < request.countries.len() {
                fetched.notes.push(format!(
                    "{SOURCE_ID} {}: no records for {}",
                    series.slug,
                    empty.join(", ")
                ));
            }
            scope.sort_by_key(|c| request.countries.iter().position(|r| r == c));
            fetched.batches.push(Batch {
                source: SOURCE_ID.to_owned(),
                release: None,
                scope: Scope {
                    metrics: vec![series.slug.to_owned()],
                    countries: Some(scope),
                    years: Some(years),
                },
                points,
            });
        }
        if !refused.is_empty() {
            fetched.notes.push(refused_note(SOURCE_ID, &refused));
        }
        let absent: Vec<&str> = request
            .countries
            .iter()
            .filter(|c| !answered.contains(*c) && !refused.iter().any(|(r, _)| r == *c))
            .map(String::as_str)
            .collect();
        if !absent.is_empty() && absent.len() < request.countries.len() {
            fetched.notes.push(format!(
                "absent from every {SOURCE_ID} answer: {}",
                absent.join(", ")
            ));
        }
        fetched.pages = progress.pages_fetched;
        Ok(fetched)
    }
}

/// What one request for one series gave.
enum Answer {
    Rows(Rows),
    NoRecords,
    /// A 4xx other than `NoRecordsFound`: the problem, and the URL.
    Refused(String, String),
}

/// The rows of one answer.
#[derive(Debug, Default)]
struct Rows {
    points: Vec<Point>,
    /// Areas whose rows contradict each other (the same year twice with different values), with
    /// the problem: their points are left out, and they are left out of the scope.
    conflicts: Vec<(String, String)>,
    /// Areas with at least one row.
    named: HashSet<String>,
}

fn no_records(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    body.contains("norecordsfound")
        || body.contains("no records found")
        || body.contains("no results found")
}

/// The rows of one series, filtered on price base and checked against the request.
fn parse(
    body: &str,
    series: &Series,
    countries: &[String],
    years: (i32, i32),
) -> Result<Rows, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("header: {e}"))?
        .clone();
    let index: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.trim(), i))
        .collect();
    let column = |name: &str| {
        index
            .get(name)
            .copied()
            .ok_or_else(|| format!("column {name} is missing"))
    };
    for name in REQUIRED {
        column(name)?;
    }
    let [area, freq, measure, unit, price_base, period, value_col, status] = [
        "REF_AREA",
        "FREQ",
        "MEASURE",
        "UNIT_MEASURE",
        "PRICE_BASE",
        "TIME_PERIOD",
        "OBS_VALUE",
        "OBS_STATUS",
    ]
    .map(|name| index[name]);
    // Values are in units × 10^UNIT_MULT (GERD comes in millions).
    let unit_mult = index["UNIT_MULT"];
    let citation: std::sync::Arc<str> = format!(
        "OECD, Main Science and Technology Indicators ({DATAFLOW}), {}/{}",
        series.measure, series.unit
    )
    .into();
    let mut rows = Rows::default();
    // (area, year) → the value of its first row.
    let mut seen: HashMap<(String, i32), f64> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 1;
        let record = record.map_err(|e| format!("row {row}: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |problem: String| format!("row {row} (line {line}): {problem}");
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let area = field(area);
        let Some(country) = countries
            .iter()
            .map(String::as_str)
            .find(|c| area_code(c) == area)
        else {
            return Err(at(format!("REF_AREA {area} was not requested")));
        };
        for (name, i, expected) in [
            ("FREQ", freq, "A"),
            ("MEASURE", measure, series.measure),
            ("UNIT_MEASURE", unit, series.unit),
        ] {
            if field(i) != expected {
                return Err(at(format!(
                    "{name} {} where {expected} was asked for",
                    field(i)
                )));
            }
        }
        if series.price_base.is_some_and(|p| field(price_base) != p) {
            continue;
        }
        let period = field(period);
        let year: i32 = Some(period)
            .filter(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|y| y.parse().ok())
            .ok_or_else(|| at(format!("TIME_PERIOD \"{period}\" is not a year")))?;
        if year < years.0 || year > years.1 {
            return Err(at(format!(
                "year {year} is outside {}..={}",
                years.0, years.1
            )));
        }
        let raw = field(value_col);
        if raw.is_empty() {
            continue;
        }
        let mut value: f64 = raw
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| at(format!("OBS_VALUE \"{raw}\" is not a number")))?;
        // SDMX's CL_UNIT_MULT: exponents of ten from 0 to 12 (and a few negative ones).
        let exponent: i32 = match field(unit_mult) {
            "" => {
                return Err(at(
                    "UNIT_MULT is empty: the value's magnitude cannot be established".into(),
                ))
            }
            m => m
                .parse()
                .ok()
                .filter(|e| (-12..=12).contains(e))
                .ok_or_else(|| {
                    at(format!(
                        "UNIT_MULT \"{m}\" is not a known unit multiplier (a power of ten, -12 to 12)"
                    ))
                })?,
        };
        value *= 10f64.powi(exponent);
        rows.named.insert(country.to_owned());
        match seen.get(&(country.to_owned(), year)) {
            // The same row twice says nothing new.
            Some(earlier) if *earlier == value => continue,
            Some(earlier) => {
                if !rows.conflicts.iter().any(|(c, _)| c == country) {
                    rows.conflicts.push((
                        country.to_owned(),
                        format!("{country} {year} appears twice ({earlier} and {value})"),
                    ));
                }
                continue;
            }
            None => {
                seen.insert((country.to_owned(), year), value);
            }
        }
        let qualifier = Some(field(status))
            .filter(|s| !s.is_empty() && *s != "A")
            .map(str::to_owned);
        rows.points.push(Point {
            metric: series.slug.to_owned(),
            country: country.to_owned(),
            year,
            value,
            qualifier,
            citation: Some(citation.clone()),
        });
    }
    rows.points
        .retain(|p| !rows.conflicts.iter().any(|(c, _)| *c == p.country));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eu_is_asked_for_and_read_as_eu27_2020() {
        let source = Oecd::new(
            "http://127.0.0.1:9",
            Fetcher::new(SOURCE_ID, Default::default()).expect("fetcher"),
            2000,
        );
        let countries = ["USA".to_owned(), "EUU".to_owned()];
        assert!(source
            .url(&countries, &SERIES[0])
            .contains("/USA+EU27_2020.A.G.USD_PPP.."));
        let header = REQUIRED.join(",");
        let row =
            "EU27_2020,European Union (27 countries from 01/02/2020),A,G,USD_PPP,V,2022,806013,A,6";
        let body = format!("{header}\n{row}\n");
        let rows = parse(&body, &SERIES[0], &countries, (2000, 2025)).expect("rows");
        assert_eq!(rows.points.len(), 1);
        assert_eq!(rows.points[0].country, "EUU");
        let refused = parse(&body, &SERIES[0], &countries[..1], (2000, 2025))
            .expect_err("EU27_2020 was not asked for");
        assert!(
            refused.contains("REF_AREA EU27_2020 was not requested"),
            "{refused}"
        );
    }
}
