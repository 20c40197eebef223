//! The public sources against local servers speaking their real formats.

use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use techbalance_worker::fetch::{FetchSettings, Fetcher};
use techbalance_worker::sources::oecd::{self, Oecd};
use techbalance_worker::sources::worldbank::{self, WorldBank};
use techbalance_worker::sources::{
    CountryInfo, FetchRequest, Fetched, Progress, Source, SourceError,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const RD: &str = "GB.XPD.RSDV.GD.ZS";
const PAPERS: &str = "IP.JRN.ARTC.SC";
const LASTUPDATED: &str = "2025-12-16";
const USA: (&str, &str, &str) = ("USA", "US", "United States");
const CHN: (&str, &str, &str) = ("CHN", "CN", "China");
const DEU: (&str, &str, &str) = ("DEU", "DE", "Germany");

fn fetcher(source_id: &'static str) -> Fetcher {
    let settings = FetchSettings {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
        concurrency: 2,
    };
    Fetcher::new(source_id, settings).expect("fetcher")
}

fn countries() -> Vec<String> {
    vec!["USA".to_owned(), "CHN".to_owned()]
}

/// Fetches for USA and CHN, collecting the progress reports.
async fn fetch(source: &dyn Source) -> (Result<Fetched, SourceError>, Vec<Progress>) {
    let reports = Mutex::new(Vec::new());
    let progress = |p: Progress| reports.lock().expect("progress lock").push(p);
    let countries = countries();
    let request = FetchRequest {
        countries: &countries,
        progress: &progress,
    };
    let result = source.fetch(&request).await;
    (result, reports.into_inner().expect("progress lock"))
}

// ---------------------------------------------------------------------------------------------
// World Bank payloads

fn indicator_name(code: &str) -> &'static str {
    match code {
        RD => "Research and development expenditure (% of GDP)",
        PAPERS => "Scientific and technical journal articles",
        _ => "Some indicator",
    }
}

fn wb_row(
    code: &str,
    (iso3, iso2, name): (&str, &str, &str),
    year: i32,
    value: Option<f64>,
) -> Value {
    json!({
        "indicator": {"id": code, "value": indicator_name(code)},
        "country": {"id": iso2, "value": name},
        "countryiso3code": iso3,
        "date": year.to_string(),
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 1
    })
}

fn wb_page_released(
    page: u32,
    pages: u32,
    per_page: u32,
    total: u64,
    lastupdated: &str,
    rows: Option<Vec<Value>>,
) -> String {
    json!([
        {"page": page, "pages": pages, "per_page": per_page.to_string(), "total": total,
         "sourceid": "2", "lastupdated": lastupdated},
        rows
    ])
    .to_string()
}

fn wb_page(page: u32, pages: u32, per_page: u32, total: u64, rows: Option<Vec<Value>>) -> String {
    wb_page_released(page, pages, per_page, total, LASTUPDATED, rows)
}

fn wb_error(id: &str, key: &str, value: &str) -> String {
    json!([{"message": [{"id": id, "key": key, "value": value}]}]).to_string()
}

fn json_body(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json;charset=utf-8")
}

fn wb_request(code: &str, page: u32) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/country/USA;CHN/indicator/{code}")))
        .and(query_param("page", page.to_string()))
}

fn world_bank(server: &MockServer, per_page: u32, codes: &[(&str, &str)]) -> WorldBank {
    WorldBank::new(
        server.uri(),
        fetcher(worldbank::SOURCE_ID),
        per_page,
        (2000, 2024),
    )
    .with_indicators(codes)
}

/// One page with a value for USA and CHN in 2022.
fn one_page(code: &str) -> String {
    wb_page(
        1,
        1,
        1000,
        2,
        Some(vec![
            wb_row(code, USA, 2022, Some(3.58)),
            wb_row(code, CHN, 2022, Some(2.56)),
        ]),
    )
}

async fn rd_only(server: &MockServer) -> WorldBank {
    world_bank(server, 1000, &[(RD, "rd_intensity")])
}

fn expect_malformed(
    result: Result<Fetched, SourceError>,
    server: &MockServer,
    needle: &str,
) -> String {
    let err = result.expect_err("must be refused as malformed");
    let text = err.to_string();
    assert!(matches!(err, SourceError::Malformed { .. }), "{text}");
    assert!(
        text.contains("worldbank") || text.contains("oecd-msti"),
        "{text}"
    );
    assert!(text.contains(&server.uri()), "{text}");
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
    text
}

