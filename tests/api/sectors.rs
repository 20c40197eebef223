//! Sectors with evidence: the editorial verdict with its citation, its indicators compared
//! through `compare`, who leads on them, the spans of years each side led, the versions of the
//! verdict (`asOf`), provenance of every reference fact, and `leadershipChanged` delivered to a
//! real graphql-ws client (on both backends).

use crate::both_backends;
use crate::seed::tempfile_path::TempPath;
use crate::support::{code, node_clients, Backend, TestApp};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use techbalance_store::changes::Notice;
use techbalance_store::record::{Batch, Point, Scope};
use techbalance_worker::sources::baseline::BUNDLED;

both_backends!(
    a_sector_answers_its_verdict_with_citation_and_its_evidence_indicators,
    each_evidence_item_is_what_compare_answers_for_the_same_arguments,
    the_evidence_leader_and_agreement_follow_the_recorded_figures,
    leader_history_spans_the_years_each_side_led,
    a_changed_verdict_is_a_new_version_and_as_of_answers_the_old_one,
    every_reference_fact_is_sourced_or_says_it_is_not,
    sector_arguments_are_checked_like_compare,
    a_real_client_hears_leadership_change_hands,
);

/// Records `points` of `metric` from the World Bank in a run of its own, announced like a
/// refresh (so subscribers hear of it). The run speaks for the points' countries and years only.
async fn record_run(app: &TestApp, metric: &str, points: &[(&str, i32, f64)]) {
    let batch = Batch {
        source: "worldbank".into(),
        release: None,
        scope: Scope {
            metrics: vec![metric.into()],
            countries: Some(points.iter().map(|p| p.0.to_string()).collect()),
            years: points
                .iter()
                .map(|p| p.1)
                .min()
                .zip(points.iter().map(|p| p.1).max()),
        },
        points: points
            .iter()
            .map(|(country, year, value)| Point {
                metric: metric.into(),
                country: (*country).into(),
                year: *year,
                value: *value,
                qualifier: None,
                citation: None,
            })
            .collect(),
    };
    let run = app
        .store
        .start_run(
            "worldbank",
            techbalance_store::runs::RunTrigger::Manual,
            "test",
            Duration::from_secs(60),
        )
        .await
        .expect("run");
    let txn = app.store.begin().await.expect("begin");
    let at = techbalance_store::now();
    let summary = techbalance_store::record::record_batch(&txn, &batch, at, Some(run.id))
        .await
        .expect("record");
    let result = techbalance_store::runs::RunResult {
        summary,
        ..Default::default()
    };
    techbalance_store::runs::complete_run(&txn, run.id, "test", &result, at)
        .await
        .expect("complete");
    app.store
        .commit_and_announce(
            txn,
            &[
                Notice::Run { run: run.id },
                Notice::Recorded { run: run.id },
            ],
        )
        .await
        .expect("commit");
}

/// Seeds the bundled baseline with `from` replaced by `to`.
async fn seed_edited(app: &TestApp, from: &str, to: &str) {
    assert!(
        BUNDLED.contains(from),
        "the baseline no longer has {from:?}"
    );
    let file = TempPath::new("baseline.toml", &BUNDLED.replacen(from, to, 1));
    let config = app
        .db
        .config_with(&[("TECHBALANCE_BASELINE", file.as_str())]);
    techbalance::seed(&app.store, &config)
        .await
        .expect("seed edited baseline");
}

const QUANTUM_VERDICT: &str =
    "slug = \"quantum-computing\"\nname = \"Quantum Computing\"\nleader = \"CONTESTED\"";

