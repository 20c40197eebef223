//! Graceful shutdown of the real binary: on SIGTERM or SIGINT it stops accepting connections,
//! lets in-flight requests and the current refresh finish within the grace period, puts a
//! refresh that outlasts it back in the queue, and exits 0.

use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
use crate::support::{Backend, TestDb};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use techbalance_store::entities::{observation, refresh_run};
use techbalance_store::runs::RunStatus;
use techbalance_store::{ConnectionSettings, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `techbalance serve` process on a free port, its log in a file; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `techbalance serve` on `db` with `vars` and waits until it answers `/healthz`.
    pub(crate) async fn start(db: &TestDb, name: &str, vars: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("tb-serve-{}-{name}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_techbalance"));
        for (variable, _) in std::env::vars() {
            if variable.starts_with("TECHBALANCE_") || variable.starts_with("OTEL_") {
                command.env_remove(variable);
            }
        }
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", &db.url)
            .env("TECHBALANCE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        for (key, value) in vars {
            command.env(key, value);
        }
        let server = Self {
            child: command.spawn().expect("start techbalance serve"),
            port,
            log,
        };
        server.wait_until_serving().await;
        server
    }

    async fn wait_until_serving(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(self.url("/healthz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not answer /healthz within 60 s\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends a signal (`TERM`, `INT`) with `kill`.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, for at most `limit`.
    pub(crate) async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {limit:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether a new TCP connection to `port` is refused.
async fn refuses_connections(port: u16) -> bool {
    matches!(
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// The test's own handle on the server's database.
async fn store(db: &TestDb) -> Store {
    Store::connect(&ConnectionSettings {
        url: db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    })
    .await
    .expect("connect to the server's database")
}

async fn wait_for_status(store: &Store, run: i64, status: RunStatus, server: &ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = store.run(run).await.expect("run").expect("exists");
        if current.status == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} did not become {status:?} within 30 s: {current:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A World Bank release with six figures, served at 400 ms a response: a refresh (seven
/// indicators, one request each) takes about 2.8 s.
async fn slow_worldbank() -> FakeWorldBank {
    let mut vintage = Vintage::new("2025-07-01");
    for year in 2020..=2022 {
        vintage = vintage
            .with(
                "GB.XPD.RSDV.GD.ZS",
                "USA",
                year,
                Some(3.4 + f64::from(year - 2020) / 10.0),
            )
            .with(
                "GB.XPD.RSDV.GD.ZS",
                "CHN",
                year,
                Some(2.4 + f64::from(year - 2020) / 10.0),
            );
    }
    let fake = FakeWorldBank::start(vintage).await;
    fake.fail(Failure::Slow);
    fake
}

/// A `serve` process on `db` (shutdown grace `grace_secs`) whose worker is running a refresh of
/// [`slow_worldbank`], enqueued by hand; the fake World Bank lives as long as the first value.
async fn refreshing(
    db: &TestDb,
    name: &str,
    grace_secs: &str,
) -> (FakeWorldBank, ServerProcess, Store, refresh_run::Model) {
    let fake = slow_worldbank().await;
    let url = fake.url();
    let server = ServerProcess::start(
        db,
        name,
        &[
            ("TECHBALANCE_WORLDBANK_URL", url.as_str()),
            ("TECHBALANCE_WORKER_POLL_MS", "50"),
            ("TECHBALANCE_SHUTDOWN_GRACE_SECS", grace_secs),
        ],
    )
    .await;
    let store = store(db).await;
    let (run, _) = store.enqueue_manual("worldbank").await.expect("enqueue");
    wait_for_status(&store, run.id, RunStatus::Running, &server).await;
    (fake, server, store, run)
}

async fn worldbank_observations(store: &Store) -> usize {
    observation::Entity::find()
        .filter(observation::Column::Source.eq("worldbank"))
        .all(store.connection())
        .await
        .expect("observations")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_refuses_connections_and_exits_zero() {
    let db = TestDb::seeded(Backend::Sqlite).await;
    let mut server = ServerProcess::start(&db, "in-flight", &[]).await;

    // A request whose body is still arriving when the signal comes: it is in flight.
    let body = r#"{"query":"{ country(code: \"cn\") { name } }"}"#;
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        refuses_connections(server.port).await,
        "new connections are refused once shutdown has begun\n{}",
        server.log()
    );

    stream.write_all(rest.as_bytes()).await.expect("send rest");
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the in-flight request is answered")
    .expect("read the response");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the in-flight request completes: {response}"
    );
    assert!(response.contains(r#""name":"China""#), "{response}");

    let status = server.exit_within(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status\n{}", server.log());
    assert!(server.log().contains("shutting down"), "{}", server.log());
    eprintln!("in-flight request answered; exited 0 {took:?} after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_lets_the_running_refresh_finish_and_exits_zero() {
    let db = TestDb::seeded(Backend::Sqlite).await;
    let (_fake, mut server, store, run) = refreshing(&db, "refresh-finishes", "20").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signalled = Instant::now();
    server.signal("INT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        refuses_connections(server.port).await,
        "the API stops accepting while the refresh finishes\n{}",
        server.log()
    );
    let status = server.exit_within(Duration::from_secs(20)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status\n{}", server.log());

    let done = store.run(run.id).await.expect("run").expect("exists");
    assert_eq!(
        (done.status, done.attempt, done.inserted),
        (RunStatus::Succeeded, 1, 6),
        "the refresh finished before the process exited: {done:?}\n{}",
        server.log()
    );
    assert_eq!(worldbank_observations(&store).await, 6);
    eprintln!("the running refresh finished; exited 0 {took:?} after SIGINT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_outlasting_the_grace_period_is_put_back_in_the_queue() {
    let db = TestDb::seeded(Backend::Sqlite).await;
    let (_fake, mut server, store, run) = refreshing(&db, "refresh-released", "1").await;

    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.exit_within(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status\n{}", server.log());
    assert!(
        took < Duration::from_secs(4),
        "exits soon after the 1 s grace period, not after the refresh: {took:?}"
    );

    let released = store.run(run.id).await.expect("run").expect("exists");
    assert_eq!(
        (released.status, released.attempt, released.claims),
        (RunStatus::Queued, 2, 1),
        "the interrupted run is queued again: {released:?}\n{}",
        server.log()
    );
    assert!(
        released
            .error
            .as_deref()
            .is_some_and(|e| e.contains("shut down")),
        "{released:?}"
    );
    assert!(
        released
            .not_before
            .is_none_or(|t| t <= techbalance_store::now()),
        "due at once: {released:?}"
    );
    assert_eq!(
        worldbank_observations(&store).await,
        0,
        "nothing of the interrupted run was recorded"
    );
    eprintln!("refresh released to the queue; exited 0 {took:?} after SIGTERM (grace 1 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlasting_the_grace_period_is_cut_off_and_the_process_still_exits_zero() {
    let db = TestDb::seeded(Backend::Sqlite).await;
    let mut server = ServerProcess::start(
        &db,
        "request-cut-off",
        &[("TECHBALANCE_SHUTDOWN_GRACE_SECS", "1")],
    )
    .await;
    // A client that announces a body and never sends it.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let head = "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"query\":";
    stream.write_all(head.as_bytes()).await.expect("send head");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.exit_within(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status\n{}", server.log());
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&took),
        "the request had its 1 s grace period, no more: {took:?}"
    );
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the connection is closed");
    assert!(
        read.is_err() || rest.is_empty(),
        "no answer to a request cut off: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        server.log().contains("grace period over"),
        "{}",
        server.log()
    );
    eprintln!("a stalled request was cut off; exited 0 {took:?} after SIGTERM (grace 1 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_ends_sse_and_websocket_subscriptions_at_once_instead_of_waiting_out_the_grace() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::Message;

    const SUBSCRIPTION: &str = "subscription { dataChanged { version } }";
    let db = TestDb::seeded(Backend::Sqlite).await;
    // A grace far longer than the test may take: ending the streams must not wait for it.
    let mut server = ServerProcess::start(
        &db,
        "subscribers",
        &[("TECHBALANCE_SHUTDOWN_GRACE_SECS", "600")],
    )
    .await;

    let mut events = reqwest::Client::new()
        .post(server.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&serde_json::json!({ "query": SUBSCRIPTION }))
        .send()
        .await
        .expect("SSE subscription");
    assert_eq!(events.status(), 200);

    let mut request = format!("ws://127.0.0.1:{}/graphql", server.port)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    for message in [
        serde_json::json!({ "type": "connection_init" }),
        serde_json::json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }
    // Both subscriptions are open once the server counts them.
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        if metrics
            .lines()
            .any(|line| line == "techbalance_graphql_open_subscriptions 2")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions not open:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    server.signal("INT");

    // The SSE client is told the stream is complete, and the stream ends. (Keep-alive comments
    // arrive every 15 s: the deadline is for the whole read.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut body = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .unwrap_or_else(|_| panic!("the event stream did not end within 40 s: {body}"))
            .expect("read the event stream");
        match chunk {
            Some(bytes) => body.push_str(&String::from_utf8_lossy(&bytes)),
            None => break,
        }
    }
    assert!(body.contains("event: complete"), "{body}");
    // The WebSocket client gets 1001 (going away).
    let code = loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .expect("closed within 60 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(Message::Close(None))) | None => break 0,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket error before a close frame: {e}"),
        }
    };
    assert_eq!(code, 1001);
    drop(socket);
    // And the process exits without waiting out its 600 s grace.
    let status = server.exit_within(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(0), "exit status\n{}", server.log());
    assert!(
        !server.log().contains("grace period over"),
        "{}",
        server.log()
    );
}
