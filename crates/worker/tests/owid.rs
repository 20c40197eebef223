//! Our World in Data's chart API against a local server answering in its real shapes: the CSV
//! (`entity,code,year,<short names…>`, regions and `OWID_*` aggregates mixed with countries,
//! empty cells) and the metadata JSON (`chart`, `columns` keyed by short name, `dateDownloaded`).

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use techbalance_worker::fetch::{FetchSettings, Fetcher};
use techbalance_worker::sources::baseline::{BaselineFile, BUNDLED};
use techbalance_worker::sources::owid::{self, Owid};
use techbalance_worker::sources::{FetchRequest, Fetched, Source, SourceError};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SPACE: &str = "yearly-number-of-objects-launched-into-outer-space";
const AI: &str = "cumulative-number-of-large-scale-ai-systems-by-country";

/// The bundled baseline with only these two charts mapped.
fn baseline() -> BaselineFile {
    let start = BUNDLED.find("[[owid_charts]]").expect("bundled charts");
    let text = format!(
        "{}{}",
        &BUNDLED[..start],
        r#"
[[owid_charts]]
slug = "yearly-number-of-objects-launched-into-outer-space"
metric = "space_objects_launched"
column = "annual_launches"
unit = "COUNT"
owid_unit = "objects"
checked = "test"

[[owid_charts]]
slug = "cumulative-number-of-large-scale-ai-systems-by-country"
metric = "ai_large_scale_systems"
column = "cumulative_count"
unit = "COUNT"
checked = "test"
"#
    );
    let file: PathBuf = std::env::temp_dir().join(format!(
        "techbalance-owid-{}-{}.toml",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::write(&file, text).expect("write the test baseline");
    BaselineFile::Path(file)
}

fn fastrand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn source(server: &MockServer) -> Owid {
    let settings = FetchSettings {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        max_attempts: 2,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(1),
        concurrency: 2,
    };
    Owid::new(
        server.uri(),
        Fetcher::new(owid::SOURCE_ID, settings).expect("fetcher"),
        baseline(),
        (2000, 2025),
    )
}

/// Metadata as the chart API answers it with `useColumnShortNames=true`.
fn metadata(title: &str, column: &str, unit: &str, citation: &str) -> String {
    json!({
        "chart": {
            "title": title,
            "subtitle": "A subtitle.",
            "citation": citation,
            "originalChartUrl": format!("https://ourworldindata.org/grapher/{column}"),
            "selection": ["United States", "China"]
        },
        "columns": {
            column: {
                "titleShort": title,
                "titleLong": format!("{title} – long"),
                "descriptionShort": "A description.",
                "descriptionKey": ["A key point."],
                "shortUnit": "",
                "unit": unit,
                "timespan": "1957-2024",
                "type": "Integer",
                "shortName": column,
                "lastUpdated": "2025-01-06",
                "nextUpdate": "2026-01-06",
                "citationShort": citation,
                "citationLong": format!("{citation}. Long form."),
                "fullMetadata": "https://api.ourworldindata.org/v1/indicators/1.metadata.json"
            }
        },
        "dateDownloaded": "2026-11-30",
        "activeFilters": {"country": "USA~CHN~OWID_EU27~KOR"}
    })
    .to_string()
}

const SPACE_CSV: &str = "entity,code,year,annual_launches
China,CHN,2022,182
China,CHN,2023,
European Union (27),OWID_EU27,2023,80
Europe,,2023,120
United States,USA,2022,1799
United States,USA,2023,2166
World,OWID_WRL,2023,2664
";

const AI_CSV: &str = "entity,code,year,cumulative_count
All large-scale AI systems,,2024,400
China,CHN,2024,105
Multinational,,2024,12
United States,USA,2024,155
";

fn serve(slug: &str, file: &str, response: ResponseTemplate) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!("/{slug}.{file}")))
        .and(query_param("useColumnShortNames", "true"))
        .and(query_param("country", "USA~CHN~OWID_EU27~KOR"))
        .respond_with(response)
}

fn csv(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_owned(), "text/csv")
}

