//! Degenerate, partial and contradictory upstream answers: a degenerate answer never withdraws a
//! series on its own (an operator accepts, audited), one refused country does not stop the
//! others, a value is stored only with its magnitude established, and countries in conflict are
//! named while the rest of the answer is recorded.

use crate::both_backends;
use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
use crate::support::{code, Backend, TestApp};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};
use std::time::Duration;
use techbalance::config::Config;
use techbalance_store::entities::{observation, refresh_run};
use techbalance_store::queue::RetryPolicy;
use techbalance_store::runs::RunStatus;
use techbalance_worker::pipeline::RefreshOutcome;
use techbalance_worker::runner::{Runner, RunnerSettings};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const RD: &str = "GB.XPD.RSDV.GD.ZS";
const PATENTS: &str = "IP.PAT.RESD";

both_backends!(
    a_page_that_does_not_answer_the_page_asked_for_fails_the_run_and_changes_nothing,
    an_empty_answer_for_series_that_exist_is_held_not_recorded,
    an_operator_accepts_held_withdrawals_through_the_api_audited,
    the_command_line_accepts_withdrawals_audited,
    withdrawing_more_than_the_allowed_share_holds_every_withdrawal,
    a_country_the_world_bank_refuses_does_not_stop_the_others,
    a_country_the_world_bank_leaves_out_silently_is_noted,
    two_countries_with_one_iso2_code_are_a_named_conflict_and_the_rest_is_recorded,
    oecd_values_are_stored_only_with_their_magnitude_established,
    an_area_the_oecd_does_not_know_does_not_stop_the_others,
);

/// Seven values: R&D for the USA and China over three years (China's 2022 is null), patents.
fn vintage() -> Vintage {
    crate::refresh::first_vintage()
}

struct Setup {
    app: TestApp,
    fake: FakeWorldBank,
    config: Config,
}

async fn setup(backend: Backend, vars: &[(&str, &str)]) -> Setup {
    let app = TestApp::builder(backend).start().await;
    let fake = FakeWorldBank::start(vintage()).await;
    let url = fake.url();
    let mut all = vec![
        ("TECHBALANCE_WORLDBANK_URL", url.as_str()),
        ("TECHBALANCE_FETCH_TIMEOUT_SECS", "1"),
        ("TECHBALANCE_FETCH_ATTEMPTS", "1"),
    ];
    all.extend_from_slice(vars);
    let config = app.db.config_with(&all);
    Setup { app, fake, config }
}

impl Setup {
    async fn refresh(&self) -> Result<RefreshOutcome, String> {
        self.refresh_accepting(false).await
    }

    async fn refresh_accepting(&self, accept: bool) -> Result<RefreshOutcome, String> {
        let sources = techbalance::sources(&self.config).expect("sources");
        let worldbank = sources
            .iter()
            .find(|s| s.id() == "worldbank")
            .expect("worldbank source");
        techbalance::refresh_accepting(
            &self.app.store,
            &self.config,
            worldbank.as_ref(),
            accept,
            &|_| {},
        )
        .await
        .map_err(|failure| failure.to_string())
    }

    async fn versions(&self) -> Vec<observation::Model> {
        versions(&self.app).await
    }

    async fn run(&self, id: i64) -> refresh_run::Model {
        self.app.store.run(id).await.expect("run").expect("exists")
    }

    /// Current World Bank values of one metric for one country, oldest year first.
    async fn current(&self, metric: &str, country: &str) -> Value {
        let data = self
            .app
            .data(&format!(
                r#"{{ observations(metric: "{metric}", countries: ["{country}"], source: "worldbank") {{ year value }} }}"#
            ))
            .await;
        data["observations"].clone()
    }
}

async fn versions(app: &TestApp) -> Vec<observation::Model> {
    observation::Entity::find()
        .order_by_asc(observation::Column::Id)
        .all(app.store.connection())
        .await
        .expect("observations")
}

