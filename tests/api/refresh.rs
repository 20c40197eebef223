//! Refreshing from the World Bank: every revision recorded, nothing ever overwritten, and a
//! failed run leaves the stored data exactly as it was.

use crate::both_backends;
use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
use crate::support::{Backend, TestApp};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};
use techbalance::config::Config;
use techbalance_store::entities::{observation, refresh_run};
use techbalance_store::runs::RunStatus;
use techbalance_worker::pipeline::RefreshOutcome;

const RD: &str = "GB.XPD.RSDV.GD.ZS";
const PATENTS: &str = "IP.PAT.RESD";

both_backends!(
    a_first_refresh_records_every_page_and_a_second_records_nothing,
    a_new_vintage_is_recorded_as_revisions_new_years_and_withdrawals,
    as_of_between_two_refreshes_returns_what_was_known_then,
    revisions_list_exactly_the_changes,
    every_failure_leaves_the_stored_data_as_it_was,
    a_transient_server_error_is_retried,
    a_retired_indicator_keeps_its_values,
    refresh_runs_and_source_freshness_are_queryable,
    world_bank_figures_are_preferred_over_the_baseline,
);

pub(crate) fn first_vintage() -> Vintage {
    Vintage::new("2025-07-01")
        .with(RD, "USA", 2020, Some(3.42))
        .with(RD, "USA", 2021, Some(3.46))
        .with(RD, "USA", 2022, Some(3.58))
        .with(RD, "CHN", 2020, Some(2.40))
        .with(RD, "CHN", 2021, Some(2.43))
        .with(RD, "CHN", 2022, None)
        .with(PATENTS, "USA", 2022, Some(262_000.0))
        .with(PATENTS, "CHN", 2022, Some(1_464_000.0))
}

/// The next release: one revised value, new years, a null that became a value, a withdrawn point
/// (USA's patents move from 2022 to 2023: the series is not withdrawn as a whole).
fn second_vintage() -> Vintage {
    first_vintage()
        .with(RD, "USA", 2022, Some(3.59))
        .with(RD, "USA", 2023, Some(3.45))
        .with(RD, "CHN", 2022, Some(2.56))
        .without(PATENTS, "USA", 2022)
        .with(PATENTS, "USA", 2023, Some(271_000.0))
}

struct Setup {
    app: TestApp,
    fake: FakeWorldBank,
    config: Config,
}

async fn setup(backend: Backend) -> Setup {
    let app = TestApp::builder(backend).start().await;
    let fake = FakeWorldBank::start(first_vintage()).await;
    let url = fake.url();
    let config = app.db.config_with(&[
        ("TECHBALANCE_WORLDBANK_URL", url.as_str()),
        ("TECHBALANCE_WORLDBANK_PER_PAGE", "2"),
        ("TECHBALANCE_FETCH_TIMEOUT_SECS", "1"),
        ("TECHBALANCE_FETCH_ATTEMPTS", "2"),
    ]);
    Setup { app, fake, config }
}

impl Setup {
    async fn refresh(&self) -> Result<RefreshOutcome, String> {
        let sources = techbalance::sources(&self.config).expect("sources");
        let worldbank = sources
            .iter()
            .find(|s| s.id() == "worldbank")
            .expect("worldbank source");
        techbalance::refresh(&self.app.store, &self.config, worldbank.as_ref(), &|_| {})
            .await
            .map_err(|failure| failure.to_string())
    }

    async fn versions(&self) -> Vec<observation::Model> {
        observation::Entity::find()
            .order_by_asc(observation::Column::Id)
            .all(self.app.store.connection())
            .await
            .expect("observations")
    }

    async fn last_run(&self) -> refresh_run::Model {
        refresh_run::Entity::find()
            .order_by_desc(refresh_run::Column::Id)
            .one(self.app.store.connection())
            .await
            .expect("runs")
            .expect("a run")
    }
}

