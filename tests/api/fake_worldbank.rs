//! A local World Bank Indicators API v2: real payload shapes, paging by `page`/`per_page`,
//! successive vintages, and the failure shapes the real service shows.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const INDICATORS: &[&str] = &[
    "GB.XPD.RSDV.GD.ZS",
    "SP.POP.SCIE.RD.P6",
    "IP.PAT.RESD",
    "IP.PAT.NRES",
    "IP.JRN.ARTC.SC",
    "TX.VAL.TECH.CD",
    "NY.GDP.MKTP.CD",
];

/// One published state of the data: per indicator, (ISO3, year) → value (None: published as null).
#[derive(Clone, Debug, Default)]
pub struct Vintage {
    pub last_updated: String,
    pub series: BTreeMap<String, BTreeMap<(String, i32), Option<f64>>>,
}

impl Vintage {
    /// A release with every indicator the worker asks for, all empty.
    pub fn new(last_updated: &str) -> Self {
        let series = INDICATORS
            .iter()
            .map(|code| (code.to_string(), BTreeMap::new()))
            .collect();
        Self {
            last_updated: last_updated.into(),
            series,
        }
    }

    /// The indicator is gone: the API answers error 175 for it.
    pub fn retire(mut self, indicator: &str) -> Self {
        self.series.remove(indicator);
        self
    }

    pub fn with(mut self, indicator: &str, country: &str, year: i32, value: Option<f64>) -> Self {
        self.series
            .entry(indicator.into())
            .or_default()
            .insert((country.into(), year), value);
        self
    }

    pub fn without(mut self, indicator: &str, country: &str, year: i32) -> Self {
        if let Some(series) = self.series.get_mut(indicator) {
            series.remove(&(country.to_string(), year));
        }
        self
    }
}

/// How the fake misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Serves the vintage.
    None,
    /// Answers every request with HTTP 500.
    ServerError,
    /// Fails the first request with 500, then serves normally.
    OneServerError,
    /// Answers 429 with `Retry-After: 1` once, then serves normally.
    OneTooManyRequests,
    /// Never answers within the client's timeout.
    Hang,
    /// The body is not JSON.
    Malformed,
    /// The body stops halfway.
    Truncated,
    /// The second page of every indicator claims a different release.
    ReleaseChangesWhilePaging,
    /// HTTP 200 with error id 120 (invalid value).
    InvalidValue,
    /// Serves normally, each response after 400 ms.
    Slow,
    /// Answers every indicator with a page that is not the one asked for: page 0 of 0, no rows
    /// (a glitch the real API has shown for series that exist).
    PageZeroOfZero,
    /// Answers every indicator with a well-formed empty page: page 1, 0 pages, 0 rows, `null`.
    Empty,
}

#[derive(Clone)]
pub struct FakeWorldBank {
    state: Arc<Mutex<(Vintage, Failure)>>,
    /// Economies the API does not serve: a request naming one is refused with error 120.
    refused: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicUsize>,
    pub server: Arc<MockServer>,
}

impl FakeWorldBank {
    pub async fn start(vintage: Vintage) -> Self {
        let server = Arc::new(MockServer::start().await);
        let fake = Self {
            state: Arc::new(Mutex::new((vintage, Failure::None))),
            refused: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(AtomicUsize::new(0)),
            server,
        };
        Mock::given(method("GET"))
            .and(path_regex(r"^/v2/country/[^/]+/indicator/[^/]+$"))
            .respond_with(fake.clone())
            .mount(&fake.server)
            .await;
        fake
    }

    /// The base URL to configure (`TECHBALANCE_WORLDBANK_URL`).
    pub fn url(&self) -> String {
        format!("{}/v2", self.server.uri())
    }

    pub fn publish(&self, vintage: Vintage) {
        self.state.lock().expect("state").0 = vintage;
    }

    pub fn fail(&self, failure: Failure) {
        self.state.lock().expect("state").1 = failure;
    }