async fn last_run(app: &TestApp) -> refresh_run::Model {
    refresh_run::Entity::find()
        .order_by_desc(refresh_run::Column::Id)
        .one(app.store.connection())
        .await
        .expect("runs")
        .expect("a run")
}

fn usa_rd() -> Value {
    json!([{ "year": 2020, "value": 3.42 }, { "year": 2021, "value": 3.46 }, { "year": 2022, "value": 3.58 }])
}

// ---------------------------------------------------------------------------------------------
// Case 2: degenerate answers are not evidence that data is gone

async fn a_page_that_does_not_answer_the_page_asked_for_fails_the_run_and_changes_nothing(
    backend: Backend,
) {
    let s = setup(backend, &[]).await;
    s.refresh().await.expect("first refresh");
    let before = s.versions().await;
    // `[{"page":0,"pages":0,"total":0,...},null]` for page 1 of every indicator.
    s.fake.fail(Failure::PageZeroOfZero);
    let error = s
        .refresh()
        .await
        .expect_err("a page 0 answers no page asked for");
    assert!(
        error.contains("malformed") && error.contains("asked for page 1, received page 0"),
        "{error}"
    );
    assert_eq!(s.versions().await, before, "nothing was withdrawn");
    let run = last_run(&s.app).await;
    assert_eq!(
        (run.status, run.withdrawn, run.held_withdrawals),
        (RunStatus::Failed, 0, 0)
    );
    assert_eq!(s.current("rd_intensity", "USA").await, usa_rd());
}