async fn a_first_refresh_records_every_page_and_a_second_records_nothing(backend: Backend) {
    let s = setup(backend).await;
    let first = s.refresh().await.expect("first refresh");
    // rd_intensity: 5 values over 3 pages of 2 (the null is skipped); patents: 2 values.
    assert_eq!(
        (first.summary.fetched, first.summary.inserted),
        (7, 7),
        "{first:?}"
    );
    assert!(
        first.pages_fetched >= 8,
        "one page per indicator at least, three for R&D: {first:?}"
    );
    assert_eq!(first.release.as_deref(), Some("2025-07-01"));
    let data = s.app.data(r#"{ observations(metric: "rd_intensity", source: "worldbank") { country { code } year value release citation } }"#).await;
    let rows = data["observations"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[0],
        json!({ "country": { "code": "CHN" }, "year": 2020, "value": 2.4, "release": "2025-07-01",
        "citation": "World Bank, World Development Indicators, GB.XPD.RSDV.GD.ZS, last updated 2025-07-01" })
    );

    let before = s.versions().await;
    let second = s.refresh().await.expect("second refresh");
    assert_eq!(second.summary.versions_written(), 0, "{second:?}");
    assert_eq!(second.summary.unchanged, 7);
    assert_eq!(
        s.versions().await,
        before,
        "a repeated refresh changes nothing"
    );
}

async fn a_new_vintage_is_recorded_as_revisions_new_years_and_withdrawals(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await.expect("first refresh");
    let before = s.versions().await;
    s.fake.publish(second_vintage());
    let outcome = s.refresh().await.expect("second refresh");
    let summary = outcome.summary;
    // Revised: USA 2022. New: USA 2023, USA patents 2023 and CHN 2022 (null before). Withdrawn:
    // USA patents 2022. Unchanged: R&D for both countries in 2020 and 2021, and China's patents.
    assert_eq!(
        (
            summary.revised,
            summary.inserted,
            summary.withdrawn,
            summary.unchanged
        ),
        (1, 3, 1, 5),
        "{summary:?}"
    );
    let after = s.versions().await;
    assert_eq!(after.len(), before.len() + 5);
    for old in &before {
        let now = after
            .iter()
            .find(|o| o.id == old.id)
            .expect("no version is ever deleted");
        assert_eq!(
            (now.value, now.recorded_from),
            (old.value, old.recorded_from),
            "version {} rewritten",
            old.id
        );
    }
    let withdrawn: Vec<&observation::Model> = after
        .iter()
        .filter(|o| {
            o.metric == "patent_applications_resident" && o.country == "USA" && o.year == 2022
        })
        .collect();
    assert_eq!(withdrawn.len(), 2);
    assert_eq!(
        withdrawn[1].value, None,
        "the withdrawal is a version without a value"
    );
    assert_eq!(withdrawn[1].supersedes, Some(withdrawn[0].id));
    let run = s.last_run().await;
    assert_eq!(
        (run.status, run.revised, run.inserted, run.withdrawn),
        (RunStatus::Succeeded, 1, 3, 1)
    );
    assert_eq!(run.release.as_deref(), Some("2025-07-01"));
}

async fn as_of_between_two_refreshes_returns_what_was_known_then(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await.expect("first refresh");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    s.fake.publish(second_vintage());
    s.refresh().await.expect("second refresh");

    let query = format!(
        r#"{{ then: observations(metric: "rd_intensity", countries: ["USA"], from: 2022, source: "worldbank", asOf: "{between}") {{ year value }}
             now: observations(metric: "rd_intensity", countries: ["USA"], from: 2022, source: "worldbank") {{ year value }}
             metric(slug: "rd_intensity") {{ series(country: "USA", from: 2022, source: "worldbank", asOf: "{between}") {{ year value }} }}
             compare(metric: "rd_intensity", year: 2022, source: "worldbank", asOf: "{between}") {{ entries {{ value yearUsed }} }}
             patents: observations(metric: "patent_applications_resident", countries: ["USA"], asOf: "{between}") {{ value }}
             patentsNow: observations(metric: "patent_applications_resident", countries: ["USA"]) {{ value }} }}"#
    );
    let data = s.app.data(&query).await;
    assert_eq!(data["then"], json!([{ "year": 2022, "value": 3.58 }]));
    assert_eq!(
        data["now"],
        json!([{ "year": 2022, "value": 3.59 }, { "year": 2023, "value": 3.45 }])
    );
    assert_eq!(
        data["metric"]["series"],
        json!([{ "year": 2022, "value": 3.58 }])
    );
    // China's 2022 value was still null then: the nearest earlier year is used.
    assert_eq!(
        data["compare"]["entries"],
        json!([{ "value": 3.58, "yearUsed": 2022 }, { "value": 2.43, "yearUsed": 2021 }])
    );
    assert_eq!(data["patents"], json!([{ "value": 262000.0 }]));
    assert_eq!(data["patentsNow"], json!([{ "value": 271000.0 }]));
    // Before anything was recorded, nothing was known.
    let data = s.app.data(r#"{ observations(metric: "rd_intensity", source: "worldbank", asOf: "2000-01-01T00:00:00Z") { value } }"#).await;
    assert_eq!(data["observations"], json!([]));
}