#[tokio::test]
async fn every_world_bank_page_is_followed_into_one_batch() {
    let server = MockServer::start().await;
    let years = [2020, 2021, 2022];
    let rows: Vec<Value> = years
        .iter()
        .flat_map(|&y| {
            [
                wb_row(RD, USA, y, Some(3.0 + f64::from(y - 2020) / 10.0)),
                wb_row(RD, CHN, y, Some(2.4)),
            ]
        })
        .collect();
    for (i, chunk) in rows.chunks(2).enumerate() {
        let page = i as u32 + 1;
        wb_request(RD, page)
            .and(query_param("format", "json"))
            .and(query_param("per_page", "2"))
            .and(query_param("date", "2000:2024"))
            .respond_with(json_body(wb_page(page, 3, 2, 6, Some(chunk.to_vec()))))
            .expect(1)
            .mount(&server)
            .await;
    }
    let source = world_bank(&server, 2, &[(RD, "rd_intensity")]);

    let (result, progress) = fetch(&source).await;
    let fetched = result.expect("fetch");

    assert_eq!(fetched.batches.len(), 1);
    let batch = &fetched.batches[0];
    assert_eq!(batch.source, "worldbank");
    assert_eq!(batch.release.as_deref(), Some(LASTUPDATED));
    assert_eq!(batch.scope.metrics, ["rd_intensity"]);
    assert_eq!(batch.scope.countries, Some(countries()));
    assert_eq!(batch.scope.years, Some((2000, 2024)));
    assert_eq!(batch.points.len(), 6);
    let usa_2022 = batch
        .points
        .iter()
        .find(|p| p.country == "USA" && p.year == 2022)
        .expect("USA 2022");
    assert_eq!(usa_2022.metric, "rd_intensity");
    assert!((usa_2022.value - 3.2).abs() < 1e-9);
    assert_eq!(usa_2022.qualifier, None);
    assert_eq!(
        usa_2022.citation.as_deref(),
        Some(
            "World Bank, World Development Indicators, GB.XPD.RSDV.GD.ZS, last updated 2025-12-16"
        )
    );
    assert_eq!(fetched.release.as_deref(), Some(LASTUPDATED));
    assert_eq!(fetched.pages, 3);
    assert!(fetched.retired.is_empty());
    assert_eq!(
        fetched.countries,
        [
            CountryInfo {
                code: "USA".into(),
                iso2: "US".into(),
                name: "United States".into()
            },
            CountryInfo {
                code: "CHN".into(),
                iso2: "CN".into(),
                name: "China".into()
            },
        ]
    );
    assert_eq!(progress.len(), 3);
    assert_eq!(
        progress[2],
        Progress {
            pages_fetched: 3,
            pages_total: 3,
            observations: 6
        }
    );
}

#[tokio::test]
async fn null_world_bank_values_are_skipped_but_counted_as_rows() {
    let server = MockServer::start().await;
    let mut provisional = wb_row(RD, CHN, 2022, Some(2.56));
    provisional["obs_status"] = json!("P");
    let rows = vec![
        wb_row(RD, USA, 2022, Some(3.58)),
        wb_row(RD, USA, 2023, None),
        provisional,
    ];
    wb_request(RD, 1)
        .respond_with(json_body(wb_page(1, 1, 1000, 3, Some(rows))))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let points = &result.expect("fetch").batches[0].points;

    assert_eq!(points.len(), 2);
    assert!(points.iter().all(|p| p.year == 2022));
    let chn = points.iter().find(|p| p.country == "CHN").expect("CHN");
    assert_eq!(chn.qualifier.as_deref(), Some("P"));
}

#[tokio::test]
async fn a_world_bank_indicator_without_rows_gives_an_empty_batch() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(json_body(wb_page(1, 0, 1000, 0, None)))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let fetched = result.expect("fetch");

    assert_eq!(fetched.batches.len(), 1);
    assert!(fetched.batches[0].points.is_empty());
    assert_eq!(fetched.batches[0].scope.metrics, ["rd_intensity"]);
    assert_eq!(fetched.pages, 1);
}

