//! World Bank Indicators API v2 (World Development Indicators): one request per indicator and page,
//! for every requested country at once, parsed strictly.

use super::{CountryInfo, FetchRequest, Fetched, Progress, Source, SourceError};
use crate::fetch::Fetcher;
use async_trait::async_trait;
use chrono::Datelike;
use serde::de::DeserializeOwned;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use techbalance_store::revisions::{Batch, Point, Scope};

pub const SOURCE_ID: &str = "worldbank";
pub const DEFAULT_BASE_URL: &str = "https://api.worldbank.org/v2";
pub const DEFAULT_PER_PAGE: u32 = 1000;
pub const FIRST_YEAR: i32 = 1990;

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
    /// Every indicator of [`INDICATORS`]; `years` is inclusive (see [`WorldBank::default_years`]).
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

    /// 1990 to the current year.
    pub fn default_years() -> (i32, i32) {
        (FIRST_YEAR, chrono::Utc::now().year())
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

/// Counters shared by every indicator of one fetch, for progress reports.
struct Tally<'a> {
    request: &'a FetchRequest<'a>,
    progress: Progress,
    countries: Vec<CountryInfo>,
}

#[async_trait]
impl Source for WorldBank {
    fn id(&self) -> &'static str {
        SOURCE_ID
    }

    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, SourceError> {
        let mut fetched = Fetched::default();
        if request.countries.is_empty() {
            return Ok(fetched);
        }
        let mut tally = Tally {
            request,
            progress: Progress::default(),
            countries: Vec::new(),
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
        fetched.pages = tally.progress.pages_fetched;
        fetched.countries = tally.countries;
        Ok(fetched)
    }
}

impl WorldBank {
    /// Every page of one indicator, checked for consistency across pages.
    async fn indicator(
        &self,
        code: &str,
        slug: &str,
        tally: &mut Tally<'_>,
    ) -> Result<Series, SourceError> {
        let countries = tally.request.countries;
        let joined = countries.join(";");
        let mut points: Vec<Point> = Vec::new();
        let mut seen: HashSet<(String, i32)> = HashSet::new();
        let mut first: Option<Metadata> = None;
        let mut rows_received: u64 = 0;
        let mut page = 1;
        loop {
            let url = self.url(&joined, code, page);
            let malformed = |problem: String| SourceError::Malformed {
                source_id: SOURCE_ID,
                url: url.clone(),
                problem,
            };
            let response = self.fetcher.get(&url).await?;
            if !(200..300).contains(&response.status) {
                return Err(SourceError::Refused {
                    source_id: SOURCE_ID,
                    url: url.clone(),
                    problem: format!("HTTP {}: {}", response.status, snippet(&response.body)),
                });
            }
            let (meta, rows) = match parse(&response.body).map_err(&malformed)? {
                Payload::Data(meta, rows) => (meta, rows.unwrap_or_default()),
                Payload::Error(message) if message.id == RETIRED => {
                    tracing::warn!(
                        source = SOURCE_ID,
                        indicator = code,
                        "{}: {}",
                        message.key,
                        message.value
                    );
                    tally.progress.pages_fetched += 1;
                    if first.is_none() {
                        tally.progress.pages_total += 1;
                    }
                    (tally.request.progress)(tally.progress);
                    return Ok(Series::Retired);
                }
                Payload::Error(message) => {
                    return Err(SourceError::Refused {
                        source_id: SOURCE_ID,
                        url: url.clone(),
                        problem: format!(
                            "error {}: {}: {}",
                            message.id, message.key, message.value
                        ),
                    })
                }
            };
            check_page(first.as_ref(), &meta, page).map_err(&malformed)?;
            if first.is_none() {
                tally.progress.pages_total += meta.pages.max(1);
            }
            let citation = format!(
                "World Bank, World Development Indicators, {code}, last updated {}",
                meta.lastupdated.as_deref().unwrap_or("unknown")
            );
            for (i, row) in rows.into_iter().enumerate() {
                rows_received += 1;
                let at = |problem: String| malformed(format!("row {}: {problem}", i + 1));
                if row.indicator.id != code {
                    return Err(at(format!(
                        "indicator {} where {code} was asked for",
                        row.indicator.id
                    )));
                }
                if !countries.contains(&row.countryiso3code) {
                    return Err(at(format!(
                        "country \"{}\" ({}) was not requested",
                        row.countryiso3code, row.country.value
                    )));
                }
                let year = year(&row.date)
                    .ok_or_else(|| at(format!("date \"{}\" is not a year", row.date)))?;
                if year < self.years.0 || year > self.years.1 {
                    return Err(at(format!(
                        "year {year} is outside the requested {}:{}",
                        self.years.0, self.years.1
                    )));
                }
                if !seen.insert((row.countryiso3code.clone(), year)) {
                    return Err(at(format!("{} {year} appears twice", row.countryiso3code)));
                }
                if !tally
                    .countries
                    .iter()
                    .any(|c| c.code == row.countryiso3code)
                {
                    tally.countries.push(CountryInfo {
                        code: row.countryiso3code.clone(),
                        iso2: row.country.id.clone(),
                        name: row.country.value.clone(),
                    });
                }
                let Some(value) = row.value else { continue };
                points.push(Point {
                    metric: slug.to_owned(),
                    country: row.countryiso3code,
                    year,
                    value,
                    qualifier: row.obs_status.filter(|s| s.chars().count() == 1),
                    citation: Some(citation.clone()),
                });
                tally.progress.observations += 1;
            }
            tally.progress.pages_fetched += 1;
            (tally.request.progress)(tally.progress);
            let head = first.get_or_insert(meta);
            if page >= head.pages {
                if rows_received != head.total {
                    return Err(malformed(format!(
                        "truncated: {rows_received} rows received across {page} page(s), {} announced",
                        head.total
                    )));
                }
                break;
            }
            page += 1;
        }
        let release = first.and_then(|m| m.lastupdated);
        Ok(Series::Batch(Batch {
            source: SOURCE_ID.to_owned(),
            release,
            scope: Scope {
                metrics: vec![slug.to_owned()],
                countries: Some(countries.to_vec()),
                years: Some(self.years),
            },
            points,
        }))
    }
}

