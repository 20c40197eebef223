//! Real clients, another process: the graphql-ws library, the legacy subscriptions-transport-ws
//! client and the graphql-sse client subscribe to this server while a refresh runs in a separate
//! `techbalance refresh` process against the same PostgreSQL; each receives exactly the revisions
//! that refresh recorded (PostgreSQL NOTIFY → this process's LISTEN → its subscribers).

use crate::fake_worldbank::{FakeWorldBank, Vintage};
use crate::support::{node_clients, Backend, TestApp};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use techbalance_store::history::RevisionFilter;

const RD: &str = "GB.XPD.RSDV.GD.ZS";
const PATENTS: &str = "IP.PAT.RESD";
/// A revision as seen: (metric, country, year, previous value, value).
type Seen = (String, String, i32, Option<f64>, Option<f64>);

const QUERY: &str = "subscription { observationRevised { kind year previousValue value metric { slug } country { code } source { id } } }";

/// `techbalance refresh worldbank`, with `flags` (e.g. `--accept-withdrawals`).
fn refresh_in_another_process(app: &TestApp, fake: &FakeWorldBank, flags: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["refresh", "worldbank"])
        .args(flags)
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_WORLDBANK_URL", fake.url())
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .expect("run techbalance refresh");
    assert!(
        output.status.success(),
        "refresh failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_receive_exactly_the_revisions_a_refresh_in_another_process_records() {
    let node = node_clients();
    let app = TestApp::builder(Backend::Postgres).start().await;
    let first = Vintage::new("2025-07-01")
        .with(RD, "USA", 2022, Some(3.58))
        .with(RD, "CHN", 2022, Some(2.56))
        .with(PATENTS, "USA", 2022, Some(262_000.0));
    let fake = FakeWorldBank::start(first.clone()).await;
    refresh_in_another_process(&app, &fake, &[]);

    let url = format!("http://{}/graphql", app.addr);
    let ws_url = format!("ws://{}/graphql", app.addr);
    let clients: Vec<(&str, std::process::Child)> =
        [("transport", &ws_url), ("legacy", &ws_url), ("sse", &url)]
            .into_iter()
            .map(|(protocol, url)| {
                let child = Command::new("node")
                    .arg(node.join("subscribe.mjs"))
                    .args([protocol, url.as_str(), QUERY, "2", "30000"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start node client");
                (protocol, child)
            })
            .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.live.open_subscriptions() < 3 {
        assert!(
            Instant::now() < deadline,
            "only {} clients subscribed",
            app.live.open_subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.live.shared_executions(),
        1,
        "the three clients send the same subscription, over three protocols: one execution"
    );

    // The next release revises the United States' 2022 R&D and withdraws its 2022 patents (a
    // whole series: held unless an operator accepts, as here).
    fake.publish(
        first
            .with(RD, "USA", 2022, Some(3.59))
            .without(PATENTS, "USA", 2022),
    );
    refresh_in_another_process(&app, &fake, &["--accept-withdrawals"]);

    let mut recorded = Vec::new();
    for metric in ["rd_intensity", "patent_applications_resident"] {
        let filter = RevisionFilter {
            metric: metric.into(),
            ..Default::default()
        };
        recorded.extend(
            app.store
                .revisions(&filter, None, 100)
                .await
                .expect("revisions"),
        );
    }
    let mut expected: Vec<Seen> = recorded
        .iter()
        .map(|r| {
            (
                r.metric.clone(),
                r.country.clone(),
                r.year,
                r.previous_value,
                r.value,
            )
        })
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(expected.len(), 2);

    for (protocol, child) in clients {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("client");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{protocol} client failed ({:?}): {}\n{stdout}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut received: Vec<Seen> = stdout
            .lines()
            .map(|line| {
                let result: Value = serde_json::from_str(line).expect("JSON line");
                let r = &result["data"]["observationRevised"];
                (
                    r["metric"]["slug"].as_str().expect("metric").to_owned(),
                    r["country"]["code"].as_str().expect("country").to_owned(),
                    r["year"].as_i64().expect("year") as i32,
                    r["previousValue"].as_f64(),
                    r["value"].as_f64(),
                )
            })
            .collect();
        received.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(received, expected, "{protocol} client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_loses_its_connection_tells_subscribers_to_resync() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::builder(Backend::Postgres).start().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.store.change_listener_connected() {
        assert!(
            Instant::now() < deadline,
            "the change listener never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changes = app.store.subscribe_changes();
    // Cut the LISTEN connection from the server side.
    app.store
        .connection()
        .execute_unprepared("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()")
        .await
        .expect("terminate the listener");
    let change = tokio::time::timeout(Duration::from_secs(15), changes.recv())
        .await
        .expect("a resync within 15 s")
        .expect("a change");
    let version = app.store.data_version().await.expect("version");
    assert_eq!(
        *change,
        techbalance_store::changes::Change::Resync {
            data_version: version
        }
    );
    assert!(app.store.change_listener_connected());
}
