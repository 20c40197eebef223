//! World Bank Indicators API v2 (World Development Indicators): one request per indicator and page,
//! for every requested country at once, parsed strictly.
//!
//! A refresh can bring a million rows, so a page is read in one pass straight into typed rows
//! whose text borrows from the body; countries are looked up by hash, and the strings every point
//! of an indicator shares (its citation) are held once.

use super::{
    refused_note, Bisection, CountryInfo, FetchRequest, Fetched, Progress, Source, SourceError,
};
use crate::fetch::Fetcher;
use async_trait::async_trait;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use techbalance_store::revisions::{Batch, Point, Scope};

pub const SOURCE_ID: &str = "worldbank";
pub const DEFAULT_BASE_URL: &str = "https://api.worldbank.org/v2";
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

/// What one request (one indicator, one group of countries, every page) gave.
enum Part {
    Rows {
        points: Vec<Point>,
        release: Option<String>,
        /// Countries whose rows contradict each other: left out of the series.
        conflicted: Vec<String>,
    },
    Retired,
    /// The source refused the request (error 120 and the like): the problem, and the URL.
    Refused(String, String),
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

    /// Every page of one indicator for `countries`, checked for consistency across pages.
    async fn pages(
        &self,
        code: &str,
        slug: &str,
        countries: &[String],
        tally: &mut Tally<'_>,
    ) -> Result<Part, SourceError> {
        let joined = countries.join(";");
        let asked: HashSet<&str> = countries.iter().map(String::as_str).collect();
        let mut points: Vec<Point> = Vec::new();
        // (position in the request, year) of every row received, with its value.
        let mut seen: HashMap<(usize, i32), Option<f64>> = HashMap::new();
        let mut conflicted: Vec<String> = Vec::new();
        let mut first: Option<Metadata> = None;
        // One citation for every point of the indicator: the release cannot change while paging.
        let mut citation: Option<Arc<str>> = None;
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
                let problem = format!("HTTP {}: {}", response.status, snippet(&response.body));
                // Page 1 refused (a 4xx, often an HTML page): these countries may be at fault.
                if first.is_none() && (400..500).contains(&response.status) {
                    tally.progress.pages_fetched += 1;
                    tally.progress.pages_total += 1;
                    (tally.request.progress)(tally.progress);
                    return Ok(Part::Refused(problem, url.clone()));
                }
                return Err(SourceError::Refused {
                    source_id: SOURCE_ID,
                    url: url.clone(),
                    problem,
                });
            }
            let (meta, rows) = match parse(&response.body).map_err(&malformed)? {
                Payload::Data(meta, rows) => (meta, rows.unwrap_or_default()),
                Payload::Error(message) => {
                    tally.progress.pages_fetched += 1;
                    if first.is_none() {
                        tally.progress.pages_total += 1;
                    }
                    (tally.request.progress)(tally.progress);
                    if message.id == RETIRED {
                        tracing::warn!(
                            source = SOURCE_ID,
                            indicator = code,
                            "{}: {}",
                            message.key,
                            message.value
                        );
                        return Ok(Part::Retired);
                    }
                    let problem =
                        format!("error {}: {}: {}", message.id, message.key, message.value);
                    // A refusal after page 1 is no refusal of these countries: fail.
                    if first.is_some() {
                        return Err(SourceError::Refused {
                            source_id: SOURCE_ID,
                            url: url.clone(),
                            problem,
                        });
                    }
                    return Ok(Part::Refused(problem, url.clone()));
                }
            };
            check_page(first.as_ref(), &meta, page).map_err(&malformed)?;
            if first.is_none() {
                tally.progress.pages_total += meta.pages.max(1);
            }
            let citation = citation.get_or_insert_with(|| {
                format!(
                    "World Bank, World Development Indicators, {code}, last updated {}",
                    meta.lastupdated.as_deref().unwrap_or("unknown")
                )
                .into()
            });
            points.reserve(rows.len());
            for (i, row) in rows.iter().enumerate() {
                rows_received += 1;
                let at = |problem: String| malformed(format!("row {}: {problem}", i + 1));
                if *row.indicator.id != *code {
                    return Err(at(format!(
                        "indicator {} where {code} was asked for",
                        row.indicator.id
                    )));
                }
                let position = tally
                    .requested
                    .get(&*row.countryiso3code)
                    .copied()
                    .filter(|_| asked.contains(&*row.countryiso3code));
                let Some(position) = position else {
                    return Err(at(format!(
                        "country \"{}\" ({}) was not requested",
                        row.countryiso3code, row.country.value
                    )));
                };
                let year = year(&row.date)
                    .ok_or_else(|| at(format!("date \"{}\" is not a year", row.date)))?;
                if year < self.years.0 || year > self.years.1 {
                    return Err(at(format!(
                        "year {year} is outside the requested {}:{}",
                        self.years.0, self.years.1
                    )));
                }
                let iso3 = &tally.request.countries[position];
                match seen.get(&(position, year)) {
                    // The same row twice says nothing new.
                    Some(earlier) if *earlier == row.value => continue,
                    Some(earlier) => {
                        if !conflicted.contains(iso3) {
                            conflicted.push(iso3.clone());
                            tally.notes.push(format!(
                                "conflict: {SOURCE_ID} {code} gives {iso3} {year} twice ({} and {}); \
                                 {slug} not recorded for {iso3}",
                                shown(*earlier),
                                shown(row.value)
                            ));
                        }
                        continue;
                    }
                    None => {
                        seen.insert((position, year), row.value);
                    }
                }
                if !tally.named[position] {
                    tally.named[position] = true;
                    tally.countries.push(CountryInfo {
                        code: iso3.clone(),
                        iso2: row.country.id.to_string(),
                        name: row.country.value.to_string(),
                    });
                }
                let Some(value) = row.value else { continue };
                points.push(Point {
                    metric: slug.to_owned(),
                    country: iso3.clone(),
                    year,
                    value,
                    qualifier: row
                        .obs_status
                        .as_deref()
                        .filter(|s| !s.trim().is_empty() && s.chars().count() == 1)
                        .map(str::to_owned),
                    citation: Some(Arc::clone(citation)),
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
        if !conflicted.is_empty() {
            points.retain(|p| !conflicted.contains(&p.country));
        }
        Ok(Part::Rows {
            points,
            release: first.and_then(|m| m.lastupdated),
            conflicted,
        })
    }
}

/// A value as the API wrote it, for a note.
fn shown(value: Option<f64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// A page's metadata against the page asked for and against page 1 (`first`, once known).
fn check_page(first: Option<&Metadata>, meta: &Metadata, page: u32) -> Result<(), String> {
    // A page that does not answer the page asked for (page 0 of 0 for page 1, a glitch the API
    // has shown for series that exist) says nothing about the series.
    if meta.page != page {
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

/// A page: its metadata and its rows (`None` for the API's `null`), or the API's error message.
enum Payload<'a> {
    Data(Metadata, Option<Vec<Row<'a>>>),
    Error(ApiMessage),
}

/// `[metadata, rows | null]`, or `[{"message": [...]}]`, in one pass over the body: rows are
/// typed as they are read, their text borrowed from the body.
fn parse(body: &[u8]) -> Result<Payload<'_>, String> {
    let place = Cell::new(Place::Body);
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = PageSeed { place: &place }
        .deserialize(&mut json)
        .and_then(|payload| json.end().map(|()| payload));
    match parsed {
        Ok(payload) => payload,
        Err(e) => Err(match place.get() {
            Place::Body => e.to_string(),
            Place::Metadata => format!("metadata: {e}"),
            Place::ErrorPayload => format!("error payload: {e}"),
            Place::Row(n) => format!("row {n}: {e}"),
        }),
    }
}

/// Where the parser is, to name it in an error.
#[derive(Clone, Copy)]
enum Place {
    Body,
    Metadata,
    ErrorPayload,
    /// Counted from 1.
    Row(usize),
}

/// The outer list. A list of the wrong shape is reported after it has been read whole, so that
/// the message can say how long it was.
struct PageSeed<'p> {
    place: &'p Cell<Place>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Result<Payload<'de>, String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Result<Payload<'de>, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list: [metadata, rows]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.place.set(Place::Metadata);
        let head = seq.next_element_seed(HeadSeed { place: self.place })?;
        self.place.set(Place::Body);
        let mut length = usize::from(head.is_some());
        let mut rows = None;
        if let Some(Head::Metadata(_)) = head {
            rows = seq.next_element_seed(RowsSeed { place: self.place })?;
            self.place.set(Place::Body);
            length += usize::from(rows.is_some());
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {
            length += 1;
        }
        Ok(match (head, length, rows) {
            (Some(Head::Error(messages)), 1, _) => messages
                .into_iter()
                .next()
                .map(Payload::Error)
                .ok_or_else(|| "an error payload without a message".to_owned()),
            (Some(head), 2, rows) => match head {
                Head::Metadata(meta) => Ok(Payload::Data(meta, rows.flatten())),
                Head::Error(_) => Err("metadata: expected the page's metadata, found an error \
                                       message"
                    .to_owned()),
                Head::Other(kind) => Err(format!("metadata: expected an object, found {kind}")),
            },
            (_, length, _) => Err(format!(
                "expected [metadata, rows], found a list of {length} element(s)"
            )),
        })
    }
}

/// The first element: the page's metadata, an error message, or anything else (named by kind).
enum Head {
    Metadata(Metadata),
    Error(Vec<ApiMessage>),
    Other(&'static str),
}

struct HeadSeed<'p> {
    place: &'p Cell<Place>,
}

impl<'de> DeserializeSeed<'de> for HeadSeed<'_> {
    type Value = Head;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Head, D::Error> {
        d.deserialize_any(self)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum HeadField {
    Page,
    Pages,
    Total,
    Lastupdated,
    Message,
    #[serde(other)]
    Other,
}

impl<'de> Visitor<'de> for HeadSeed<'_> {
    type Value = Head;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the page's metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let (mut page, mut pages, mut total) = (None, None, None);
        let mut lastupdated: Option<String> = None;
        let mut message: Option<Vec<ApiMessage>> = None;
        while let Some(field) = map.next_key::<HeadField>()? {
            match field {
                HeadField::Page => page = Some(map.next_value::<Count>()?.0),
                HeadField::Pages => pages = Some(map.next_value::<Count>()?.0),
                HeadField::Total => total = Some(map.next_value::<Count>()?.0),
                HeadField::Lastupdated => lastupdated = map.next_value()?,
                HeadField::Message => {
                    self.place.set(Place::ErrorPayload);
                    message = Some(map.next_value()?);
                    self.place.set(Place::Metadata);
                }
                HeadField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(message) = message {
            return Ok(Head::Error(message));
        }
        let narrow = |n: u64| {
            u32::try_from(n).map_err(|_| de::Error::custom(format!("count {n} is too large")))
        };
        Ok(Head::Metadata(Metadata {
            page: narrow(page.ok_or_else(|| de::Error::missing_field("page"))?)?,
            pages: narrow(pages.ok_or_else(|| de::Error::missing_field("pages"))?)?,
            total: total.ok_or_else(|| de::Error::missing_field("total"))?,
            lastupdated,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Head, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Head::Other("a list"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Head, E> {
        Ok(Head::Other("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Head, E> {
        Ok(Head::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Head, E> {
        Ok(Head::Other("a string"))
    }
}

/// The second element: the rows, or `null` when there are none.
struct RowsSeed<'p> {
    place: &'p Cell<Place>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Row<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Row<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::new();
        loop {
            self.place.set(Place::Row(rows.len() + 1));
            match seq.next_element_seed(RowSeed)? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(Some(rows))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(not_rows("an object"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(not_rows("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(not_rows("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(not_rows("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(not_rows("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(not_rows("a string"))
    }
}

fn not_rows<E: de::Error>(kind: &str) -> E {
    E::custom(format!("rows: expected a list or null, found {kind}"))
}

/// One row, which must be an object: serde alone would also take a list for a struct.
struct RowSeed;

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = Row<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Row<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = Row<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Row<'de>, A::Error> {
        Row::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

#[derive(Debug)]
struct Metadata {
    page: u32,
    pages: u32,
    total: u64,
    lastupdated: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Row<'a> {
    #[serde(borrow)]
    indicator: Named<'a>,
    #[serde(borrow)]
    country: Named<'a>,
    #[serde(borrow)]
    countryiso3code: Text<'a>,
    #[serde(borrow)]
    date: Text<'a>,
    value: Option<f64>,
    /// An empty string or null is no status.
    #[serde(default, borrow)]
    obs_status: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    value: Text<'a>,
}

/// A string of the payload, borrowed from the body unless it had escapes to decode.
#[derive(Debug)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        d.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct ApiMessage {
    #[serde(deserialize_with = "code")]
    id: String,
    key: String,
    value: String,
}

/// A count the API writes as a number or as a string of digits.
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor).map(Count)
    }
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

    const ROW: &str = r#"{"indicator":{"id":"IP.PAT.RESD","value":"Patent applications, residents"},"country":{"id":"US","value":"United States"},"countryiso3code":"USA","date":"2022","value":3.5,"unit":"","obs_status":"P","decimal":0}"#;
    const META: &str = r#"{"page":1,"pages":1,"per_page":50,"total":2,"lastupdated":"2025-12-16"}"#;

    #[test]
    fn rows_are_typed_with_their_text_borrowed_from_the_body() {
        let body = format!("[{META},[{ROW},{ROW}]]");
        let Ok(Payload::Data(meta, Some(rows))) = parse(body.as_bytes()) else {
            panic!("the page must parse")
        };
        assert_eq!((meta.page, meta.pages, meta.total), (1, 1, 2));
        assert_eq!(rows.len(), 2);
        let row = &rows[0];
        assert_eq!(
            (&*row.indicator.id, &*row.countryiso3code, &*row.date),
            ("IP.PAT.RESD", "USA", "2022")
        );
        assert_eq!(
            (&*row.country.id, &*row.country.value),
            ("US", "United States")
        );
        assert_eq!(
            (row.value, row.obs_status.as_deref()),
            (Some(3.5), Some("P"))
        );
        assert!(matches!(row.countryiso3code.0, Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_text_is_decoded() {
        let row = ROW.replace(r#""United States""#, r#""C\u00f4te d'Ivoire \"CI\"""#);
        let body = format!("[{META},[{row}]]");
        let Ok(Payload::Data(_, Some(rows))) = parse(body.as_bytes()) else {
            panic!("the page must parse")
        };
        assert_eq!(&*rows[0].country.value, "C\u{f4}te d'Ivoire \"CI\"");
    }

    #[test]
    fn a_row_that_is_not_an_object_is_refused_with_its_number() {
        let body = format!(r#"[{META},[{ROW},["USA","2022",3.5]]]"#);
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("a list is not a row")
        };
        assert!(problem.starts_with("row 2: "), "{problem}");
    }

    #[test]
    fn a_row_with_a_mistyped_field_is_refused_with_its_number() {
        let row = ROW.replace(r#""value":3.5"#, r#""value":"3.5""#);
        let body = format!("[{META},[{ROW},{ROW},{row}]]");
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("a string is not a value")
        };
        assert!(
            problem.starts_with("row 3: invalid type: string"),
            "{problem}"
        );
    }

    #[test]
    fn rows_that_are_neither_a_list_nor_null_are_refused() {
        let body = format!(r#"[{META},{{"rows":[]}}]"#);
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("an object is not a list of rows")
        };
        assert!(
            problem.contains("rows: expected a list or null, found an object"),
            "{problem}"
        );
    }

    #[test]
    fn metadata_without_its_counts_is_refused() {
        let body = r#"[{"page":1,"pages":1,"lastupdated":"2025-12-16"},null]"#;
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("total is required")
        };
        assert!(
            problem.starts_with("metadata: missing field `total`"),
            "{problem}"
        );
    }

    #[test]
    fn an_error_message_is_recognised_in_any_key_order() {
        let body = br#"[{"message":[{"value":"The indicator was not found.","key":"Invalid format","id":175}]}]"#;
        let Ok(Payload::Error(message)) = parse(body) else {
            panic!("the error payload must be recognised")
        };
        assert_eq!(
            (message.id.as_str(), message.key.as_str()),
            ("175", "Invalid format")
        );
        assert!(matches!(
            parse(br#"[{"message":[]}]"#),
            Err(problem) if problem == "an error payload without a message"
        ));
    }

    #[test]
    fn anything_after_the_list_is_refused() {
        let body = format!("[{META},null] []");
        assert!(parse(body.as_bytes()).is_err());
        assert!(parse(format!("[{META},null,null]").as_bytes())
            .is_err_and(|p| p.contains("found a list of 3 element(s)")));
    }

    #[test]
    fn only_four_digit_dates_are_years() {
        assert_eq!(year("2022"), Some(2022));
        for date in ["2022Q1", "+202", "22", "2022M01", ""] {
            assert_eq!(year(date), None, "{date}");
        }
    }
}