#[tokio::test]
async fn a_retired_world_bank_indicator_is_reported_while_the_others_come_through() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(json_body(wb_error(
            "175",
            "Invalid format",
            "The indicator was not found. It may have been deleted or archived.",
        )))
        .mount(&server)
        .await;
    wb_request(PAPERS, 1)
        .respond_with(json_body(one_page(PAPERS)))
        .mount(&server)
        .await;
    let source = world_bank(
        &server,
        1000,
        &[(RD, "rd_intensity"), (PAPERS, "scientific_papers")],
    );

    let (result, _) = fetch(&source).await;
    let fetched = result.expect("fetch");

    assert_eq!(fetched.retired, [RD]);
    assert_eq!(fetched.batches.len(), 1);
    assert_eq!(fetched.batches[0].scope.metrics, ["scientific_papers"]);
    assert_eq!(fetched.batches[0].points.len(), 2);
}

#[tokio::test]
async fn a_world_bank_error_payload_is_refused_with_its_key_and_value() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(json_body(wb_error(
            "120",
            "Invalid value",
            "The provided parameter value is not valid",
        )))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let err = result.expect_err("must be refused");

    assert!(matches!(err, SourceError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("Invalid value"), "{err}");
    assert!(
        err.to_string().contains("parameter value is not valid"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_until_the_source_answers() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    wb_request(RD, 1)
        .respond_with(json_body(one_page(RD)))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    assert_eq!(result.expect("fetch").batches[0].points.len(), 2);
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    wb_request(RD, 1)
        .respond_with(json_body(one_page(RD)))
        .mount(&server)
        .await;
    let started = Instant::now();

    let (result, _) = fetch(&rd_only(&server).await).await;

    assert_eq!(result.expect("fetch").batches[0].points.len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_allowed_gives_up_at_once_and_keeps_the_time_asked() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;

    let before = chrono::Utc::now();
    let (result, _) = fetch(&rd_only(&server).await).await;
    let after = chrono::Utc::now();
    let err = result.expect_err("must give up");

    let hour = chrono::Duration::seconds(3600);
    let retry_at = err.retry_at().expect("the time the source asked for");
    assert!(matches!(err, SourceError::Throttled { .. }), "{err}");
    assert!(err.to_string().contains("3600s"), "{err}");
    assert!(
        retry_at >= before + hour - chrono::Duration::seconds(1) && retry_at <= after + hour,
        "{retry_at}"
    );
}

#[tokio::test]
async fn a_retry_after_given_as_an_http_date_is_kept_as_that_instant() {
    let server = MockServer::start().await;
    let asked = chrono::DateTime::parse_from_rfc3339("2099-01-01T07:28:00Z")
        .expect("date")
        .to_utc();
    wb_request(RD, 1)
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "Thu, 01 Jan 2099 07:28:00 GMT"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let err = result.expect_err("must give up");

    assert!(matches!(err, SourceError::Throttled { .. }), "{err}");
    assert_eq!(err.retry_at(), Some(asked), "{err}");
}

#[tokio::test]
async fn a_client_error_is_refused_without_retrying() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(ResponseTemplate::new(404).set_body_string("Not Found"))
        .expect(1)
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let err = result.expect_err("must be refused");

    assert!(matches!(err, SourceError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
    // Never retried: narrowed down to each country once (USA;CHN, then USA, then CHN).
    let paths: Vec<String> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            format!("/country/USA;CHN/indicator/{RD}"),
            format!("/country/USA/indicator/{RD}"),
            format!("/country/CHN/indicator/{RD}"),
        ]
    );
}

#[tokio::test]
async fn a_hung_source_is_unreachable_after_every_attempt() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(json_body(one_page(RD)).set_delay(Duration::from_secs(3)))
        .expect(3)
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let err = result.expect_err("must give up");
    let text = err.to_string();

    assert!(matches!(err, SourceError::Unreachable { .. }), "{text}");
    assert!(
        text.contains(&format!("{}/country/USA;CHN/indicator/{RD}", server.uri())),
        "{text}"
    );
    assert!(
        text.contains("timed out") && text.contains("3 attempt"),
        "{text}"
    );
}

#[tokio::test]
async fn a_world_bank_body_that_is_not_json_is_malformed() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(json_body(
            "<html><body>Service temporarily unavailable</body></html>",
        ))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    expect_malformed(result, &server, "expected value");
}