/// A page's metadata against the page asked for and against page 1 (`first`, once known).
fn check_page(first: Option<&Metadata>, meta: &Metadata, page: u32) -> Result<(), String> {
    if meta.pages > 0 && meta.page != page {
        return Err(format!(
            "asked for page {page}, received page {}",
            meta.page
        ));
    }
    let Some(first) = first else {
        if u64::from(meta.pages) > meta.total.max(1) {
            return Err(format!("{} pages for {} rows", meta.pages, meta.total));
        }
        if meta.total > 0 && meta.lastupdated.is_none() {
            return Err("lastupdated is missing".into());
        }
        return Ok(());
    };
    if first.lastupdated != meta.lastupdated {
        return Err(format!(
            "release changed while paging: lastupdated {} on page 1, {} on page {page}",
            first.lastupdated.as_deref().unwrap_or("missing"),
            meta.lastupdated.as_deref().unwrap_or("missing")
        ));
    }
    if (first.pages, first.total) != (meta.pages, meta.total) {
        return Err(format!(
            "paging changed between pages: {} pages of {} rows on page 1, {} of {} on page {page}",
            first.pages, first.total, meta.pages, meta.total
        ));
    }
    Ok(())
}

/// A year as the API writes it: four digits.
fn year(date: &str) -> Option<i32> {
    (date.len() == 4 && date.bytes().all(|b| b.is_ascii_digit()))
        .then(|| date.parse().ok())
        .flatten()
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

enum Payload {
    Data(Metadata, Option<Vec<Row>>),
    Error(ApiMessage),
}

/// `[metadata, rows | null]`, or `[{"message": [...]}]`.
fn parse(body: &[u8]) -> Result<Payload, String> {
    let parts: Vec<Value> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    match parts.as_slice() {
        [single] if single.get("message").is_some() => {
            let envelope: ErrorEnvelope = typed(single, "error payload")?;
            let message = envelope.message.into_iter().next();
            message
                .map(Payload::Error)
                .ok_or_else(|| "an error payload without a message".to_owned())
        }
        [meta, rows] => {
            let meta = typed(meta, "metadata")?;
            let rows = match rows {
                Value::Null => None,
                Value::Array(rows) => Some(
                    rows.iter()
                        .enumerate()
                        .map(|(i, row)| typed(row, &format!("row {}", i + 1)))
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(format!(
                        "rows: expected a list or null, found {}",
                        kind(other)
                    ))
                }
            };
            Ok(Payload::Data(meta, rows))
        }
        other => Err(format!(
            "expected [metadata, rows], found a list of {} element(s)",
            other.len()
        )),
    }
}

/// An object of the payload as `T`; serde alone would also take a list for a struct.
fn typed<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, String> {
    if !value.is_object() {
        return Err(format!("{what}: expected an object, found {}", kind(value)));
    }
    T::deserialize(value).map_err(|e| format!("{what}: {e}"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(deserialize_with = "count")]
    page: u32,
    #[serde(deserialize_with = "count")]
    pages: u32,
    #[serde(deserialize_with = "count")]
    total: u64,
    lastupdated: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Row {
    indicator: Named,
    country: Named,
    countryiso3code: String,
    date: String,
    value: Option<f64>,
    #[serde(default, deserialize_with = "status")]
    obs_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Named {
    id: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    message: Vec<ApiMessage>,
}

#[derive(Debug, Deserialize)]
struct ApiMessage {
    #[serde(deserialize_with = "code")]
    id: String,
    key: String,
    value: String,
}

/// `obs_status`: an empty string or null is no status.
fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}

/// A count the API writes as a number or as a string of digits.
fn count<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    let n = d.deserialize_any(CountVisitor)?;
    T::try_from(n).map_err(|_| de::Error::custom(format!("count {n} is too large")))
}

/// An error id, written as a string ("120") or a number.
fn code<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(d.deserialize_any(CountVisitor)?.to_string())
}

struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer, as a number or a string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_arrive_as_numbers_or_strings() {
        let body = br#"[{"page":"2","pages":3,"per_page":"1000","total":"2001","sourceid":"2","lastupdated":"2025-12-16"},null]"#;
        let Ok(Payload::Data(meta, rows)) = parse(body) else {
            panic!("metadata must parse")
        };
        assert_eq!((meta.page, meta.pages, meta.total), (2, 3, 2001));
        assert!(rows.is_none());
    }

    #[test]
    fn a_negative_or_non_numeric_count_is_refused() {
        for body in [
            br#"[{"page":-1,"pages":1,"total":1,"lastupdated":"x"},null]"#.as_slice(),
            br#"[{"page":"one","pages":1,"total":1,"lastupdated":"x"},null]"#.as_slice(),
        ] {
            assert!(parse(body).is_err());
        }
    }

    #[test]
    fn only_four_digit_dates_are_years() {
        assert_eq!(year("2022"), Some(2022));
        for date in ["2022Q1", "+202", "22", "2022M01", ""] {
            assert_eq!(year(date), None, "{date}");
        }
    }
}
