//! The response cache (README "Response cache"): hits and misses, invalidation by a refresh in
//! this process and in another one, `ETag` / `304`, its memory bound, single flight, and
//! answers that stay correct while refreshes commit.

use crate::both_backends;
use crate::fake_worldbank::{FakeWorldBank, Vintage};
use crate::support::{Backend, TestApp};
use futures_util::stream::{self, StreamExt as _};
use reqwest::header;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const RD: &str = "GB.XPD.RSDV.GD.ZS";
const VALUE: &str = r#"{ observations(metric: "rd_intensity", source: "worldbank") { country { code } year value } }"#;
/// The same query, laid out differently (the cache normalises layout and comments).
const VALUE_RELAID: &str = "{observations(metric:\"rd_intensity\",source:\"worldbank\"){country{code},year,value}} # again";

both_backends!(
    a_repeated_query_is_answered_from_the_cache_until_a_refresh_changes_the_data,
    a_refresh_in_a_third_process_reaches_both_api_processes_before_their_next_answer,
    the_cache_stays_within_its_bound_under_10000_distinct_queries,
    answers_stay_current_while_refreshes_commit,
    thirty_two_concurrent_dashboards_get_no_errors,
);

fn vintage(usa: f64) -> Vintage {
    Vintage::new("2026-01-01")
        .with(RD, "USA", 2024, Some(usa))
        .with(RD, "CHN", 2024, Some(2.68))
}

/// USA's 2024 value in an answer to [`VALUE`].
fn usa_2024(body: &Value) -> Option<f64> {
    body["data"]["observations"]
        .as_array()?
        .iter()
        .find(|row| row["country"]["code"] == "USA" && row["year"] == 2024)?["value"]
        .as_f64()
}

/// A sample of the server's `/metrics` (0 when absent).
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A sample of the response cache's metrics in `app`'s `/metrics`.
async fn stat(app: &TestApp, name: &str) -> f64 {
    let name = format!("techbalance_response_cache_{name}");
    metric(app.client(), &app.url(""), &name).await
}

