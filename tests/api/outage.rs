//! A real PostgreSQL outage under a running server and a running refresh: queries fail fast with
//! SERVICE_UNAVAILABLE (503), readiness turns 503 while liveness stays 200, and when the database
//! comes back everything recovers without a restart: queries answer, the interrupted refresh is
//! retried and succeeds once, and nothing partial was stored.
//!
//! The outage is a throwaway PostgreSQL cluster of the test's own (`techbalance_test_postgres`:
//! a temporary directory, its own port), stopped and started again; the server the other tests
//! use is never touched.

use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
use crate::support::code;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use techbalance::config::Config;
use techbalance_store::entities::{observation, refresh_run};
use techbalance_store::queue::RetryPolicy;
use techbalance_store::runs::RunStatus;
use techbalance_store::Store;
use techbalance_worker::runner::{Runner, RunnerSettings};

const ROLE: &str = "tb_outage";
const PASSWORD: &str = "tb_outage_secret";
const DATABASE: &str = "techbalance";
/// The pool's acquire timeout in this test: what bounds a query during the outage.
const DB_TIMEOUT_SECS: u64 = 2;

/// A PostgreSQL cluster of this test's own (the others' is never stopped), with a role that logs
/// in with a password over TCP; removed when dropped.
struct Cluster(techbalance_test_postgres::Cluster);

impl Cluster {
    fn start() -> Self {
        let cluster = techbalance_test_postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        run(cluster.client("psql").args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"),
            "-c",
            &format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"),
        ]));
        Self(cluster)
    }

    fn url(&self) -> String {
        format!(
            "postgres://{ROLE}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.0.port
        )
    }

    /// Starts the server again and waits until it accepts connections.
    fn resume(&self) {
        self.0.resume().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops the server: `fast` ends every session (their transactions roll back).
    fn stop(&self, mode: &str) {
        self.0.stop(mode).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The in-process server, and a client for it.
struct Server {
    base: String,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(store: Store, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            techbalance::serve(store, &config, listener, std::future::pending())
                .await
                .expect("server");
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self { base, client, task }
    }

    /// POSTs a query; returns the status, the body and how long the answer took.
    async fn post(&self, query: &str, token: Option<&str>) -> (u16, Value, Duration) {
        let started = Instant::now();
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON body");
        (status, body, started.elapsed())
    }

    async fn get(&self, path: &str) -> (u16, String, Duration) {
        let started = Instant::now();
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.text().await.expect("body"),
            started.elapsed(),
        )
    }
}

const COMPARE: &str =
    r#"{ compare(metric: "rd_intensity") { entries { country { code } value } } }"#;
/// Touches every kind of read: reference data, pages, runs, schedules.
const BROAD: &str = r#"{
    countries { code }
    metrics { slug }
    sectors { slug }
    sources { id }
    companies(first: 2) { totalCount }
    refreshRuns(first: 1) { totalCount }
    schedules { id }
}"#;

/// Every error is SERVICE_UNAVAILABLE with the generic message, and nothing internal leaks.
fn assert_unavailable(body: &Value, what: &str) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors: {body}"));
    assert!(!errors.is_empty(), "{what}: {body}");
    for error in errors {
        assert_eq!(code(error), "SERVICE_UNAVAILABLE", "{what}: {body}");
        assert_eq!(
            error["message"], "the database is unavailable; try again shortly",
            "{what}: {body}"
        );
    }
    let text = body.to_string().to_lowercase();
    for leak in [
        "select",
        "sqlx",
        "sea_orm",
        "pool",
        "127.0.0.1",
        "/tmp",
        "postgres",
        "connection refused",
    ] {
        assert!(!text.contains(leak), "{what} leaks {leak:?}: {body}");
    }
}