#[tokio::test]
async fn a_truncated_world_bank_payload_is_malformed() {
    let server = MockServer::start().await;
    let body = one_page(RD);
    wb_request(RD, 1)
        .respond_with(json_body(&body[..body.len() / 2]))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    expect_malformed(result, &server, "EOF");
}

#[tokio::test]
async fn a_world_bank_payload_without_its_metadata_is_malformed() {
    let rows = json!([wb_row(RD, USA, 2022, Some(3.58))]);
    for (body, problem) in [
        (
            json!([rows]),
            "expected [metadata, rows], found a list of 1",
        ),
        (
            json!([null, rows]),
            "metadata: expected an object, found null",
        ),
        (
            json!([rows, rows]),
            "metadata: expected an object, found a list",
        ),
    ] {
        let server = MockServer::start().await;
        wb_request(RD, 1)
            .respond_with(json_body(body.to_string()))
            .mount(&server)
            .await;

        let (result, _) = fetch(&rd_only(&server).await).await;

        expect_malformed(result, &server, problem);
    }
}

#[tokio::test]
async fn a_world_bank_date_that_is_not_a_year_is_malformed() {
    let server = MockServer::start().await;
    let mut row = wb_row(RD, USA, 2022, Some(3.58));
    row["date"] = json!("2022Q1");
    wb_request(RD, 1)
        .respond_with(json_body(wb_page(1, 1, 1000, 1, Some(vec![row]))))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    expect_malformed(result, &server, "2022Q1");
}

#[tokio::test]
async fn a_world_bank_row_for_a_country_not_requested_is_malformed() {
    let server = MockServer::start().await;
    let rows = vec![
        wb_row(RD, USA, 2022, Some(3.58)),
        wb_row(RD, DEU, 2022, Some(3.13)),
    ];
    wb_request(RD, 1)
        .respond_with(json_body(wb_page(1, 1, 1000, 2, Some(rows))))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    expect_malformed(result, &server, "DEU");
}

#[tokio::test]
async fn a_world_bank_row_for_another_indicator_is_malformed() {
    let server = MockServer::start().await;
    wb_request(RD, 1)
        .respond_with(json_body(one_page(PAPERS)))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    expect_malformed(result, &server, PAPERS);
}

#[tokio::test]
async fn a_world_bank_country_year_given_twice_with_two_values_is_a_named_conflict() {
    let server = MockServer::start().await;
    let rows = vec![
        wb_row(RD, USA, 2022, Some(3.58)),
        wb_row(RD, CHN, 2022, Some(2.56)),
        wb_row(RD, USA, 2022, Some(3.6)),
        // The same row twice says nothing new.
        wb_row(RD, CHN, 2022, Some(2.56)),
    ];
    wb_request(RD, 1)
        .respond_with(json_body(wb_page(1, 1, 1000, 4, Some(rows))))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;
    let fetched = result.expect("a conflict leaves the rest of the answer");

    let batch = &fetched.batches[0];
    assert_eq!(batch.scope.countries, Some(vec!["CHN".to_owned()]));
    let points: Vec<_> = batch
        .points
        .iter()
        .map(|p| (p.country.as_str(), p.value))
        .collect();
    assert_eq!(points, [("CHN", 2.56)]);
    assert_eq!(
        fetched.notes,
        ["conflict: worldbank GB.XPD.RSDV.GD.ZS gives USA 2022 twice (3.58 and 3.6); rd_intensity not recorded for USA"]
    );
}

#[tokio::test]
async fn a_world_bank_page_that_does_not_answer_the_page_asked_for_is_malformed() {
    for (meta_page, pages, total) in [(0, 0, 0), (2, 2, 2), (0, 1, 0)] {
        let server = MockServer::start().await;
        wb_request(RD, 1)
            .respond_with(json_body(wb_page(meta_page, pages, 1000, total, None)))
            .mount(&server)
            .await;

        let (result, _) = fetch(&rd_only(&server).await).await;

        expect_malformed(
            result,
            &server,
            &format!("asked for page 1, received page {meta_page}"),
        );
    }
}

