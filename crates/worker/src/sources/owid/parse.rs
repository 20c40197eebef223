//! Strict readers of one chart's two files: the CSV (`entity,code,year,<short names…>`, as
//! `useColumnShortNames=true` answers) and the metadata JSON (`chart`, `columns`, …).

use crate::sources::baseline::OwidChart;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use techbalance_store::record::Point;

/// `<slug>.metadata.json`: the fields read; the rest is ignored.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub chart: ChartMetadata,
    /// By column name (the short name when `useColumnShortNames=true`).
    pub columns: HashMap<String, ColumnMetadata>,
}

#[derive(Debug, Deserialize)]
pub struct ChartMetadata {
    pub title: Option<String>,
    pub citation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnMetadata {
    pub title_short: String,
    pub unit: Option<String>,
    pub citation_short: String,
    /// The CSV column's short name.
    pub short_name: Option<String>,
    /// `YYYY-MM-DD`: when Our World in Data last updated the column's data.
    pub last_updated: Option<String>,
}

impl Metadata {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("metadata: {e}"))
    }

    /// The column's metadata, by key or by `shortName`.
    pub fn column(&self, name: &str) -> Option<&ColumnMetadata> {
        self.columns.get(name).or_else(|| {
            self.columns
                .values()
                .find(|c| c.short_name.as_deref() == Some(name))
        })
    }
}

/// What one chart's CSV gave for the requested countries.
#[derive(Debug, Default)]
pub struct Rows {
    pub points: Vec<Point>,
    /// Requested countries (store codes) with at least one row, valued or not.
    pub present: HashSet<String>,
}

/// Why a chart's CSV could not be read.
#[derive(Debug, PartialEq)]
pub enum CsvProblem {
    /// The answer has no column of that name: the chart was re-shaped (the column renamed or
    /// removed). The columns it has are given.
    MissingColumn(Vec<String>),
    /// Anything else: not a CSV of `entity,code,year,…`, a year or a value that is not a number,
    /// a country given twice for one year.
    Malformed(String),
}

/// Reads the chart's column for `wanted` (Our World in Data code → store code), keeping the
/// years in `years` (inclusive) and multiplying each value by the chart's scale. Rows of other
/// entities (regions, `OWID_*` aggregates, countries not asked for, entities without a code) are
/// skipped; an empty cell is no value.
pub fn rows(
    body: &[u8],
    chart: &OwidChart,
    wanted: &HashMap<String, String>,
    years: (i32, i32),
    citation: &Arc<str>,
) -> Result<Rows, CsvProblem> {
    let malformed = CsvProblem::Malformed;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(format!("header: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let first: Vec<String> = header.iter().take(3).map(|h| h.to_lowercase()).collect();
    if first.len() == 3 && first[0] == "entity" && first[1] == "code" && first[2] == "day" {
        return Err(malformed(
            "the chart is daily (a Day column), not yearly".into(),
        ));
    }
    if first != ["entity", "code", "year"] {
        let start: String = String::from_utf8_lossy(body)
            .chars()
            .take(80)
            .collect::<String>()
            .replace('\n', " ");
        return Err(malformed(format!(
            "not a CSV of entity,code,year,…: it starts \"{start}\""
        )));
    }
    let Some(column) = header.iter().skip(3).position(|h| *h == chart.column) else {
        return Err(CsvProblem::MissingColumn(header[3..].to_vec()));
    };
    let column = column + 3;
    let mut rows = Rows::default();
    let mut seen: HashMap<(String, i32), f64> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 1;
        let record = record.map_err(|e| malformed(format!("row {row}: {e}")))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let Some(country) = wanted.get(field(1)) else {
            continue;
        };
        let raw_year = field(2);
        let year: i32 = raw_year
            .parse()
            .map_err(|_| malformed(format!("row {row}: year \"{raw_year}\" is not a year")))?;
        rows.present.insert(country.clone());
        if year < years.0 || year > years.1 {
            continue;
        }
        let raw = field(column);
        if raw.is_empty() {
            continue;
        }
        let value = raw
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                malformed(format!(
                    "row {row}: {} \"{raw}\" is not a number",
                    chart.column
                ))
            })?
            * chart.scale;
        match seen.insert((country.clone(), year), value) {
            Some(earlier) if earlier == value => continue,
            Some(earlier) => {
                return Err(malformed(format!(
                    "{} {year} appears twice ({earlier} and {value})",
                    field(1)
                )))
            }
            None => {}
        }
        rows.points.push(Point {
            metric: chart.metric.clone(),
            country: country.clone(),
            year,
            value,
            qualifier: None,
            citation: Some(citation.clone()),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> OwidChart {
        OwidChart {
            slug: "yearly-number-of-objects-launched-into-outer-space".into(),
            metric: "space_objects_launched".into(),
            column: "annual_launches".into(),
            unit: "COUNT".into(),
            owid_unit: Some("objects".into()),
            scale: 1.0,
            checked: "test".into(),
        }
    }

    fn wanted() -> HashMap<String, String> {
        [("USA", "USA"), ("OWID_EU27", "EUU")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect()
    }

    #[test]
    fn regions_and_unrequested_entities_are_skipped_and_empty_cells_are_no_value() {
        let body = "entity,code,year,annual_launches\n\
            World,OWID_WRL,2023,2664\n\
            Europe,,2023,100\n\
            European Union (27),OWID_EU27,2023,80\n\
            France,FRA,2023,9\n\
            United States,USA,2022,\n\
            United States,USA,2023,2166\n";
        let citation: Arc<str> = "c".into();
        let rows = rows(
            body.as_bytes(),
            &chart(),
            &wanted(),
            (2000, 2025),
            &citation,
        )
        .expect("rows");
        let got: Vec<(&str, i32, f64)> = rows
            .points
            .iter()
            .map(|p| (p.country.as_str(), p.year, p.value))
            .collect();
        assert_eq!(got, [("EUU", 2023, 80.0), ("USA", 2023, 2166.0)]);
        assert!(rows.present.contains("USA") && rows.present.contains("EUU"));
    }

    #[test]
    fn a_renamed_column_is_reported_with_the_columns_found() {
        let body = "entity,code,year,yearly_launches\nUnited States,USA,2023,1\n";
        let citation: Arc<str> = "c".into();
        let problem = rows(
            body.as_bytes(),
            &chart(),
            &wanted(),
            (2000, 2025),
            &citation,
        )
        .expect_err("missing column");
        assert_eq!(
            problem,
            CsvProblem::MissingColumn(vec!["yearly_launches".into()])
        );
    }

    #[test]
    fn an_html_page_a_daily_chart_and_a_bad_value_are_malformed() {
        let citation: Arc<str> = "c".into();
        for (body, expected) in [
            ("<!DOCTYPE html><html>Not found</html>", "not a CSV"),
            ("entity,code,day,annual_launches\n", "daily"),
            (
                "entity,code,year,annual_launches\nUnited States,USA,2023,many\n",
                "\"many\" is not a number",
            ),
            (
                "entity,code,year,annual_launches\nUnited States,USA,2023,1\nUnited States,USA,2023,2\n",
                "appears twice",
            ),
        ] {
            match rows(body.as_bytes(), &chart(), &wanted(), (2000, 2025), &citation) {
                Err(CsvProblem::Malformed(problem)) => {
                    assert!(problem.contains(expected), "{problem}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