async fn a_sector_answers_its_verdict_with_citation_and_its_evidence_indicators(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(
            r#"{ ai: sector(slug: "artificial-intelligence") { leader citation sourced source { id }
                   evidence { metric { slug } role higherIsBetter proxy
                              comparison { entries { country { code } value yearUsed observation { source { id } citation } } leader { code } } } }
                 space: sector(slug: "space-technology") { evidence { metric { slug unit } role proxy } } }"#,
        )
        .await;
    let ai = &data["ai"];
    assert_eq!(ai["leader"], "US");
    assert_eq!(ai["sourced"], true);
    assert_eq!(ai["source"]["id"], "baseline");
    assert!(
        ai["citation"]
            .as_str()
            .is_some_and(|c| c.contains("US & China Balance") && c.contains("Sector-by-Sector")),
        "{ai}"
    );
    let slugs: Vec<&str> = ai["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| e["metric"]["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(
        slugs,
        ["ai_private_investment_usd", "ai_large_scale_systems"]
    );
    // The one curated figure: the United States' 2023 private AI investment, with its citation;
    // no Chinese figure, so no leader.
    let investment = &ai["evidence"][0];
    assert_eq!(investment["role"], "INVESTMENT");
    assert_eq!(investment["proxy"], false);
    assert_eq!(investment["higherIsBetter"], true);
    let usa = &investment["comparison"]["entries"][0];
    assert_eq!(usa["country"]["code"], "USA");
    assert_eq!(usa["value"], 67e9);
    assert_eq!(usa["yearUsed"], 2023);
    assert_eq!(usa["observation"]["source"]["id"], "baseline");
    assert!(usa["observation"]["citation"].is_string(), "{usa}");
    assert_eq!(investment["comparison"]["entries"][1]["value"], Value::Null);
    assert_eq!(investment["comparison"]["leader"], Value::Null);
    assert_eq!(
        data["space"]["evidence"],
        json!([{ "metric": { "slug": "space_objects_launched", "unit": "COUNT" }, "role": "OUTPUT", "proxy": false }])
    );
}

async fn each_evidence_item_is_what_compare_answers_for_the_same_arguments(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    record_run(
        &app,
        "high_tech_exports_usd",
        &[
            ("USA", 2022, 1.7e11),
            ("CHN", 2022, 9.4e11),
            ("USA", 2023, 1.8e11),
        ],
    )
    .await;
    let before = techbalance_store::now();
    record_run(&app, "high_tech_exports_usd", &[("CHN", 2023, 8.0e11)]).await;
    const SELECTION: &str = "metric { slug } year entries { country { code } value yearUsed observation { id } } ratio leader { code } sameYear";
    for as_of in [None, Some(before.to_rfc3339())] {
        let as_of_arg = as_of
            .as_ref()
            .map(|t| format!(", asOf: \"{t}\""))
            .unwrap_or_default();
        let data = app
            .data(&format!(
                r#"{{ sector(slug: "semiconductors") {{ evidence(countries: ["CN", "usa"]{as_of_arg}) {{ comparison {{ {SELECTION} }} }} }}
                    a: compare(metric: "high_tech_exports_usd", countries: ["CN", "usa"]{as_of_arg}) {{ {SELECTION} }}
                    b: compare(metric: "patent_applications_resident", countries: ["CN", "usa"]{as_of_arg}) {{ {SELECTION} }} }}"#
            ))
            .await;
        let evidence = &data["sector"]["evidence"];
        assert_eq!(evidence[0]["comparison"], data["a"], "as of {as_of:?}");
        assert_eq!(evidence[1]["comparison"], data["b"], "as of {as_of:?}");
        assert_eq!(evidence.as_array().map(Vec::len), Some(2));
    }
}

async fn the_evidence_leader_and_agreement_follow_the_recorded_figures(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    const QUERY: &str = r#"{ space: sector(slug: "space-technology") { leader evidenceLeader { code } agreesWithVerdict }
        solar: sector(slug: "solar-clean-energy") { leader evidenceLeader { code } agreesWithVerdict }
        semis: sector(slug: "semiconductors") { leader evidenceLeader { code } agreesWithVerdict } }"#;
    let data = app.data(QUERY).await;
    // No space figures yet; solar has China's share only: no evidence leader, nothing to agree.
    for sector in ["space", "solar", "semis"] {
        assert_eq!(
            data[sector]["evidenceLeader"],
            Value::Null,
            "{sector}: {data}"
        );
        assert_eq!(
            data[sector]["agreesWithVerdict"],
            Value::Null,
            "{sector}: {data}"
        );
    }
    record_run(
        &app,
        "space_objects_launched",
        &[("USA", 2023, 2166.0), ("CHN", 2023, 221.0)],
    )
    .await;
    // Semiconductors: China leads on exports, the United States on resident patents: split.
    record_run(
        &app,
        "high_tech_exports_usd",
        &[("USA", 2023, 1.8e11), ("CHN", 2023, 8.0e11)],
    )
    .await;
    record_run(
        &app,
        "patent_applications_resident",
        &[("USA", 2023, 2.9e5), ("CHN", 2023, 1.5e5)],
    )
    .await;
    let data = app.data(QUERY).await;
    assert_eq!(
        data["space"],
        json!({ "leader": "US", "evidenceLeader": { "code": "USA" }, "agreesWithVerdict": true })
    );
    assert_eq!(data["semis"]["evidenceLeader"], Value::Null, "{data}");
    assert_eq!(data["semis"]["agreesWithVerdict"], Value::Null, "{data}");
    // China launches more the next year: the evidence now disagrees with the verdict.
    record_run(
        &app,
        "space_objects_launched",
        &[("USA", 2024, 150.0), ("CHN", 2024, 260.0)],
    )
    .await;
    let data = app.data(QUERY).await;
    assert_eq!(
        data["space"],
        json!({ "leader": "US", "evidenceLeader": { "code": "CHN" }, "agreesWithVerdict": false })
    );
    // US_AND_ALLIES agrees with the United States leading: patents alone break the split.
    record_run(
        &app,
        "high_tech_exports_usd",
        &[("USA", 2024, 9.0e11), ("CHN", 2024, 8.0e11)],
    )
    .await;
    let data = app.data(QUERY).await;
    assert_eq!(
        data["semis"],
        json!({ "leader": "US_AND_ALLIES", "evidenceLeader": { "code": "USA" }, "agreesWithVerdict": true })
    );
}

