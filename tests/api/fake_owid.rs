//! A local Our World in Data chart API: `/<slug>.csv` and `/<slug>.metadata.json` in the real
//! shapes (`entity,code,year,<short names…>`; `chart`, `columns` keyed by short name), answering
//! every entity it holds whatever the `country=` filter (as `csvType=full` does), 404 with an HTML
//! page for a chart it does not have.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One chart: its column, metadata and rows (entity, code, year, cell as written).
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub column: String,
    pub unit: String,
    pub citation: String,
    pub last_updated: String,
    pub rows: Vec<(String, String, i32, String)>,
}

impl Chart {
    pub fn new(title: &str, column: &str, unit: &str, citation: &str) -> Self {
        Self {
            title: title.into(),
            column: column.into(),
            unit: unit.into(),
            citation: citation.into(),
            last_updated: "2025-01-06".into(),
            rows: Vec::new(),
        }
    }

    pub fn row(mut self, entity: &str, code: &str, year: i32, cell: &str) -> Self {
        self.rows
            .push((entity.into(), code.into(), year, cell.into()));
        self
    }

    /// The cell of `code` in `year` becomes `cell`.
    pub fn set(&mut self, code: &str, year: i32, cell: &str) {
        for row in &mut self.rows {
            if row.1 == code && row.2 == year {
                row.3 = cell.into();
            }
        }
    }

    fn csv(&self) -> String {
        let mut body = format!("entity,code,year,{}\n", self.column);
        for (entity, code, year, cell) in &self.rows {
            let entity = if entity.contains(',') {
                format!("\"{entity}\"")
            } else {
                entity.clone()
            };
            body.push_str(&format!("{entity},{code},{year},{cell}\n"));
        }
        body
    }

    fn metadata(&self, filter: Option<&str>) -> String {
        json!({
            "chart": {"title": self.title, "citation": self.citation, "selection": []},
            "columns": {
                &self.column: {
                    "titleShort": self.title,
                    "titleLong": self.title,
                    "descriptionShort": "A description.",
                    "unit": self.unit,
                    "shortUnit": "",
                    "shortName": self.column,
                    "lastUpdated": self.last_updated,
                    "citationShort": self.citation,
                    "citationLong": format!("{}. Long form.", self.citation),
                    "fullMetadata": "https://api.ourworldindata.org/v1/indicators/1.metadata.json"
                }
            },
            "dateDownloaded": "2026-11-30",
            "activeFilters": filter.map(|f| json!({"country": f}))
        })
        .to_string()
    }
}

#[derive(Clone)]
pub struct FakeOwid {
    pub server: Arc<MockServer>,
    charts: Arc<Mutex<BTreeMap<String, Chart>>>,
}

struct Responder(Arc<Mutex<BTreeMap<String, Chart>>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let short_names = request
            .url
            .query_pairs()
            .any(|(k, v)| k == "useColumnShortNames" && v == "true");
        let filter = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "country")
            .map(|(_, v)| v.into_owned());
        let name = request.url.path().trim_start_matches('/').to_owned();
        let charts = self.0.lock().expect("charts");
        let found = |slug: &str| charts.get(slug).filter(|_| short_names);
        if let Some(chart) = name.strip_suffix(".metadata.json").and_then(found) {
            return ResponseTemplate::new(200)
                .set_body_raw(chart.metadata(filter.as_deref()), "application/json");
        }
        if let Some(chart) = name.strip_suffix(".csv").and_then(found) {
            return ResponseTemplate::new(200).set_body_raw(chart.csv(), "text/csv");
        }
        ResponseTemplate::new(404).set_body_raw(
            "<!DOCTYPE html><html><head><title>404 Not Found</title></head></html>",
            "text/html",
        )
    }
}

impl FakeOwid {
    pub async fn start(charts: &[(&str, Chart)]) -> Self {
        let server = MockServer::start().await;
        let charts: BTreeMap<String, Chart> = charts
            .iter()
            .map(|(slug, chart)| (slug.to_string(), chart.clone()))
            .collect();
        let charts = Arc::new(Mutex::new(charts));
        Mock::given(method("GET"))
            .respond_with(Responder(charts.clone()))
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            charts,
        }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Changes a chart the server holds.
    pub fn edit(&self, slug: &str, change: impl FnOnce(&mut Chart)) {
        let mut charts = self.charts.lock().expect("charts");
        change(charts.get_mut(slug).expect("a chart the server holds"));
    }
}