#[tokio::test]
async fn a_world_bank_row_without_its_country_code_is_malformed_naming_it() {
    let mut row = wb_row(RD, USA, 2022, Some(3.58));
    row.as_object_mut()
        .expect("object")
        .remove("countryiso3code");
    for (rows, needle) in [
        (vec![row], "row 1: missing field `countryiso3code`"),
        (
            vec![wb_row(RD, ("", "1W", "World"), 2022, Some(2.6))],
            "row 1: country \"\" (World) was not requested",
        ),
    ] {
        let server = MockServer::start().await;
        wb_request(RD, 1)
            .respond_with(json_body(wb_page(1, 1, 1000, 1, Some(rows))))
            .mount(&server)
            .await;

        let (result, _) = fetch(&rd_only(&server).await).await;

        expect_malformed(result, &server, needle);
    }
}

/// Fetches for `codes`, as configured.
async fn fetch_for(source: &dyn Source, codes: &[&str]) -> Result<Fetched, SourceError> {
    let countries: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    source
        .fetch(&FetchRequest {
            countries: &countries,
            progress: &|_| {},
        })
        .await
}

fn wb_for(countries: &str, code: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/country/{countries}/indicator/{code}")))
        .and(query_param("page", "1"))
}

fn invalid_value() -> ResponseTemplate {
    json_body(wb_error(
        "120",
        "Invalid value",
        "The provided parameter value is not valid",
    ))
}

#[tokio::test]
async fn a_mixed_world_bank_request_refused_as_a_whole_is_narrowed_to_the_refused_country() {
    let server = MockServer::start().await;
    let twn = ("TWN", "TW", "Taiwan");
    // The first indicator: refused with TWN in the list, served without it.
    for refused in ["USA;CHN;TWN", "CHN;TWN", "TWN"] {
        wb_for(refused, RD)
            .respond_with(invalid_value())
            .expect(1)
            .mount(&server)
            .await;
    }
    for (country, row) in [("USA", USA), ("CHN", CHN)] {
        wb_for(country, RD)
            .respond_with(json_body(wb_page(
                1,
                1,
                1000,
                1,
                Some(vec![wb_row(RD, row, 2022, Some(1.0))]),
            )))
            .expect(1)
            .mount(&server)
            .await;
    }
    // The next indicator is asked for without TWN at once.
    wb_for("USA;CHN", PAPERS)
        .respond_with(json_body(one_page(PAPERS)))
        .expect(1)
        .mount(&server)
        .await;
    let source = world_bank(
        &server,
        1000,
        &[(RD, "rd_intensity"), (PAPERS, "scientific_papers")],
    );

    let fetched = fetch_for(&source, &[USA.0, CHN.0, twn.0])
        .await
        .expect("the others come through");

    for batch in &fetched.batches {
        assert_eq!(
            batch.scope.countries,
            Some(countries()),
            "the refused country is left out of the scope: its values stay"
        );
        assert_eq!(batch.points.len(), 2);
    }
    assert_eq!(
        fetched.notes,
        ["refused by worldbank, not refreshed: TWN (error 120: Invalid value: The provided parameter value is not valid)"]
    );
}

#[tokio::test]
async fn a_country_the_world_bank_leaves_out_silently_stays_in_scope_and_is_noted() {
    let server = MockServer::start().await;
    wb_for("USA;CHN;TWN", RD)
        .respond_with(json_body(one_page(RD)))
        .mount(&server)
        .await;

    let fetched = fetch_for(&rd_only(&server).await, &["USA", "CHN", "TWN"])
        .await
        .expect("an omission is no error");

    assert_eq!(
        fetched.batches[0].scope.countries,
        Some(vec!["USA".into(), "CHN".into(), "TWN".into()])
    );
    assert_eq!(fetched.notes, ["absent from every worldbank answer: TWN"]);
}

#[tokio::test]
async fn fewer_world_bank_rows_than_announced_is_malformed_as_truncated() {
    let server = MockServer::start().await;
    let rows = vec![
        wb_row(RD, USA, 2022, Some(3.58)),
        wb_row(RD, CHN, 2022, Some(2.56)),
    ];
    wb_request(RD, 1)
        .respond_with(json_body(wb_page(1, 1, 1000, 5, Some(rows))))
        .mount(&server)
        .await;

    let (result, _) = fetch(&rd_only(&server).await).await;

    expect_malformed(result, &server, "truncated");
}