async fn an_empty_answer_for_series_that_exist_is_held_not_recorded(backend: Backend) {
    let s = setup(backend, &[]).await;
    s.refresh().await.expect("first refresh");
    let before = s.versions().await;
    // Well formed (page 1, 0 pages, 0 rows, null) for every indicator: every series would go.
    s.fake.fail(Failure::Empty);
    let outcome = s.refresh().await.expect("a held run is no failure");
    assert_eq!(
        (outcome.summary.withdrawn, outcome.summary.held),
        (0, 7),
        "{outcome:?}"
    );
    let names: Vec<String> = outcome
        .held
        .iter()
        .map(|h| format!("{} {} {}", h.metric, h.country, h.withdrawals))
        .collect();
    assert_eq!(
        names,
        [
            "patent_applications_resident CHN 1",
            "patent_applications_resident USA 1",
            "rd_intensity CHN 2",
            "rd_intensity USA 3"
        ]
    );
    assert_eq!(s.versions().await, before, "no series was withdrawn");
    assert_eq!(s.current("rd_intensity", "USA").await, usa_rd());
    let data = s
        .app
        .data(r#"{ refreshRuns(first: 1, source: "worldbank") { edges { node { id status withdrawn heldWithdrawals acceptsWithdrawals notes } } } }"#)
        .await;
    let run = &data["refreshRuns"]["edges"][0]["node"];
    assert_eq!(
        (
            &run["status"],
            &run["withdrawn"],
            &run["heldWithdrawals"],
            &run["acceptsWithdrawals"]
        ),
        (&json!("HELD"), &json!(0), &json!(7), &json!(false))
    );
    let notes = run["notes"].as_str().expect("notes");
    let id = run["id"].as_str().expect("id");
    assert!(
        notes.contains("withdrawals held for an operator: 7 value(s) in 4 series")
            && notes.contains("rd_intensity USA")
            && notes.contains(&format!("acceptWithdrawals(run: \"{id}\")"))
            && notes.contains("techbalance refresh worldbank --accept-withdrawals"),
        "{notes}"
    );
    // A held run still counts as a refresh of the source.
    let data = s.app.data(r#"{ sources { id lastRefreshedAt } }"#).await;
    assert!(data["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .any(|source| source["id"] == "worldbank" && source["lastRefreshedAt"].is_string()));
}

/// The newest audit entry: its actor, action and outcome, and its arguments.
async fn latest_audit_entry(app: &TestApp) -> ([String; 3], String) {
    let entry = app.store.audit_log(None, 1).await.expect("audit").remove(0);
    ([entry.actor, entry.action, entry.outcome], entry.arguments)
}

async fn an_operator_accepts_held_withdrawals_through_the_api_audited(backend: Backend) {
    let s = setup(backend, &[]).await;
    let first = s.refresh().await.expect("first refresh");
    s.fake.fail(Failure::Empty);
    let held = s.refresh().await.expect("held");
    assert_eq!(s.run(held.run_id).await.status, RunStatus::Held);
    let accept = |run: i64| {
        format!(
            r#"mutation {{ acceptWithdrawals(run: "{run}") {{ id status acceptsWithdrawals source {{ id }} }} }}"#
        )
    };

    // Without a token: refused, nothing queued; the refused attempt is counted in the audit log.
    let body = s.app.post(&accept(held.run_id), Value::Null).await;
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    assert_eq!(last_run(&s.app).await.id, held.run_id, "nothing was queued");
    let refused = latest_audit_entry(&s.app).await;
    assert_eq!(
        refused.0,
        ["anonymous", "acceptWithdrawals", "UNAUTHENTICATED"]
    );

    // A run that held nothing has nothing to accept; an unknown run is not found.
    let token = s.app.token("operator").await;
    let body = s.app.post_as(&token, &accept(first.run_id)).await;
    assert_eq!(code(&body["errors"][0]), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("only a held run")));
    let body = s.app.post_as(&token, &accept(999_999)).await;
    assert_eq!(code(&body["errors"][0]), "NOT_FOUND", "{body}");

    let body = s.app.post_as(&token, &accept(held.run_id)).await;
    let queued = &body["data"]["acceptWithdrawals"];
    assert_eq!(
        (
            &queued["status"],
            &queued["acceptsWithdrawals"],
            &queued["source"]["id"]
        ),
        (&json!("QUEUED"), &json!(true), &json!("worldbank")),
        "{body}"
    );
    let (entry, arguments) = latest_audit_entry(&s.app).await;
    assert_eq!(entry, ["operator", "acceptWithdrawals", "ok"]);
    assert!(arguments.contains(&held.run_id.to_string()));

    // A worker executes the accepting run: the upstream answer is still empty, and now recorded.
    let settings = RunnerSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        retry: RetryPolicy::FINAL,
        countries: s.config.refresh.countries.clone(),
        max_withdrawal_share: s.config.refresh.max_withdrawal_share,
    };
    let runner = Runner::new(
        s.app.store.clone(),
        techbalance::sources(&s.config).expect("sources"),
        settings,
    );
    assert!(runner.run_one().await.expect("run one"));
    let id: i64 = queued["id"].as_str().expect("id").parse().expect("number");
    let done = s.run(id).await;
    assert_eq!(
        (done.status, done.withdrawn, done.held_withdrawals),
        (RunStatus::Succeeded, 7, 0),
        "{done:?}"
    );
    assert_eq!(s.current("rd_intensity", "USA").await, json!([]));
    // The next ordinary run guards again: nothing current is left to hold.
    s.fake.fail(Failure::None);
    let back = s.refresh().await.expect("values published again");
    assert_eq!(back.summary.inserted, 7);
}

async fn the_command_line_accepts_withdrawals_audited(backend: Backend) {
    let s = setup(backend, &[]).await;
    s.refresh().await.expect("first refresh");
    s.fake.fail(Failure::Empty);
    s.refresh().await.expect("held");
    let url = s.fake.url();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["refresh", "worldbank", "--accept-withdrawals"])
        .env("DATABASE_URL", &s.app.db.url)
        .env("TECHBALANCE_WORLDBANK_URL", &url)
        .env("TECHBALANCE_FETCH_ATTEMPTS", "1")
        .env("TECHBALANCE_LOG", "warn")
        .env("USER", "ops")
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("succeeded: 0 fetched, 0 new, 0 revised, 7 withdrawn, 0 unchanged, 0 held"),
        "{stdout}"
    );
    let run = last_run(&s.app).await;
    assert_eq!(
        (run.status, run.withdrawn, run.accept_withdrawals),
        (RunStatus::Succeeded, 7, true)
    );
    let (entry, arguments) = latest_audit_entry(&s.app).await;
    assert_eq!(entry, ["cli:ops", "acceptWithdrawals", "ok"]);
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).expect("JSON arguments"),
        json!({ "source": "worldbank", "run": run.id.to_string() })
    );
}

