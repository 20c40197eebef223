//! The paging loop: every page of one indicator for one group of countries, each page checked
//! against the first (same release, same paging, the page asked for), rows checked against the
//! request, and a country's contradictory rows set aside. Reading a page's JSON is
//! [`super::payload`]'s.

use super::payload::{parse, Metadata, Payload};
use super::{Tally, WorldBank, RETIRED, SOURCE_ID};
use crate::fetch::FetchError;
use crate::sources::{CountryInfo, SourceError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use techbalance_store::record::Point;

/// What one request (one indicator, one group of countries, every page) gave.
pub(super) enum Part {
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

impl WorldBank {
    /// Every page of one indicator for `countries`, checked for consistency across pages.
    pub(super) async fn pages(
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
            let response = match self.fetcher.get(&url).await {
                Ok(response) => response,
                // Page 1 refused (a 4xx, often an HTML page): these countries may be at fault.
                Err(FetchError::Rejected(rejection))
                    if first.is_none() && rejection.is_client_error() =>
                {
                    tally.progress.pages_fetched += 1;
                    tally.progress.pages_total += 1;
                    (tally.request.progress)(tally.progress);
                    return Ok(Part::Refused(rejection.problem(), url.clone()));
                }
                Err(error) => return Err(error.into()),
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_four_digit_dates_are_years() {
        assert_eq!(year("2022"), Some(2022));
        for date in ["2022Q1", "+202", "22", "2022M01", ""] {
            assert_eq!(year(date), None, "{date}");
        }
    }
}