async fn leader_history_spans_the_years_each_side_led(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    // USA ahead 2018–2020, a tie in 2021, China ahead 2022–2023, China missing in 2024 (no
    // span), the United States ahead again in 2025.
    record_run(
        &app,
        "space_objects_launched",
        &[
            ("USA", 2018, 300.0),
            ("CHN", 2018, 40.0),
            ("USA", 2019, 310.0),
            ("CHN", 2019, 35.0),
            ("USA", 2020, 1200.0),
            ("CHN", 2020, 50.0),
            ("USA", 2021, 90.0),
            ("CHN", 2021, 90.0),
            ("USA", 2022, 80.0),
            ("CHN", 2022, 95.0),
            ("USA", 2023, 70.0),
            ("CHN", 2023, 120.0),
            ("USA", 2024, 2500.0),
            ("USA", 2025, 2600.0),
            ("CHN", 2025, 300.0),
        ],
    )
    .await;
    let before = techbalance_store::now();
    // A revision: 2023 becomes a US year, which splits China's span.
    record_run(&app, "space_objects_launched", &[("USA", 2023, 130.0)]).await;
    let query = |as_of: Option<String>| {
        let arg = as_of
            .map(|t| format!("(asOf: \"{t}\")"))
            .unwrap_or_default();
        format!(
            r#"{{ sector(slug: "space-technology") {{ leaderHistory{arg} {{ metric {{ slug }} from to leader {{ code }} }} }} }}"#
        )
    };
    let span = |from: i32, to: i32, leader: Option<&str>| {
        json!({ "metric": { "slug": "space_objects_launched" }, "from": from, "to": to,
                "leader": leader.map(|code| json!({ "code": code })) })
    };
    let then = app.data(&query(Some(before.to_rfc3339()))).await;
    assert_eq!(
        then["sector"]["leaderHistory"],
        json!([
            span(2018, 2020, Some("USA")),
            span(2021, 2021, None),
            span(2022, 2023, Some("CHN")),
            span(2025, 2025, Some("USA")),
        ])
    );
    let now = app.data(&query(None)).await;
    assert_eq!(
        now["sector"]["leaderHistory"],
        json!([
            span(2018, 2020, Some("USA")),
            span(2021, 2021, None),
            span(2022, 2022, Some("CHN")),
            span(2023, 2023, Some("USA")),
            span(2025, 2025, Some("USA")),
        ])
    );
}