#[tokio::test]
async fn a_world_bank_release_that_changes_while_paging_is_malformed() {
    let server = MockServer::start().await;
    let page = |n: u32, lastupdated: &str, country| {
        wb_page_released(
            n,
            2,
            1,
            2,
            lastupdated,
            Some(vec![wb_row(RD, country, 2022, Some(1.0))]),
        )
    };
    wb_request(RD, 1)
        .respond_with(json_body(page(1, "2025-12-16", USA)))
        .mount(&server)
        .await;
    wb_request(RD, 2)
        .respond_with(json_body(page(2, "2026-01-28", CHN)))
        .mount(&server)
        .await;
    let source = world_bank(&server, 1, &[(RD, "rd_intensity")]);

    let (result, _) = fetch(&source).await;

    expect_malformed(result, &server, "release changed while paging");
}

// ---------------------------------------------------------------------------------------------
// OECD

const GERD_CSV: &str = include_str!("fixtures/oecd_msti_gerd_usd_ppp.csv");
const RESEARCHERS_CSV: &str = include_str!("fixtures/oecd_msti_researchers_fte.csv");
const OECD_HEADER: &str = "STRUCTURE,STRUCTURE_ID,STRUCTURE_NAME,ACTION,REF_AREA,Reference area,FREQ,Frequency of observation,MEASURE,Measure,UNIT_MEASURE,Unit of measure,PRICE_BASE,Price base,TRANSFORMATION,Transformation,TIME_PERIOD,Time period,OBS_VALUE,Observation value,OBS_STATUS,Observation status,UNIT_MULT,Unit multiplier";
const OECD_ROW_PREFIX: &str =
    "DATAFLOW,OECD.STI.STP:DSD_MSTI@DF_MSTI(1.3),Main Science and Technology Indicators,I";

fn oecd_request(key: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!(
            "/data/OECD.STI.STP,DSD_MSTI@DF_MSTI,1.3/{key}"
        )))
        .and(query_param("startPeriod", "2000"))
        .and(query_param("dimensionAtObservation", "AllDimensions"))
        .and(query_param("format", "csvfilewithlabels"))
}

fn csv_body(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(body.into(), "application/vnd.sdmx.data+csv; charset=utf-8")
}

async fn oecd_with(
    server: &MockServer,
    gerd: ResponseTemplate,
    researchers: ResponseTemplate,
) -> Oecd {
    oecd_request("USA+CHN.A.G.USD_PPP..")
        .respond_with(gerd)
        .mount(server)
        .await;
    oecd_request("USA+CHN.A.T_RS.FTE..")
        .respond_with(researchers)
        .mount(server)
        .await;
    Oecd::new(server.uri(), fetcher(oecd::SOURCE_ID), 2000)
}

#[tokio::test]
async fn oecd_gerd_and_researchers_are_read_from_csv_with_labels() {
    let server = MockServer::start().await;
    let source = oecd_with(&server, csv_body(GERD_CSV), csv_body(RESEARCHERS_CSV)).await;

    let (result, progress) = fetch(&source).await;
    let fetched = result.expect("fetch");

    assert_eq!(fetched.batches.len(), 2);
    assert_eq!(fetched.pages, 2);
    assert_eq!(fetched.release, None);
    assert!(fetched.countries.is_empty());
    let gerd = &fetched.batches[0];
    assert_eq!(gerd.source, "oecd-msti");
    assert_eq!(gerd.release, None);
    assert_eq!(gerd.scope.metrics, ["rd_spending_usd"]);
    assert_eq!(gerd.scope.countries, Some(countries()));
    assert_eq!(gerd.scope.years.map(|(from, _)| from), Some(2000));
    // The constant-price row and the row without a value are left out; millions are scaled.
    let mut gerd_points: Vec<_> = gerd
        .points
        .iter()
        .map(|p| (p.country.as_str(), p.year, p.value, p.qualifier.as_deref()))
        .collect();
    gerd_points.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    assert_eq!(
        gerd_points,
        [
            ("CHN", 2021, 667_970_300_000.0, None),
            ("USA", 2021, 806_012_500_000.0, None),
            ("USA", 2022, 886_020_600_000.0, Some("P")),
        ]
    );
    assert_eq!(
        gerd.points[0].citation.as_deref(),
        Some("OECD, Main Science and Technology Indicators (OECD.STI.STP,DSD_MSTI@DF_MSTI,1.3), G/USD_PPP")
    );
    let researchers = &fetched.batches[1];
    assert_eq!(researchers.scope.metrics, ["researchers_fte"]);
    let qualifiers: Vec<_> = researchers
        .points
        .iter()
        .map(|p| (p.country.as_str(), p.value, p.qualifier.as_deref()))
        .collect();
    assert_eq!(
        qualifiers,
        [
            ("USA", 1_638_632.0, Some("E")),
            ("CHN", 2_405_470.0, Some("B"))
        ]
    );
    assert_eq!(
        progress.last(),
        Some(&Progress {
            pages_fetched: 2,
            pages_total: 2,
            observations: 5
        })
    );
}