async fn withdrawing_more_than_the_allowed_share_holds_every_withdrawal(backend: Backend) {
    let s = setup(backend, &[("TECHBALANCE_MAX_WITHDRAWAL_SHARE", "0.2")]).await;
    s.refresh().await.expect("first refresh");
    let before = s.versions().await;
    // Two of seven values go (29%), no series as a whole; China's patents are revised.
    s.fake.publish(
        vintage()
            .without(RD, "USA", 2020)
            .without(RD, "USA", 2021)
            .with(PATENTS, "CHN", 2022, Some(1_500_000.0)),
    );
    let outcome = s.refresh().await.expect("held");
    assert_eq!(
        (
            outcome.summary.withdrawn,
            outcome.summary.held,
            outcome.summary.revised
        ),
        (0, 2, 1),
        "{outcome:?}"
    );
    let notes = outcome.notes.clone().unwrap_or_default();
    assert!(
        notes.contains("2 of the source's 7 current values would have been withdrawn, more than the 20% allowed"),
        "{notes}"
    );
    assert_eq!(s.current("rd_intensity", "USA").await, usa_rd());
    assert_eq!(
        s.current("patent_applications_resident", "CHN").await,
        json!([{ "year": 2022, "value": 1_500_000.0 }]),
        "the rest was recorded"
    );
    assert_eq!(s.versions().await.len(), before.len() + 1);
    assert_eq!(s.run(outcome.run_id).await.status, RunStatus::Held);

    // One of seven (14%) is within the share: recorded without an operator.
    s.fake.publish(vintage().without(RD, "USA", 2020).with(
        PATENTS,
        "CHN",
        2022,
        Some(1_500_000.0),
    ));
    let outcome = s.refresh().await.expect("recorded");
    assert_eq!((outcome.summary.withdrawn, outcome.summary.held), (1, 0));
    assert_eq!(s.run(outcome.run_id).await.status, RunStatus::Succeeded);
}

// ---------------------------------------------------------------------------------------------
// Case 3: one part's refusal does not fail every part