async fn a_changed_verdict_is_a_new_version_and_as_of_answers_the_old_one(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let first = app
        .data(r#"{ sector(slug: "quantum-computing") { verdictHistory { leader recordedAt supersededAt citation run { id } } } }"#)
        .await;
    let history = first["sector"]["verdictHistory"]
        .as_array()
        .expect("history")
        .clone();
    assert_eq!(history.len(), 1, "{first}");
    assert_eq!(history[0]["leader"], "CONTESTED");
    assert_eq!(history[0]["supersededAt"], Value::Null);
    assert!(history[0]["run"]["id"].is_string(), "{first}");
    let between = techbalance_store::now();

    seed_edited(
        &app,
        QUANTUM_VERDICT,
        &QUANTUM_VERDICT.replace("CONTESTED", "CHINA"),
    )
    .await;
    // Seeding the same edit again records nothing new.
    seed_edited(
        &app,
        QUANTUM_VERDICT,
        &QUANTUM_VERDICT.replace("CONTESTED", "CHINA"),
    )
    .await;

    let data = app
        .data(&format!(
            r#"{{ sector(slug: "quantum-computing") {{ leader
                  now: verdict {{ leader supersededAt }}
                  then: verdict(asOf: "{between}") {{ leader recordedAt supersededAt }}
                  before: verdict(asOf: "2000-01-01T00:00:00Z") {{ leader }}
                  verdictHistory {{ leader recordedAt supersededAt }} }}
                  ai: sector(slug: "artificial-intelligence") {{ verdictHistory {{ leader }} }}
                  china: sectors(leader: CHINA) {{ slug }} }}"#,
            between = between.to_rfc3339()
        ))
        .await;
    let sector = &data["sector"];
    assert_eq!(sector["leader"], "CHINA");
    assert_eq!(
        sector["now"],
        json!({ "leader": "CHINA", "supersededAt": null })
    );
    assert_eq!(sector["then"]["leader"], "CONTESTED");
    assert_eq!(sector["then"]["recordedAt"], history[0]["recordedAt"]);
    assert_eq!(sector["before"], Value::Null);
    let versions = sector["verdictHistory"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{sector}");
    assert_eq!(versions[0]["leader"], "CONTESTED");
    assert_eq!(versions[1]["leader"], "CHINA");
    assert_eq!(versions[0]["supersededAt"], versions[1]["recordedAt"]);
    // Other sectors' verdicts did not change, so they have one version.
    assert_eq!(data["ai"]["verdictHistory"], json!([{ "leader": "US" }]));
    assert!(data["china"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["slug"] == "quantum-computing")));
}

async fn every_reference_fact_is_sourced_or_says_it_is_not(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(
            r#"{ companies(first: 100) { edges { node { slug sourced citation source { id }
                   provenance { fact sourced citation source { id } }
                   sectorLinks { sector { slug } sourced citation source { id } } } } }
                 sectors { slug sourced citation source { id } companyLinks { company { slug } sourced } }
                 countries { highlights { title sourced citation source { id } } } }"#,
        )
        .await;
    // A fact is either sourced (a citation and the baseline as its source) or says it is not.
    let consistent = |fact: &Value| {
        let sourced = fact["sourced"].as_bool().expect("sourced");
        assert_eq!(fact["citation"].is_string(), sourced, "{fact}");
        assert_eq!(
            fact["source"],
            if sourced {
                json!({ "id": "baseline" })
            } else {
                Value::Null
            },
            "{fact}"
        );
        sourced
    };
    let companies = data["companies"]["edges"].as_array().expect("companies");
    assert_eq!(companies.len(), 20);
    let mut unsourced_links = Vec::new();
    for company in companies.iter().map(|e| &e["node"]) {
        assert!(consistent(company), "every listing is cited: {company}");
        assert!(company["citation"]
            .as_str()
            .is_some_and(|c| c.contains("The Tech Giants")));
        let facts: Vec<(&str, bool)> = company["provenance"]
            .as_array()
            .expect("provenance")
            .iter()
            .map(|f| (f["fact"].as_str().expect("fact"), consistent(f)))
            .collect();
        // The page lists the companies and their ownership model, not founding years or
        // headquarters.
        assert_eq!(
            facts,
            [
                ("LISTING", true),
                ("OWNERSHIP", true),
                ("FOUNDED", false),
                ("HEADQUARTERS", false)
            ],
            "{company}"
        );
        for link in company["sectorLinks"].as_array().expect("links") {
            if !consistent(link) {
                unsourced_links.push(format!(
                    "{}/{}",
                    company["slug"].as_str().unwrap_or(""),
                    link["sector"]["slug"].as_str().unwrap_or("")
                ));
            }
        }
    }
    let link = |slug: &str, sector: &str| {
        companies
            .iter()
            .map(|e| &e["node"])
            .find(|c| c["slug"] == slug)
            .and_then(|c| c["sectorLinks"].as_array())
            .and_then(|links| links.iter().find(|l| l["sector"]["slug"] == sector))
            .cloned()
            .expect("link")
    };
    assert_eq!(link("catl", "batteries-evs")["sourced"], true);
    assert_eq!(link("nvidia", "artificial-intelligence")["sourced"], true);
    assert_eq!(link("apple", "semiconductors")["sourced"], false);
    assert!(
        unsourced_links.contains(&"smic/semiconductors".to_owned()),
        "{unsourced_links:?}"
    );
    for sector in data["sectors"].as_array().expect("sectors") {
        assert!(consistent(sector), "every verdict is cited: {sector}");
        for link in sector["companyLinks"].as_array().expect("links") {
            assert!(link["sourced"].is_boolean(), "{link}");
        }
    }
    let highlights: Vec<&Value> = data["countries"]
        .as_array()
        .expect("countries")
        .iter()
        .flat_map(|c| c["highlights"].as_array().expect("highlights"))
        .collect();
    assert_eq!(highlights.len(), 22);
    for highlight in highlights {
        assert!(
            consistent(highlight),
            "every highlight is cited: {highlight}"
        );
    }
}