#[tokio::test]
async fn oecd_no_records_found_gives_an_empty_batch_not_an_error() {
    let server = MockServer::start().await;
    let no_records = || ResponseTemplate::new(404).set_body_string("NoRecordsFound");
    // USA+CHN finds nothing; so does each area alone.
    for key in ["USA.A.T_RS.FTE..", "CHN.A.T_RS.FTE.."] {
        oecd_request(key)
            .respond_with(no_records())
            .expect(1)
            .mount(&server)
            .await;
    }
    let source = oecd_with(&server, csv_body(GERD_CSV), no_records()).await;

    let (result, _) = fetch(&source).await;
    let fetched = result.expect("no records is not an error");

    assert_eq!(fetched.batches.len(), 2);
    assert_eq!(fetched.batches[1].scope.metrics, ["researchers_fte"]);
    assert_eq!(fetched.batches[1].scope.countries, Some(countries()));
    assert!(fetched.batches[1].points.is_empty());
    assert!(fetched.notes.is_empty(), "{:?}", fetched.notes);
}

#[tokio::test]
async fn an_oecd_area_refused_alone_is_named_and_left_out_of_the_scope() {
    let server = MockServer::start().await;
    let semantic = || ResponseTemplate::new(400).set_body_string("Semantic Error - REF_AREA XXX");
    for key in ["USA+XXX.A.G.USD_PPP..", "XXX.A.G.USD_PPP.."] {
        oecd_request(key)
            .respond_with(semantic())
            .expect(1)
            .mount(&server)
            .await;
    }
    let usa: String = GERD_CSV
        .lines()
        .filter(|l| l.starts_with("STRUCTURE") || l.contains(",I,USA,"))
        .collect::<Vec<_>>()
        .join("\n");
    oecd_request("USA.A.G.USD_PPP..")
        .respond_with(csv_body(usa))
        .expect(1)
        .mount(&server)
        .await;
    oecd_request("USA.A.T_RS.FTE..")
        .respond_with(csv_body(
            RESEARCHERS_CSV
                .replace(",I,CHN,", ",I,USA,")
                .lines()
                .take(2)
                .collect::<Vec<_>>()
                .join("\n"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let source = Oecd::new(server.uri(), fetcher(oecd::SOURCE_ID), 2000);

    let fetched = fetch_for(&source, &["USA", "XXX"])
        .await
        .expect("USA comes through");

    assert_eq!(
        fetched.batches[0].scope.countries,
        Some(vec!["USA".to_owned()])
    );
    assert_eq!(fetched.batches[0].points.len(), 2);
    assert_eq!(
        fetched.batches[1].scope.countries,
        Some(vec!["USA".to_owned()])
    );
    assert_eq!(
        fetched.notes,
        ["refused by oecd-msti, not refreshed: XXX (HTTP 400: Semantic Error - REF_AREA XXX)"]
    );
}

#[tokio::test]
async fn an_oecd_answer_without_a_unit_multiplier_is_malformed_naming_it() {
    let row = |unit_mult: &str| {
        format!("{OECD_ROW_PREFIX},USA,United States,A,Annual,T_RS,Total researchers,FTE,Full-time equivalent,_Z,Not applicable,_Z,Not applicable,2021,,1638632,,A,Normal value,{unit_mult},Units")
    };
    for (body, needle) in [
        (
            format!(
                "{}\n{}\n",
                OECD_HEADER.replace(",UNIT_MULT,Unit multiplier", ""),
                row("").trim_end_matches(",,Units")
            ),
            "researchers_fte: column UNIT_MULT is missing",
        ),
        (
            format!("{OECD_HEADER}\n{}\n", row("")),
            "researchers_fte: row 1 (line 2): UNIT_MULT is empty",
        ),
        (
            format!("{OECD_HEADER}\n{}\n", row("Millions")),
            "UNIT_MULT \"Millions\" is not a known unit multiplier",
        ),
        (
            format!("{OECD_HEADER}\n{}\n", row("-13")),
            "UNIT_MULT \"-13\" is not a known unit multiplier",
        ),
    ] {
        let server = MockServer::start().await;
        let source = oecd_with(&server, csv_body(GERD_CSV), csv_body(body)).await;

        let (result, _) = fetch(&source).await;

        expect_malformed(result, &server, needle);
    }
}

#[tokio::test]
async fn oecd_values_are_scaled_by_their_unit_multiplier() {
    let row = |year: i32, value: &str, unit_mult: &str| {
        format!("{OECD_ROW_PREFIX},USA,United States,A,Annual,G,GERD,USD_PPP,US dollars,V,Current prices,_Z,Not applicable,{year},,{value},,A,Normal value,{unit_mult},x")
    };
    let body = format!(
        "{OECD_HEADER}\n{}\n{}\n{}\n",
        row(2021, "806013", "6"),
        row(2022, "806013", "3"),
        row(2023, "806013", "0")
    );
    let server = MockServer::start().await;
    let source = oecd_with(&server, csv_body(body), csv_body(RESEARCHERS_CSV)).await;

    let (result, _) = fetch(&source).await;
    let fetched = result.expect("fetch");

    let values: Vec<(i32, f64)> = fetched.batches[0]
        .points
        .iter()
        .map(|p| (p.year, p.value))
        .collect();
    assert_eq!(
        values,
        [
            (2021, 806_013_000_000.0),
            (2022, 806_013_000.0),
            (2023, 806_013.0)
        ]
    );
}

#[tokio::test]
async fn an_oecd_not_found_without_no_records_is_refused() {
    let server = MockServer::start().await;
    let source = oecd_with(
        &server,
        ResponseTemplate::new(404).set_body_string("Dataflow not found"),
        csv_body(RESEARCHERS_CSV),
    )
    .await;

    let (result, _) = fetch(&source).await;
    let err = result.expect_err("must be refused");

    assert!(matches!(err, SourceError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn an_oecd_csv_without_obs_value_is_malformed() {
    let server = MockServer::start().await;
    let body = format!(
        "{}\r\n{OECD_ROW_PREFIX},USA,United States,A,Annual,T_RS,Total researchers,FTE,Full-time equivalent,_Z,Not applicable,_Z,Not applicable,2021,,A,Normal value,0,Units\r\n",
        OECD_HEADER.replace("OBS_VALUE,Observation value,", "")
    );
    let source = oecd_with(&server, csv_body(GERD_CSV), csv_body(body)).await;

    let (result, _) = fetch(&source).await;

    expect_malformed(result, &server, "OBS_VALUE");
}

#[tokio::test]
async fn a_ragged_oecd_row_is_malformed_with_its_row_number() {
    let server = MockServer::start().await;
    let body = format!(
        "{OECD_HEADER}\r\n\
         {OECD_ROW_PREFIX},USA,United States,A,Annual,T_RS,Total researchers,FTE,Full-time equivalent,_Z,Not applicable,_Z,Not applicable,2021,,1638632,,A,Normal value,0,Units\r\n\
         {OECD_ROW_PREFIX},CHN,China (People's Republic of),A,Annual,T_RS,Total researchers,FTE,Full-time equivalent,_Z,Not applicable,2021,,2405470,,A,Normal value,0,Units\r\n"
    );
    let source = oecd_with(&server, csv_body(GERD_CSV), csv_body(body)).await;

    let (result, _) = fetch(&source).await;

    expect_malformed(result, &server, "row 2");
}

#[tokio::test]
async fn an_oecd_row_for_another_measure_is_malformed() {
    let server = MockServer::start().await;
    let body = format!(
        "{OECD_HEADER}\n{OECD_ROW_PREFIX},USA,United States,A,Annual,T_RS,Total researchers,HC,Headcount,_Z,Not applicable,_Z,Not applicable,2021,,1900000,,A,Normal value,0,Units\n"
    );
    let source = oecd_with(&server, csv_body(GERD_CSV), csv_body(body)).await;

    let (result, _) = fetch(&source).await;

    expect_malformed(result, &server, "UNIT_MEASURE HC");
}