fn json_body(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

async fn server_with(space_csv: ResponseTemplate, space_unit: &str) -> MockServer {
    let server = MockServer::start().await;
    let space_meta = metadata(
        "Annual number of objects launched into space",
        "annual_launches",
        space_unit,
        "United Nations Office for Outer Space Affairs (2025) – processed by Our World in Data",
    );
    serve(SPACE, "metadata.json", json_body(space_meta))
        .mount(&server)
        .await;
    serve(SPACE, "csv", space_csv).mount(&server).await;
    let ai_meta = metadata(
        "Cumulative number of large-scale AI systems",
        "cumulative_count",
        "AI systems",
        "Epoch AI (2025) – with major processing by Our World in Data",
    );
    serve(AI, "metadata.json", json_body(ai_meta))
        .mount(&server)
        .await;
    serve(AI, "csv", csv(AI_CSV)).mount(&server).await;
    server
}

async fn fetch(source: &Owid) -> Result<Fetched, SourceError> {
    let countries: Vec<String> = ["USA", "CHN", "EUU", "KOR"].map(String::from).to_vec();
    source
        .fetch(&FetchRequest {
            countries: &countries,
            progress: &|_| {},
        })
        .await
}

fn values(fetched: &Fetched, metric: &str) -> Vec<(String, i32, f64)> {
    let batch = fetched
        .batches
        .iter()
        .find(|b| b.scope.metrics == [metric])
        .expect("a batch for the metric");
    let mut values: Vec<(String, i32, f64)> = batch
        .points
        .iter()
        .map(|p| (p.country.clone(), p.year, p.value))
        .collect();
    values.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    values
}

#[tokio::test]
async fn charts_are_read_for_the_countries_asked_with_their_citation_and_regions_skipped() {
    let server = server_with(csv(SPACE_CSV), "objects").await;
    let fetched = fetch(&source(&server)).await.expect("fetched");
    // Regions, the world and OWID_* aggregates other than the EU are skipped; an empty cell is
    // no value; the EU is OWID_EU27 there and EUU here.
    assert_eq!(
        values(&fetched, "space_objects_launched"),
        [
            ("CHN".into(), 2022, 182.0),
            ("EUU".into(), 2023, 80.0),
            ("USA".into(), 2022, 1799.0),
            ("USA".into(), 2023, 2166.0)
        ]
    );
    assert_eq!(
        values(&fetched, "ai_large_scale_systems"),
        [("CHN".into(), 2024, 105.0), ("USA".into(), 2024, 155.0)]
    );
    assert!(
        fetched.countries.is_empty(),
        "no country is made from a chart"
    );
    let space = &fetched.batches[0];
    assert_eq!(space.source, "owid");
    assert_eq!(space.release.as_deref(), Some("2025-01-06"));
    assert_eq!(space.scope.years, Some((2000, 2025)));
    // KOR has no row: left out of the scope (its stored values stay), and named.
    assert_eq!(
        space.scope.countries.as_deref(),
        Some(&["USA".to_owned(), "CHN".to_owned(), "EUU".to_owned()][..])
    );
    assert!(fetched
        .notes
        .iter()
        .any(|n| n == &format!("owid {SPACE} does not publish KOR: not refreshed")));
    assert_eq!(
        space.points[0].citation.as_deref(),
        Some(format!(
            "United Nations Office for Outer Space Affairs (2025) – processed by Our World in Data; \
             Our World in Data, chart \"Annual number of objects launched into space\" ({}/{SPACE}), \
             column annual_launches, updated 2025-01-06",
            server.uri()
        ).as_str())
    );
    assert_eq!(fetched.pages, 4);
}

#[tokio::test]
async fn a_chart_that_no_longer_exists_is_named_and_the_others_are_fetched() {
    let server = MockServer::start().await;
    serve(
        SPACE,
        "metadata.json",
        ResponseTemplate::new(404)
            .set_body_string("<!DOCTYPE html><html><title>Not found</title></html>"),
    )
    .mount(&server)
    .await;
    serve(
        AI,
        "metadata.json",
        json_body(metadata(
            "Large-scale AI systems",
            "cumulative_count",
            "AI systems",
            "Epoch AI (2025)",
        )),
    )
    .mount(&server)
    .await;
    serve(AI, "csv", csv(AI_CSV)).mount(&server).await;
    let fetched = fetch(&source(&server))
        .await
        .expect("the others are fetched");
    assert_eq!(fetched.batches.len(), 1);
    assert_eq!(
        values(&fetched, "ai_large_scale_systems"),
        [("CHN".into(), 2024, 105.0), ("USA".into(), 2024, 155.0)]
    );
    let note = fetched
        .notes
        .iter()
        .find(|n| n.contains("not found"))
        .expect("a note on the missing chart");
    assert!(
        note.contains(SPACE) && note.contains("HTTP 404") && note.contains("stored values kept"),
        "{note}"
    );
}

#[tokio::test]
async fn every_chart_gone_is_a_refusal() {
    let server = MockServer::start().await;
    let error = fetch(&source(&server)).await.expect_err("nothing left");
    assert!(matches!(error, SourceError::Refused { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(SPACE) && text.contains(AI), "{text}");
}

#[tokio::test]
async fn a_renamed_column_gives_an_empty_batch_to_hold_and_says_so() {
    let renamed = SPACE_CSV.replacen("annual_launches", "yearly_launches", 1);
    let server = server_with(csv(&renamed), "objects").await;
    let fetched = fetch(&source(&server)).await.expect("fetched");
    let space = fetched
        .batches
        .iter()
        .find(|b| b.scope.metrics == ["space_objects_launched"])
        .expect("the chart's batch");
    // Empty over every requested country: the withdrawal guard holds each stored series.
    assert!(space.points.is_empty());
    assert_eq!(space.scope.countries.as_ref().map(Vec::len), Some(4));
    let note = fetched
        .notes
        .iter()
        .find(|n| n.contains("annual_launches"))
        .expect("a note on the column");
    assert!(
        note.contains("no column annual_launches (it has yearly_launches)")
            && note.contains("held"),
        "{note}"
    );
    assert_eq!(values(&fetched, "ai_large_scale_systems").len(), 2);
}

#[tokio::test]
async fn an_html_page_a_changed_unit_and_a_refusal_fail_the_fetch_naming_the_chart() {
    let html = ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html><html><body>Something went wrong</body></html>",
        "text/html",
    );
    let server = server_with(html, "objects").await;
    let error = fetch(&source(&server)).await.expect_err("html");
    assert!(matches!(error, SourceError::Malformed { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(SPACE) && text.contains("not a CSV of entity,code,year"),
        "{text}"
    );

    let server = server_with(csv(SPACE_CSV), "thousand objects").await;
    let error = fetch(&source(&server)).await.expect_err("unit");
    let text = error.to_string();
    assert!(
        text.contains("is in \"thousand objects\", not \"objects\""),
        "{text}"
    );

    let server = server_with(
        ResponseTemplate::new(403).set_body_string("This chart's data cannot be downloaded"),
        "objects",
    )
    .await;
    let error = fetch(&source(&server)).await.expect_err("refused");
    assert!(matches!(error, SourceError::Refused { .. }), "{error}");
    assert!(error.to_string().contains("HTTP 403"), "{error}");

    let server = server_with(ResponseTemplate::new(502), "objects").await;
    let error = fetch(&source(&server)).await.expect_err("unreachable");
    assert!(matches!(error, SourceError::Unreachable { .. }), "{error}");
}

#[tokio::test]
async fn metadata_that_is_not_the_chart_apis_shape_is_malformed() {
    let server = MockServer::start().await;
    serve(
        SPACE,
        "metadata.json",
        json_body(r#"{"columns": []}"#.to_owned()),
    )
    .mount(&server)
    .await;
    let error = fetch(&source(&server)).await.expect_err("malformed");
    assert!(matches!(error, SourceError::Malformed { .. }), "{error}");
    assert!(error.to_string().contains("metadata"), "{error}");
}