async fn a_country_the_world_bank_refuses_does_not_stop_the_others(backend: Backend) {
    let s = setup(backend, &[("TECHBALANCE_COUNTRIES", "USA,CHN,TWN")]).await;
    // Served once, then refused: its stored values stay as they are.
    s.fake.publish(vintage().with(RD, "TWN", 2021, Some(3.6)));
    let first = s.refresh().await.expect("first refresh");
    assert_eq!(first.summary.inserted, 8);
    s.fake.publish(vintage().with(RD, "USA", 2022, Some(3.59)));
    s.fake.refuse_countries(&["TWN"]);
    let outcome = s.refresh().await.expect("the others refresh");
    assert_eq!(
        (
            outcome.summary.revised,
            outcome.summary.withdrawn,
            outcome.summary.held
        ),
        (1, 0, 0),
        "{outcome:?}"
    );
    let run = s.run(outcome.run_id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let notes = run.notes.unwrap_or_default();
    assert!(
        notes.contains("refused by worldbank, not refreshed: TWN (error 120: Invalid value: The provided parameter value is not valid)"),
        "{notes}"
    );
    assert_eq!(
        s.current("rd_intensity", "TWN").await,
        json!([{ "year": 2021, "value": 3.6 }])
    );
    assert_eq!(
        s.current("rd_intensity", "USA").await[2],
        json!({ "year": 2022, "value": 3.59 })
    );
}

async fn a_country_the_world_bank_leaves_out_silently_is_noted(backend: Backend) {
    let s = setup(backend, &[("TECHBALANCE_COUNTRIES", "USA,CHN,TWN")]).await;
    let outcome = s.refresh().await.expect("refresh");
    assert_eq!(outcome.summary.inserted, 7);
    let run = s.run(outcome.run_id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        run.notes.as_deref(),
        Some("absent from every worldbank answer: TWN")
    );
}

// ---------------------------------------------------------------------------------------------
// Case 6: conflicts are named; the rest of the answer is recorded

async fn two_countries_with_one_iso2_code_are_a_named_conflict_and_the_rest_is_recorded(
    backend: Backend,
) {
    // The fake names an unknown ISO3 code by its first two letters: XKX and XKZ are both "XK",
    // and USB is "US", the ISO2 code of the USA.
    let s = setup(backend, &[("TECHBALANCE_COUNTRIES", "USA,CHN,XKX,XKZ,USB")]).await;
    s.fake.publish(
        vintage()
            .with(RD, "XKX", 2022, Some(0.1))
            .with(RD, "XKZ", 2022, Some(0.2))
            .with(RD, "USB", 2022, Some(0.3)),
    );
    let outcome = s.refresh().await.expect("the rest is recorded");
    assert_eq!(outcome.summary.inserted, 7, "{outcome:?}");
    let run = s.run(outcome.run_id).await;
    assert_eq!((run.status, run.attempt), (RunStatus::Succeeded, 1));
    let notes = run.notes.unwrap_or_default();
    assert!(
        notes.contains("conflict: worldbank names XKX and XKZ with one ISO2 code XK; figures not recorded for XKX and XKZ"),
        "{notes}"
    );
    assert!(
        notes.contains("conflict: worldbank names USA and USB with one ISO2 code US; figures not recorded for USB"),
        "{notes}"
    );
    assert!(s
        .versions()
        .await
        .iter()
        .all(|v| ["USA", "CHN"].contains(&v.country.as_str())));
    assert_eq!(s.current("rd_intensity", "USA").await, usa_rd());
}

// ---------------------------------------------------------------------------------------------
// Cases 3, 5 and 6 for the OECD

const HEADER: &str = "STRUCTURE,STRUCTURE_ID,STRUCTURE_NAME,ACTION,REF_AREA,Reference area,FREQ,Frequency of observation,MEASURE,Measure,UNIT_MEASURE,Unit of measure,PRICE_BASE,Price base,TRANSFORMATION,Transformation,TIME_PERIOD,Time period,OBS_VALUE,Observation value,OBS_STATUS,Observation status,UNIT_MULT,Unit multiplier";

/// A GERD row (USD PPP, current prices) with its unit multiplier as given.
fn gerd_row(area: &str, name: &str, year: i32, value: &str, unit_mult: &str) -> String {
    format!(
        "DATAFLOW,OECD.STI.STP:DSD_MSTI@DF_MSTI(1.3),Main Science and Technology Indicators,I,{area},{name},A,Annual,G,Gross domestic expenditure on R&D (GERD),USD_PPP,\"US dollars, PPP converted\",V,Current prices,_Z,Not applicable,{year},,{value},,A,Normal value,{unit_mult},Millions"
    )
}

/// MSTI over SDMX REST: answers each key with the rows of the areas it names; a key naming an
/// area it does not know answers 404 `NoRecordsFound` as a whole.
#[derive(Clone)]
struct FakeMsti {
    header: String,
    rows: Vec<(String, String)>,
    unknown: Vec<String>,
}

impl Respond for FakeMsti {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let key = request.url.path().rsplit('/').next().unwrap_or_default();
        let areas: Vec<&str> = key
            .split('.')
            .next()
            .unwrap_or_default()
            .split('+')
            .collect();
        if !key.contains(".G.USD_PPP.") {
            return ResponseTemplate::new(404).set_body_string("NoRecordsFound");
        }
        if areas.iter().any(|a| self.unknown.iter().any(|u| u == a)) {
            return ResponseTemplate::new(404).set_body_string("NoRecordsFound");
        }
        let mut body = self.header.clone();
        for (area, row) in &self.rows {
            if areas.contains(&area.as_str()) {
                body.push('\n');
                body.push_str(row);
            }
        }
        ResponseTemplate::new(200)
            .insert_header(
                "content-type",
                "application/vnd.sdmx.data+csv; charset=utf-8",
            )
            .set_body_string(body)
    }
}