async fn worldbank_rows(store: &Store) -> Vec<observation::Model> {
    observation::Entity::find()
        .filter(observation::Column::Source.eq("worldbank"))
        .all(store.connection())
        .await
        .expect("observations")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_answers_503_fast_and_everything_recovers_without_a_restart() {
    let cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .expect("start the cluster");
    let mut vintage = Vintage::new("2025-07-01");
    for year in 2020..=2022 {
        let step = f64::from(year - 2020) / 10.0;
        vintage = vintage
            .with("GB.XPD.RSDV.GD.ZS", "USA", year, Some(3.4 + step))
            .with("GB.XPD.RSDV.GD.ZS", "CHN", year, Some(2.4 + step));
    }
    let fake = FakeWorldBank::start(vintage).await;
    fake.fail(Failure::Slow); // seven indicators at 400 ms: a refresh fetches for ~2.8 s
    let url = cluster.url();
    let worldbank = fake.url();
    let timeout = DB_TIMEOUT_SECS.to_string();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("TECHBALANCE_DB_TIMEOUT_SECS", timeout.as_str()),
        ("TECHBALANCE_WORLDBANK_URL", worldbank.as_str()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("configuration");
    let store = techbalance::open_store(&config).await.expect("open store");
    techbalance::seed_if_empty(&store, &config)
        .await
        .expect("seed");
    let token = techbalance_api::auth::create_token(&store, "ops")
        .await
        .expect("token");
    let server = Server::start(store.clone(), config.clone()).await;

    let (status, body, _) = server.post(COMPARE, None).await;
    assert_eq!(status, 200, "{body}");
    let before = body["data"].clone();
    assert!(
        before["compare"]["entries"][0]["value"].is_number(),
        "{body}"
    );
    assert_eq!(server.get("/readyz").await.0, 200);

    // A worker in this process; the run it claims is still fetching when the database stops.
    let settings = RunnerSettings {
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(100),
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(500),
            max_retry_after: Duration::ZERO,
        },
        countries: vec!["USA".into(), "CHN".into()],
        max_withdrawal_share: techbalance_worker::pipeline::DEFAULT_MAX_WITHDRAWAL_SHARE,
    };
    let runner = Runner::new(
        store.clone(),
        techbalance::sources(&config).expect("sources"),
        settings,
    );
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(runner.run(worker_stop));
    let (run, _) = store.enqueue_manual("worldbank").await.expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the worker did not start the refresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let claimed = store.run(run.id).await.expect("run").expect("exists");
    assert_eq!((claimed.status, claimed.claims), (RunStatus::Running, 1));

    // The outage.
    let stopping = Instant::now();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop("fast");
        cluster
    })
    .await
    .expect("stop the cluster");
    let outage_began = Instant::now();
    eprintln!(
        "PostgreSQL stopped (pg_ctl -m fast) in {:?}",
        stopping.elapsed()
    );

    let (status, body, took) = server.post(COMPARE, None).await;
    assert_eq!(status, 503, "{body}");
    assert_unavailable(&body, "compare");
    let limit = Duration::from_secs(DB_TIMEOUT_SECS + 3);
    assert!(took < limit, "SERVICE_UNAVAILABLE took {took:?}");
    eprintln!("query during the outage: 503 SERVICE_UNAVAILABLE in {took:?}");

    let (status, body, took) = server.post(BROAD, None).await;
    assert_eq!(status, 503, "{body}");
    assert_unavailable(&body, "broad query");
    assert!(took < limit, "{took:?}");
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .header("accept", "application/graphql-response+json")
        .header("x-request-id", "during-the-outage")
        .json(&json!({ "query": COMPARE }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503, "whichever media type is asked for");
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.expect("JSON body");
    assert_unavailable(&body, "compare as graphql-response+json");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        "during-the-outage"
    );
    let mutation = r#"mutation { triggerRefresh(source: "baseline") { id } }"#;
    let (status, body, _) = server.post(mutation, Some(&token)).await;
    assert_eq!(status, 503, "{body}");
    assert_unavailable(&body, "mutation");

    let (status, body, took) = server.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let ready: Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(ready["database"], "unreachable", "{body}");
    assert!(took < limit, "{took:?}");
    eprintln!("/readyz during the outage: 503 in {took:?}");
    let (status, _, took) = server.get("/healthz").await;
    assert_eq!(status, 200, "liveness does not depend on the database");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (status, metrics, _) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("\ntechbalance_database_up 0\n"),
        "{metrics}"
    );

    // Let the refresh finish fetching and fail on the missing database.
    while fake.requests() < 7 {
        assert!(
            outage_began.elapsed() < Duration::from_secs(30),
            "the refresh stopped fetching"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2 * DB_TIMEOUT_SECS + 1)).await;
    assert!(!server.task.is_finished(), "the server is still running");
    assert!(!worker.is_finished(), "the worker is still running");

    // The database comes back.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.resume();
        cluster
    })
    .await
    .expect("restart the cluster");
    let restarted = Instant::now();
    eprintln!("outage lasted {:?}", outage_began.elapsed());
    let recovered = loop {
        let (status, body, _) = server.post(COMPARE, None).await;
        if status == 200 {
            break body;
        }
        assert_unavailable(&body, "compare while recovering");
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "queries did not recover within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "queries answered again {:?} after the restart",
        restarted.elapsed()
    );
    assert!(recovered.get("errors").is_none(), "{recovered}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "/readyz did not turn 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "/readyz 200 again {:?} after the restart",
        restarted.elapsed()
    );

    // The interrupted refresh is taken up again and completes, once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let current = store.run(run.id).await.expect("run").expect("exists");
        if current.status == RunStatus::Succeeded {
            break current;
        }
        assert!(
            Instant::now() < deadline,
            "the interrupted run did not succeed after the restart: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "the interrupted run succeeded {:?} after the restart (attempt {}, claims {})",
        restarted.elapsed(),
        done.attempt,
        done.claims
    );
    assert_eq!(
        done.claims, 2,
        "claimed before the outage, then again after it: {done:?}"
    );
    assert!(
        (1..=2).contains(&done.attempt),
        "retried by its lease or its retry policy, not given up: {done:?}"
    );
    assert_eq!(done.inserted, 6, "{done:?}");
    let runs = refresh_run::Entity::find()
        .filter(refresh_run::Column::Source.eq("worldbank"))
        .all(store.connection())
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "no second run was made: {runs:?}");
    let rows = worldbank_rows(&store).await;
    assert_eq!(rows.len(), 6, "each figure recorded once, nothing partial");
    assert!(rows
        .iter()
        .all(|r| r.recorded_to.is_none() && r.run_id == Some(run.id)));
    let (status, body, _) = server.post(COMPARE, None).await;
    assert_eq!(status, 200);
    assert_ne!(body["data"], Value::Null);

    stop_worker.send(true).expect("stop the worker");
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops")
        .expect("the worker did not panic");
    assert!(!server.task.is_finished(), "the server never stopped");
    server.task.abort();
    drop(cluster);
}