/// Waits until a refresh's last notices (its progress, which PostgreSQL delivers after the
/// commit) have arrived: until a repeated query is answered from the cache.
async fn settle(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        app.data("{ metrics { slug } }").await;
        let hits = stat(app, "hits_total").await;
        app.data("{ metrics { slug } }").await;
        if stat(app, "hits_total").await > hits {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the data version kept changing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refresh_in_process(app: &TestApp, fake: &FakeWorldBank) {
    let config = app
        .db
        .config_with(&[("TECHBALANCE_WORLDBANK_URL", fake.url().as_str())]);
    let sources = techbalance::sources(&config).expect("sources");
    let worldbank = sources
        .iter()
        .find(|s| s.id() == "worldbank")
        .expect("worldbank source");
    techbalance::refresh(&app.store, &config, worldbank.as_ref(), &|_| {})
        .await
        .expect("refresh");
}

async fn a_repeated_query_is_answered_from_the_cache_until_a_refresh_changes_the_data(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    let fake = FakeWorldBank::start(vintage(3.45)).await;
    refresh_in_process(&app, &fake).await;
    settle(&app).await;
    let (hits, misses) = (
        stat(&app, "hits_total").await,
        stat(&app, "misses_total").await,
    );

    let first = app.post(VALUE, json!({})).await;
    assert_eq!(usa_2024(&first), Some(3.45));
    assert_eq!(
        (
            stat(&app, "hits_total").await,
            stat(&app, "misses_total").await
        ),
        (hits, misses + 1.0)
    );
    assert_eq!(stat(&app, "entries").await, 2.0);
    // The same document laid out differently: the same answer, from the cache.
    let again = app.post(VALUE_RELAID, json!({})).await;
    assert_eq!(again, first);
    assert_eq!(
        (
            stat(&app, "hits_total").await,
            stat(&app, "misses_total").await
        ),
        (hits + 1.0, misses + 1.0)
    );
    // Another operator role is another key.
    let token = app.token("reader").await;
    assert_eq!(usa_2024(&app.post_as(&token, VALUE).await), Some(3.45));
    assert_eq!(stat(&app, "misses_total").await, misses + 2.0);

    // GET: an ETag and Cache-Control; If-None-Match with it is a 304 without a body.
    let get = |etag: Option<String>| {
        let mut request = app
            .client()
            .get(app.url("/graphql"))
            .query(&[("query", VALUE)])
            .header(header::ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        request.send()
    };
    let answered = get(None).await.expect("GET");
    assert_eq!(answered.status(), 200);
    assert_eq!(
        answered.headers()[header::CACHE_CONTROL],
        "public, no-cache"
    );
    let etag = answered.headers()[header::ETAG]
        .to_str()
        .expect("etag")
        .to_owned();
    assert_eq!(usa_2024(&answered.json().await.expect("JSON")), Some(3.45));
    let revalidated = get(Some(etag.clone())).await.expect("GET");
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()[header::ETAG], etag.as_str());
    assert!(revalidated.bytes().await.expect("body").is_empty());

    // Gzip when accepted: the compressed answer is kept as another entry.
    let zipped = app
        .client()
        .post(app.url("/graphql"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .json(&json!({ "query": VALUE }))
        .send()
        .await
        .expect("POST gzip");
    assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
    let compressed = zipped.bytes().await.expect("body");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut text,
    )
    .expect("gzip body");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), first);

    // A refresh changes the value: the next answer has it, and the old tag no longer matches.
    fake.publish(vintage(3.61));
    refresh_in_process(&app, &fake).await;
    settle(&app).await;
    let misses = stat(&app, "misses_total").await;
    assert_eq!(usa_2024(&app.post(VALUE, json!({})).await), Some(3.61));
    assert_eq!(stat(&app, "misses_total").await, misses + 1.0);
    let after = get(Some(etag.clone())).await.expect("GET");
    assert_eq!(after.status(), 200);
    assert_ne!(after.headers()[header::ETAG], etag.as_str());
    assert_eq!(usa_2024(&after.json().await.expect("JSON")), Some(3.61));

    // Answers with errors are not kept.
    let entries = stat(&app, "entries").await;
    let refused = app.post("{ nosuchfield }", json!({})).await;
    assert!(refused.get("errors").is_some());
    assert!(stat(&app, "entries").await <= entries);
}

/// A `techbalance serve --no-worker` of its own.
struct ApiProcess {
    child: Child,
    base: String,
}

impl ApiProcess {
    async fn start(url: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_techbalance"))
            .args([
                "serve",
                "--no-worker",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .env("DATABASE_URL", url)
            .env("TECHBALANCE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start techbalance serve");
        let process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(format!("{}/readyz", process.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return process;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "techbalance serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ask(&self, client: &reqwest::Client) -> Value {
        client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": VALUE }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn a_refresh_in_a_third_process_reaches_both_api_processes_before_their_next_answer(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    let fake = FakeWorldBank::start(vintage(3.45)).await;
    refresh_in_process(&app, &fake).await;
    let client = reqwest::Client::new();
    let apis = [
        ApiProcess::start(&app.db.url).await,
        ApiProcess::start(&app.db.url).await,
    ];
    for api in &apis {
        assert_eq!(usa_2024(&api.ask(&client).await), Some(3.45));
        assert_eq!(usa_2024(&api.ask(&client).await), Some(3.45));
        let hits = metric(&client, &api.base, "techbalance_response_cache_hits_total").await;
        assert_eq!(hits, 1.0, "the second answer came from the cache");
    }

    fake.publish(vintage(3.61));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["refresh", "worldbank"])
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_WORLDBANK_URL", fake.url())
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .await
        .expect("run techbalance refresh");
    assert!(
        output.status.success(),
        "refresh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if backend == Backend::Sqlite {
        // A SQLite server reads other processes' notices four times a second: wait for them.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    for api in &apis {
        assert_eq!(usa_2024(&api.ask(&client).await), Some(3.61));
    }
}

async fn the_cache_stays_within_its_bound_under_10000_distinct_queries(backend: Backend) {
    const BOUND: f64 = 65_536.0;
    let app = TestApp::builder(backend)
        .with_vars(&[
            ("TECHBALANCE_RESPONSE_CACHE_BYTES", "65536"),
            // Every request comes from one address.
            ("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0"),
        ])
        .start()
        .await;
    let base = app.url("");
    let mut most = 0.0f64;
    for chunk in 0..10 {
        let answers: Vec<Value> = stream::iter(0..1000)
            .map(|i| {
                let query = format!("{{ q{}: __typename }}", chunk * 1000 + i);
                let app = &app;
                async move { app.post(&query, json!({})).await }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        assert!(answers.iter().all(|a| a.get("errors").is_none()));
        let bytes = metric(app.client(), &base, "techbalance_response_cache_bytes").await;
        assert!(bytes <= BOUND, "{bytes} bytes held, bound {BOUND}");
        most = most.max(bytes);
    }
    let entries = metric(app.client(), &base, "techbalance_response_cache_entries").await;
    let misses = metric(
        app.client(),
        &base,
        "techbalance_response_cache_misses_total",
    )
    .await;
    assert_eq!(misses, 10_000.0);
    assert!(
        entries > 0.0 && entries < 10_000.0,
        "{entries} entries: the least recently used were evicted"
    );
    assert!(
        most > BOUND / 2.0,
        "the cache was used: {most} bytes at most"
    );
}

async fn answers_stay_current_while_refreshes_commit(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0")])
        .start()
        .await;
    let fake = FakeWorldBank::start(vintage(1.0)).await;
    refresh_in_process(&app, &fake).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    // Readers ask the same query over and over while the refreshes commit; each sees the
    // values in the order they were recorded, never an older one after a newer.
    let reader = || async {
        let mut seen = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let value = usa_2024(&app.post(VALUE, json!({})).await).expect("value");
            seen.push(value);
        }
        seen
    };
    let writer = async {
        for round in 2..=8 {
            let value = f64::from(round);
            fake.publish(vintage(value));
            refresh_in_process(&app, &fake).await;
            // Right after the commit, this process answers the new value.
            assert_eq!(usa_2024(&app.post(VALUE, json!({})).await), Some(value));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (seen_a, seen_b, seen_c, ()) = tokio::join!(reader(), reader(), reader(), writer);
    for seen in [seen_a, seen_b, seen_c] {
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "an older value after a newer one: {seen:?}"
        );
        assert!(seen.iter().all(|v| (1.0..=8.0).contains(v)));
    }
    let hits = metric(
        app.client(),
        &app.url(""),
        "techbalance_response_cache_hits_total",
    )
    .await;
    assert!(hits > 0.0, "the readers were answered from the cache too");
}

async fn thirty_two_concurrent_dashboards_get_no_errors(backend: Backend) {
    // Without the cache and with a pool of 3: requests queue for their turn, not for a
    // connection, so none waits for a connection past the pool's 3 s timeout.
    let app = TestApp::builder(backend)
        .with_vars(&[
            ("TECHBALANCE_RESPONSE_CACHE_BYTES", "0"),
            ("TECHBALANCE_DB_MAX_CONNECTIONS", "3"),
        ])
        .start()
        .await;
    let dashboard = crate::dashboard::DASHBOARD;
    let answers: Vec<Value> = stream::iter(0..32)
        .map(|_| app.post(dashboard, json!({})))
        .buffer_unordered(32)
        .collect()
        .await;
    let errors: Vec<&Value> = answers.iter().filter_map(|a| a.get("errors")).collect();
    assert!(errors.is_empty(), "errors: {errors:?}");
    assert!(answers.iter().all(|a| a["data"]["metrics"]
        .as_array()
        .is_some_and(|m| !m.is_empty())));
}

/// Identical requests that arrive while the first is executing wait for its answer: with the
/// countries table locked, the first execution stalls, 31 identical requests queue behind it,
/// and once the lock is released all 32 get the one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_requests_execute_once() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::builder(Backend::Postgres).start().await;
    let lock = sea_orm::Database::connect(&app.db.url)
        .await
        .expect("connect");
    let held = lock.begin().await.expect("begin");
    // `/metrics` does not read countries; the query does (its `country { code }`).
    held.execute_unprepared("LOCK TABLE countries IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let requests = stream::iter(0..32)
        .map(|_| app.post(VALUE, json!({})))
        .buffer_unordered(32)
        .collect::<Vec<Value>>();
    let release = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while stat(&app, "misses_total").await < 32.0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the 32 requests did not all arrive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        held.rollback().await.expect("unlock");
    };
    let (answers, ()) = tokio::join!(requests, release);
    assert!(answers
        .iter()
        .all(|a| a == &answers[0] && a.get("errors").is_none()));
    assert_eq!(
        stat(&app, "coalesced_total").await,
        31.0,
        "31 waited for the first"
    );
    assert_eq!(stat(&app, "hits_total").await, 0.0);
    // And the answer was kept: the next one is a hit.
    assert_eq!(app.post(VALUE, json!({})).await, answers[0]);
    assert_eq!(stat(&app, "hits_total").await, 1.0);
}
