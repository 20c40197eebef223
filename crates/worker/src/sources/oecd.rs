//! OECD Main Science and Technology Indicators over SDMX REST, as `csvfilewithlabels`: one request
//! per series for every requested country at once, parsed strictly.

use super::{FetchRequest, Fetched, Progress, Source, SourceError};
use crate::fetch::Fetcher;
use async_trait::async_trait;
use chrono::Datelike;
use std::collections::{HashMap, HashSet};
use techbalance_store::revisions::{Batch, Point, Scope};

pub const SOURCE_ID: &str = "oecd-msti";
pub const DEFAULT_BASE_URL: &str = "https://sdmx.oecd.org/public/rest";
pub const DATAFLOW: &str = "OECD.STI.STP,DSD_MSTI@DF_MSTI,1.3";
pub const DEFAULT_START_YEAR: i32 = 1990;

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

    fn url(&self, countries: &[String], series: &Series) -> String {
        format!(
            "{}/data/{DATAFLOW}/{}.A.{}.{}..?startPeriod={}&dimensionAtObservation=AllDimensions&format=csvfilewithlabels",
            self.base_url,
            countries.join("+"),
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
        for series in SERIES {
            let url = self.url(request.countries, series);
            let response = self.fetcher.get(&url).await?;
            let body = String::from_utf8_lossy(&response.body);
            let points = match response.status {
                200..=299 => parse(&body, series, request.countries, years).map_err(|problem| {
                    SourceError::Malformed {
                        source_id: SOURCE_ID,
                        url: url.clone(),
                        problem,
                    }
                })?,
                // The query matched nothing: the source has no values in this scope.
                404 if no_records(&body) => Vec::new(),
                status => {
                    return Err(SourceError::Refused {
                        source_id: SOURCE_ID,
                        url,
                        problem: format!(
                            "HTTP {status}: {}",
                            body.trim().chars().take(200).collect::<String>()
                        ),
                    })
                }
            };
            progress.pages_fetched += 1;
            progress.observations += points.len() as u64;
            (request.progress)(progress);
            fetched.batches.push(Batch {
                source: SOURCE_ID.to_owned(),
                release: None,
                scope: Scope {
                    metrics: vec![series.slug.to_owned()],
                    countries: Some(request.countries.to_vec()),
                    years: Some(years),
                },
                points,
            });
        }
        fetched.pages = progress.pages_fetched;
        Ok(fetched)
    }
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
) -> Result<Vec<Point>, String> {
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
    // Present in real payloads: values are in units × 10^UNIT_MULT (GERD comes in millions).
    let unit_mult = index.get("UNIT_MULT").copied();
    let citation: std::sync::Arc<str> = format!(
        "OECD, Main Science and Technology Indicators ({DATAFLOW}), {}/{}",
        series.measure, series.unit
    )
    .into();
    let mut points = Vec::new();
    let mut seen = HashSet::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 1;
        let record = record.map_err(|e| format!("row {row}: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |problem: String| format!("row {row} (line {line}): {problem}");
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let country = field(area);
        if !countries.iter().any(|c| c == country) {
            return Err(at(format!("REF_AREA {country} was not requested")));
        }
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
        if let Some(i) = unit_mult {
            let exponent: i32 = match field(i) {
                "" => 0,
                m => m
                    .parse()
                    .ok()
                    .filter(|e| (-12..=12).contains(e))
                    .ok_or_else(|| at(format!("UNIT_MULT \"{m}\" is not a power of ten")))?,
            };
            value *= 10f64.powi(exponent);
        }
        if !seen.insert((country.to_owned(), year)) {
            return Err(at(format!("{country} {year} appears twice")));
        }
        let qualifier = Some(field(status))
            .filter(|s| !s.is_empty() && *s != "A")
            .map(str::to_owned);
        points.push(Point {
            metric: series.slug.to_owned(),
            country: country.to_owned(),
            year,
            value,
            qualifier,
            citation: Some(citation.clone()),
        });
    }
    Ok(points)
}