async fn sector_arguments_are_checked_like_compare(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let error = app
        .error(r#"{ sector(slug: "semiconductors") { evidence(countries: ["USA"]) { proxy } } }"#)
        .await;
    assert_eq!(code(&error), "BAD_USER_INPUT");
    let error = app
        .error(r#"{ sector(slug: "semiconductors") { evidence(countries: ["CHN", "cn"]) { proxy } } }"#)
        .await;
    assert_eq!(code(&error), "BAD_USER_INPUT");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("`countries` names CHN twice")),
        "{error}"
    );
    let error = app
        .error(r#"{ sector(slug: "semiconductors") { leaderHistory(countries: ["USA", "ATL"]) { from } } }"#)
        .await;
    assert_eq!(code(&error), "NOT_FOUND");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("ATL")),
        "{error}"
    );
}

/// Runs the graphql-ws client for `query` until it has `count` results; returns them.
fn spawn_client(app: &TestApp, query: &str, count: usize) -> std::process::Child {
    Command::new("node")
        .arg(node_clients().join("subscribe.mjs"))
        .args([
            "transport",
            &format!("ws://{}/graphql", app.addr),
            query,
            &count.to_string(),
            "30000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node client")
}

async fn results_of(child: std::process::Child) -> Vec<Value> {
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "client failed ({:?}): {}\n{stdout}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("JSON line")["data"]["leadershipChanged"]
                .clone()
        })
        .collect()
}

async fn a_real_client_hears_leadership_change_hands(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    const SELECTION: &str = "scope metric { slug } sector { slug leader } previousLeader { code } leader { code } previousVerdict verdict";
    let all = spawn_client(
        &app,
        &format!("subscription {{ leadershipChanged {{ {SELECTION} }} }}"),
        5,
    );
    let space = spawn_client(
        &app,
        &format!(
            r#"subscription {{ leadershipChanged(sector: "space-technology") {{ {SELECTION} }} }}"#
        ),
        2,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.live.open_subscriptions() < 2 {
        assert!(Instant::now() < deadline, "the clients did not subscribe");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // First figures: the United States takes the lead on the indicator and the sector.
    record_run(
        &app,
        "space_objects_launched",
        &[("USA", 2023, 2166.0), ("CHN", 2023, 221.0)],
    )
    .await;
    // A figure that changes nobody's lead: no event.
    record_run(&app, "space_objects_launched", &[("USA", 2023, 2200.0)]).await;
    // China overtakes in the next year.
    record_run(
        &app,
        "space_objects_launched",
        &[("USA", 2024, 150.0), ("CHN", 2024, 260.0)],
    )
    .await;
    // An edited verdict in the baseline.
    seed_edited(
        &app,
        QUANTUM_VERDICT,
        &QUANTUM_VERDICT.replace("CONTESTED", "CHINA"),
    )
    .await;

    let indicator = |previous: Option<&str>, leader: &str| {
        json!({ "scope": "INDICATOR", "metric": { "slug": "space_objects_launched" }, "sector": null,
                "previousLeader": previous.map(|c| json!({ "code": c })), "leader": { "code": leader },
                "previousVerdict": null, "verdict": null })
    };
    let sector = |previous: Option<&str>, leader: &str| {
        json!({ "scope": "SECTOR_EVIDENCE", "metric": null, "sector": { "slug": "space-technology", "leader": "US" },
                "previousLeader": previous.map(|c| json!({ "code": c })), "leader": { "code": leader },
                "previousVerdict": null, "verdict": null })
    };
    assert_eq!(
        results_of(all).await,
        [
            indicator(None, "USA"),
            sector(None, "USA"),
            indicator(Some("USA"), "CHN"),
            sector(Some("USA"), "CHN"),
            json!({ "scope": "SECTOR_VERDICT", "metric": null, "sector": { "slug": "quantum-computing", "leader": "CHINA" },
                    "previousLeader": null, "leader": null, "previousVerdict": "CONTESTED", "verdict": "CHINA" }),
        ]
    );
    assert_eq!(
        results_of(space).await,
        [sector(None, "USA"), sector(Some("USA"), "CHN")]
    );
}