async fn revisions_list_exactly_the_changes(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await.expect("first refresh");
    let since = chrono::Utc::now().to_rfc3339();
    s.fake.publish(second_vintage());
    let second = s.refresh().await.expect("second refresh");
    let query = r#"{ revisions(metric: "rd_intensity") { totalCount edges { node { kind country { code } year previousValue value source { id } run { id status } } } } }"#;
    let data = s.app.data(query).await;
    assert_eq!(data["revisions"]["totalCount"], 1);
    assert_eq!(
        data["revisions"]["edges"][0]["node"],
        json!({ "kind": "REVISED", "country": { "code": "USA" }, "year": 2022, "previousValue": 3.58, "value": 3.59,
                "source": { "id": "worldbank" }, "run": { "id": second.run_id.to_string(), "status": "SUCCEEDED" } })
    );
    let data = s.app.data(r#"{ revisions(metric: "patent_applications_resident", country: "us") { edges { node { kind previousValue value } } } }"#).await;
    assert_eq!(
        data["revisions"]["edges"],
        json!([{ "node": { "kind": "WITHDRAWN", "previousValue": 262000.0, "value": null } }])
    );
    let data = s
        .app
        .data(&format!(
            r#"{{ revisions(metric: "rd_intensity", since: "{since}") {{ totalCount }} }}"#
        ))
        .await;
    assert_eq!(data["revisions"]["totalCount"], 1);
    let data = s
        .app
        .data(r#"{ revisions(metric: "rd_intensity", country: "CHN") { totalCount } }"#)
        .await;
    assert_eq!(
        data["revisions"]["totalCount"], 0,
        "a null that became a value is a first publication"
    );
    // The history of the revised figure, oldest first.
    let data = s.app.data(r#"{ observations(metric: "rd_intensity", countries: ["USA"], from: 2022, to: 2022, source: "worldbank") { history { value recordedAt supersededAt } } }"#).await;
    let history = data["observations"][0]["history"]
        .as_array()
        .expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["value"], 3.58);
    assert_eq!(history[0]["supersededAt"], history[1]["recordedAt"]);
    assert_eq!(history[1]["supersededAt"], Value::Null);
    // A repeated refresh adds no revision.
    s.refresh().await.expect("third refresh");
    let data = s
        .app
        .data(r#"{ revisions(metric: "rd_intensity") { totalCount } }"#)
        .await;
    assert_eq!(data["revisions"]["totalCount"], 1);
}

async fn every_failure_leaves_the_stored_data_as_it_was(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await.expect("first refresh");
    s.fake.publish(second_vintage());
    let before = s.versions().await;
    for (failure, expected) in [
        (Failure::ServerError, "500"),
        (Failure::Hang, "timed out"),
        (Failure::Malformed, "malformed"),
        (Failure::Truncated, "malformed"),
        (Failure::ReleaseChangesWhilePaging, "release"),
        (Failure::InvalidValue, "Invalid value"),
    ] {
        s.fake.fail(failure);
        let error = s.refresh().await.expect_err("the refresh must fail");
        assert!(
            error.contains("worldbank"),
            "{failure:?}: the error names the source: {error}"
        );
        assert!(
            error.contains(&s.fake.url()),
            "{failure:?}: the error names the URL: {error}"
        );
        assert!(
            error.to_lowercase().contains(&expected.to_lowercase()),
            "{failure:?}: {error}"
        );
        assert_eq!(
            s.versions().await,
            before,
            "{failure:?} changed stored data"
        );
        let run = s.last_run().await;
        assert_eq!(run.status, RunStatus::Failed, "{failure:?}");
        assert!(
            run.error
                .as_deref()
                .is_some_and(|e| e.contains("worldbank")),
            "{failure:?}: {run:?}"
        );
        assert_eq!((run.inserted, run.revised, run.withdrawn), (0, 0, 0));
    }
    // Once the source behaves, the pending release is recorded.
    s.fake.fail(Failure::None);
    let outcome = s.refresh().await.expect("recovered refresh");
    assert_eq!(outcome.summary.revised, 1);
}

async fn a_transient_server_error_is_retried(backend: Backend) {
    let s = setup(backend).await;
    s.fake.fail(Failure::OneServerError);
    let outcome = s.refresh().await.expect("a single 502 is retried");
    assert_eq!(outcome.summary.inserted, 7);
    s.fake.fail(Failure::OneTooManyRequests);
    let requests = s.fake.requests();
    s.refresh()
        .await
        .expect("a 429 is retried after Retry-After");
    assert!(s.fake.requests() > requests);
}

async fn a_retired_indicator_keeps_its_values(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await.expect("first refresh");
    let before = s.versions().await;
    s.fake.publish(first_vintage().retire(PATENTS));
    let outcome = s.refresh().await.expect("retirement is not a failure");
    assert_eq!(outcome.retired, [PATENTS]);
    assert_eq!(
        outcome.summary.withdrawn, 0,
        "retired series are not withdrawn"
    );
    assert_eq!(s.versions().await, before);
    let run = s.last_run().await;
    assert!(
        run.notes.as_deref().is_some_and(|n| n.contains(PATENTS)),
        "{run:?}"
    );
}

async fn refresh_runs_and_source_freshness_are_queryable(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await.expect("first refresh");
    s.fake.fail(Failure::Malformed);
    s.refresh().await.expect_err("malformed");
    let data = s
        .app
        .data(r#"{ refreshRuns(source: "worldbank") { totalCount edges { node { status trigger fetched inserted error source { id } } } }
                   failed: refreshRuns(status: FAILED) { totalCount }
                   sources { id lastRefreshedAt releasedAt } }"#)
        .await;
    let runs = &data["refreshRuns"];
    assert_eq!(runs["totalCount"], 2);
    assert_eq!(runs["edges"][0]["node"]["status"], "FAILED", "newest first");
    assert!(runs["edges"][0]["node"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("malformed")));
    assert_eq!(runs["edges"][1]["node"]["status"], "SUCCEEDED");
    assert_eq!(runs["edges"][1]["node"]["trigger"], "MANUAL");
    assert_eq!(runs["edges"][1]["node"]["inserted"], 7);
    assert_eq!(data["failed"]["totalCount"], 1);
    let worldbank = data["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["id"] == "worldbank")
        .expect("worldbank")
        .clone();
    assert_eq!(worldbank["releasedAt"], "2025-07-01");
    assert!(worldbank["lastRefreshedAt"].is_string());
    let oecd = data["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["id"] == "oecd-msti")
        .expect("oecd")
        .clone();
    assert_eq!(oecd["lastRefreshedAt"], Value::Null);
    let error = s
        .app
        .error(r#"{ refreshRuns(first: 101) { totalCount } }"#)
        .await;
    assert_eq!(crate::support::code(&error), "BAD_USER_INPUT");
}

async fn world_bank_figures_are_preferred_over_the_baseline(backend: Backend) {
    let s = setup(backend).await;
    s.fake
        .publish(first_vintage().with(RD, "USA", 2024, Some(3.48)));
    s.refresh().await.expect("refresh");
    let data = s
        .app
        .data(r#"{ metric(slug: "rd_intensity") { sourcePreference latest(country: "USA") { value source { id } }
                     pinned: latest(country: "USA", source: "baseline") { value source { id } } }
                   compare(metric: "rd_intensity", year: 2024) { entries { value observation { source { id } } } } }"#)
        .await;
    assert_eq!(
        data["metric"]["sourcePreference"],
        json!(["oecd-msti", "worldbank", "baseline"])
    );
    assert_eq!(
        data["metric"]["latest"],
        json!({ "value": 3.48, "source": { "id": "worldbank" } })
    );
    assert_eq!(
        data["metric"]["pinned"],
        json!({ "value": 3.5, "source": { "id": "baseline" } })
    );
    // China has no 2024 World Bank value, so the baseline's is used for that year.
    assert_eq!(
        data["compare"]["entries"],
        json!([{ "value": 3.48, "observation": { "source": { "id": "worldbank" } } }, { "value": 2.6, "observation": { "source": { "id": "baseline" } } }])
    );
}

both_backends!(oecd_figures_keep_their_status_and_scale);

/// The OECD's MSTI over SDMX REST, serving the worker's CSV fixtures.
async fn fake_oecd(researchers_found: bool) -> wiremock::MockServer {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let csv = |body: &str| {
        ResponseTemplate::new(200)
            .insert_header(
                "content-type",
                "application/vnd.sdmx.data+csv; charset=utf-8; labels=both",
            )
            .set_body_string(body)
    };
    Mock::given(method("GET"))
        .and(path_regex(
            r"/data/OECD\.STI\.STP,DSD_MSTI@DF_MSTI,1\.3/USA\+CHN\.A\.G\.USD_PPP\.\.$",
        ))
        .respond_with(csv(include_str!(
            "../../crates/worker/tests/fixtures/oecd_msti_gerd_usd_ppp.csv"
        )))
        .mount(&server)
        .await;
    let researchers = if researchers_found {
        csv(include_str!(
            "../../crates/worker/tests/fixtures/oecd_msti_researchers_fte.csv"
        ))
    } else {
        ResponseTemplate::new(404).set_body_string("NoRecordsFound")
    };
    // NoRecordsFound answers every key, so the request narrowed down per area finds none either.
    let areas = if researchers_found {
        r"USA\+CHN"
    } else {
        r"[A-Z+]+"
    };
    Mock::given(method("GET"))
        .and(path_regex(format!(
            r"/data/OECD\.STI\.STP,DSD_MSTI@DF_MSTI,1\.3/{areas}\.A\.T_RS\.FTE\.\.$"
        )))
        .respond_with(researchers)
        .mount(&server)
        .await;
    server
}

async fn oecd_figures_keep_their_status_and_scale(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let refresh = |server: &wiremock::MockServer, accept: bool| {
        let config = app
            .db
            .config_with(&[("TECHBALANCE_OECD_URL", &server.uri())]);
        let store = app.store.clone();
        async move {
            let sources = techbalance::sources(&config).expect("sources");
            let oecd = sources
                .iter()
                .find(|s| s.id() == "oecd-msti")
                .expect("oecd source");
            techbalance::refresh_accepting(&store, &config, oecd.as_ref(), accept, &|_| {}).await
        }
    };
    let server = fake_oecd(true).await;
    let first = refresh(&server, false).await.expect("oecd refresh");
    assert_eq!(first.summary.inserted, 5, "{first:?}");

    let data = app
        .data(
            r#"{ gerd: observations(metric: "rd_spending_usd", source: "oecd-msti") { country { code } year value qualifier qualifierCode }
                 researchers: observations(metric: "researchers_fte", source: "oecd-msti") { country { code } value qualifier }
                 compare(metric: "rd_spending_usd", year: 2021) { entries { value observation { source { id } } } } }"#,
        )
        .await;
    let gerd = data["gerd"].as_array().expect("gerd");
    let usa_2022 = gerd
        .iter()
        .find(|o| o["country"]["code"] == "USA" && o["year"] == 2022)
        .expect("USA 2022");
    assert_eq!(
        usa_2022["value"], 886_020.6e6,
        "millions are scaled to dollars"
    );
    assert_eq!(usa_2022["qualifier"], "PROVISIONAL");
    assert_eq!(usa_2022["qualifierCode"], "P");
    assert!(
        gerd.iter().all(|o| o["qualifierCode"] != "A"),
        "a normal value has no qualifier"
    );
    assert_eq!(
        data["researchers"],
        json!([{ "country": { "code": "CHN" }, "value": 2405470.0, "qualifier": "BREAK_IN_SERIES" },
               { "country": { "code": "USA" }, "value": 1638632.0, "qualifier": "ESTIMATED" }])
    );
    assert_eq!(
        data["compare"]["entries"][1]["observation"]["source"]["id"],
        "oecd-msti"
    );

    // The OECD stops publishing researchers: an empty result is no failure, but it withdraws
    // whole series, so they are held until an operator accepts.
    let server = fake_oecd(false).await;
    let second = refresh(&server, false)
        .await
        .expect("NoRecordsFound is not an error");
    assert_eq!(
        (
            second.summary.withdrawn,
            second.summary.held,
            second.summary.unchanged
        ),
        (0, 2, 3),
        "{second:?}"
    );
    let data = app
        .data(r#"{ observations(metric: "researchers_fte", source: "oecd-msti") { value } }"#)
        .await;
    assert_eq!(data["observations"].as_array().map(Vec::len), Some(2));
    let accepted = refresh(&server, true).await.expect("accepted");
    assert_eq!(
        (accepted.summary.withdrawn, accepted.summary.held),
        (2, 0),
        "{accepted:?}"
    );
    let data = app
        .data(r#"{ observations(metric: "researchers_fte", source: "oecd-msti") { value } }"#)
        .await;
    assert_eq!(data["observations"], json!([]));
}