async fn fake_msti(header: &str, rows: &[(&str, String)], unknown: &[&str]) -> MockServer {
    let server = MockServer::start().await;
    let fake = FakeMsti {
        header: header.to_owned(),
        rows: rows
            .iter()
            .map(|(a, r)| (a.to_string(), r.clone()))
            .collect(),
        unknown: unknown.iter().map(|u| u.to_string()).collect(),
    };
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(fake)
        .mount(&server)
        .await;
    server
}

async fn refresh_oecd(
    app: &TestApp,
    server: &MockServer,
    countries: &str,
) -> Result<RefreshOutcome, String> {
    let config = app.db.config_with(&[
        ("TECHBALANCE_OECD_URL", &server.uri()),
        ("TECHBALANCE_COUNTRIES", countries),
        ("TECHBALANCE_FETCH_ATTEMPTS", "1"),
    ]);
    let sources = techbalance::sources(&config).expect("sources");
    let oecd = sources
        .iter()
        .find(|s| s.id() == "oecd-msti")
        .expect("oecd source");
    techbalance::refresh(&app.store, &config, oecd.as_ref(), &|_| {})
        .await
        .map_err(|failure| failure.to_string())
}

async fn gerd(app: &TestApp) -> Value {
    app.data(r#"{ observations(metric: "rd_spending_usd", source: "oecd-msti") { country { code } year value } }"#)
        .await["observations"]
        .clone()
}

async fn oecd_values_are_stored_only_with_their_magnitude_established(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    // A unit the parser cannot establish fails the fetch, naming the series and the column.
    let without_column = HEADER.replace(",UNIT_MULT,Unit multiplier", "");
    let usa = gerd_row("USA", "United States", 2021, "806013", "6");
    let usa_without = usa.replace(",6,Millions", "");
    for (header, row, expected) in [
        (
            without_column.as_str(),
            usa_without,
            "column UNIT_MULT is missing",
        ),
        (
            HEADER,
            gerd_row("USA", "United States", 2021, "806013", ""),
            "UNIT_MULT is empty",
        ),
        (
            HEADER,
            gerd_row("USA", "United States", 2021, "806013", "M"),
            "UNIT_MULT \"M\" is not a known unit multiplier",
        ),
        (
            HEADER,
            gerd_row("USA", "United States", 2021, "806013", "15"),
            "UNIT_MULT \"15\" is not a known unit multiplier",
        ),
        (
            &HEADER.replace("OBS_VALUE,Observation value,", ""),
            usa.replace(",806013,", ","),
            "column OBS_VALUE is missing",
        ),
    ] {
        let server = fake_msti(header, &[("USA", row)], &[]).await;
        let error = refresh_oecd(&app, &server, "USA")
            .await
            .expect_err("no guessed magnitude");
        assert!(
            error.contains("oecd-msti")
                && error.contains("rd_spending_usd")
                && error.contains(expected),
            "{expected}: {error}"
        );
        assert_eq!(gerd(&app).await, json!([]), "{expected}: nothing stored");
        assert_eq!(last_run(&app).await.status, RunStatus::Failed);
    }
    // The right magnitudes: millions, thousands and units.
    let rows = [
        ("USA", gerd_row("USA", "United States", 2021, "806013", "6")),
        (
            "CHN",
            gerd_row("CHN", "China (People's Republic of)", 2021, "667970", "3"),
        ),
        (
            "CHN",
            gerd_row("CHN", "China (People's Republic of)", 2022, "1.5", "0"),
        ),
    ];
    let server = fake_msti(HEADER, &rows, &[]).await;
    refresh_oecd(&app, &server, "USA,CHN")
        .await
        .expect("refresh");
    assert_eq!(
        gerd(&app).await,
        json!([
            { "country": { "code": "CHN" }, "year": 2021, "value": 667_970_000.0 },
            { "country": { "code": "CHN" }, "year": 2022, "value": 1.5 },
            { "country": { "code": "USA" }, "year": 2021, "value": 806_013_000_000.0 },
        ])
    );
}

async fn an_area_the_oecd_does_not_know_does_not_stop_the_others(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let usa = ("USA", gerd_row("USA", "United States", 2021, "806013", "6"));
    let chn = (
        "CHN",
        gerd_row("CHN", "China (People's Republic of)", 2021, "667970", "6"),
    );
    // The key USA+CHN+TWN answers NoRecordsFound as a whole; USA and CHN alone have records.
    let server = fake_msti(HEADER, &[usa.clone(), chn.clone()], &["TWN"]).await;
    let outcome = refresh_oecd(&app, &server, "USA,CHN,TWN")
        .await
        .expect("the others refresh");
    assert_eq!(outcome.summary.inserted, 2, "{outcome:?}");
    let notes = outcome.notes.clone().unwrap_or_default();
    assert!(
        notes.contains("oecd-msti rd_spending_usd: no records for TWN"),
        "{notes}"
    );
    assert_eq!(gerd(&app).await.as_array().map(Vec::len), Some(2));

    // The same year twice with different values: a named conflict, the other area recorded.
    let twice = (
        "CHN",
        gerd_row("CHN", "China (People's Republic of)", 2021, "667971", "6"),
    );
    let server = fake_msti(HEADER, &[usa, chn, twice], &[]).await;
    let outcome = refresh_oecd(&app, &server, "USA,CHN")
        .await
        .expect("the rest is recorded");
    let notes = outcome.notes.clone().unwrap_or_default();
    assert!(
        notes.contains("conflict: oecd-msti rd_spending_usd: CHN 2021 appears twice (667970000000 and 667971000000); not recorded for CHN"),
        "{notes}"
    );
    assert_eq!(
        (outcome.summary.unchanged, outcome.summary.withdrawn),
        (1, 0),
        "China's stored value is left as it was: {outcome:?}"
    );
}

both_backends!(a_write_that_breaks_a_key_is_not_retried);

/// What the pipeline now prevents (figures for a country the store does not know), written
/// directly: the database refuses it, and the worker does not try again.
async fn a_write_that_breaks_a_key_is_not_retried(backend: Backend) {
    use techbalance_store::record::{Batch, Point, Scope};
    let app = TestApp::builder(backend).start().await;
    let batch = Batch {
        source: "worldbank".into(),
        release: None,
        scope: Scope {
            metrics: vec!["rd_intensity".into()],
            countries: Some(vec!["XKX".into()]),
            years: None,
        },
        points: vec![Point {
            metric: "rd_intensity".into(),
            country: "XKX".into(),
            year: 2022,
            value: 0.1,
            qualifier: None,
            citation: None,
        }],
    };
    let error = app
        .store
        .record(&batch, techbalance_store::now())
        .await
        .expect_err("no such country");
    assert!(error.is_constraint_violation(), "{error}");
    assert!(!techbalance_worker::WorkerError::from(error).is_retryable());
    let unreachable = techbalance_worker::sources::SourceError::Unreachable {
        source_id: "worldbank",
        url: String::new(),
        problem: "timed out".into(),
    };
    assert!(techbalance_worker::WorkerError::from(unreachable).is_retryable());
}