    /// From now on, a request naming any of `countries` is refused with error 120, as a whole.
    pub fn refuse_countries(&self, countries: &[&str]) {
        *self.refused.lock().expect("refused") = countries.iter().map(|c| c.to_string()).collect();
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Respond for FakeWorldBank {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let (vintage, failure) = self.state.lock().expect("state").clone();
        match failure {
            Failure::ServerError => {
                return ResponseTemplate::new(500).set_body_string("Internal Server Error")
            }
            Failure::OneServerError if n == 0 => {
                return ResponseTemplate::new(502).set_body_string("Bad Gateway")
            }
            Failure::OneTooManyRequests if n == 0 => {
                return ResponseTemplate::new(429).insert_header("Retry-After", "1")
            }
            Failure::Hang => return ResponseTemplate::new(200).set_delay(Duration::from_secs(30)),
            Failure::Malformed => {
                return ResponseTemplate::new(200)
                    .set_body_string("<html>Service Unavailable</html>")
            }
            Failure::InvalidValue => return invalid_value(),
            _ => {}
        }
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let countries: Vec<&str> = segments[3].split(';').collect();
        let indicator = segments[5];
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        let per_page: usize = query
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(50);
        let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let refused = self.refused.lock().expect("refused").clone();
        if countries.iter().any(|c| refused.iter().any(|r| r == c)) {
            return invalid_value();
        }
        match failure {
            Failure::PageZeroOfZero | Failure::Empty => {
                let page = u32::from(failure == Failure::Empty);
                return ResponseTemplate::new(200).set_body_json(json!([{
                    "page": page, "pages": 0, "per_page": per_page, "total": 0,
                    "sourceid": "2", "lastupdated": vintage.last_updated,
                }, null]));
            }
            _ => {}
        }
        let Some(series) = vintage.series.get(indicator) else {
            return ResponseTemplate::new(200).set_body_json(json!([{ "message": [{
                "id": "175", "key": "Invalid format",
                "value": "The indicator was not found. It may have been deleted or archived."
            }] }]));
        };
        // The real API lists countries alphabetically by name, years newest first.
        let mut rows: Vec<Value> = series
            .iter()
            .filter(|((country, _), _)| countries.contains(&country.as_str()))
            .map(|((country, year), value)| row(indicator, country, *year, *value))
            .collect();
        rows.sort_by_key(|r| {
            (
                r["country"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                -r["date"]
                    .as_str()
                    .and_then(|d| d.parse::<i32>().ok())
                    .unwrap_or(0),
            )
        });
        let total = rows.len();
        let pages = total.div_ceil(per_page).max(1);
        let last_updated = if failure == Failure::ReleaseChangesWhilePaging && page > 1 {
            "2099-01-01".to_owned()
        } else {
            vintage.last_updated.clone()
        };
        let meta = json!({
            "page": page, "pages": pages, "per_page": per_page, "total": total,
            "sourceid": "2", "lastupdated": last_updated,
        });
        let slice: Vec<Value> = rows
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let body = if total == 0 {
            json!([meta, null])
        } else {
            json!([meta, slice])
        };
        if failure == Failure::Truncated {
            let text = body.to_string();
            return ResponseTemplate::new(200)
                .insert_header("content-type", "application/json;charset=utf-8")
                .set_body_string(text[..text.len() / 2].to_owned());
        }
        let response = ResponseTemplate::new(200).set_body_json(body);
        if failure == Failure::Slow {
            response.set_delay(Duration::from_millis(400))
        } else {
            response
        }
    }
}

/// The API's answer to a parameter it does not accept (an economy it does not serve, among others).
fn invalid_value() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!([{ "message": [{
        "id": "120", "key": "Invalid value", "value": "The provided parameter value is not valid"
    }] }]))
}

fn row(indicator: &str, iso3: &str, year: i32, value: Option<f64>) -> Value {
    let (iso2, name) = match iso3 {
        "USA" => ("US", "United States"),
        "CHN" => ("CN", "China"),
        "DEU" => ("DE", "Germany"),
        other => (&other[..2], "Somewhere"),
    };
    json!({
        "indicator": { "id": indicator, "value": format!("Indicator {indicator}") },
        "country": { "id": iso2, "value": name },
        "countryiso3code": iso3,
        "date": year.to_string(),
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 1,
    })
}
