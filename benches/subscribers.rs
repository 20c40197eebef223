//! Subscription benchmark: 10,000 concurrent graphql-transport-ws subscribers of one server
//! process, and one refresh that revises 100 values of one metric.
//!
//! The server is the release binary (`techbalance serve --no-worker`) in a process of its own, over
//! a throwaway PostgreSQL database; the clients live in this process. Two scenarios run on the same
//! connections:
//!
//! - **A, broadcast**: every client subscribes to `observationRevised(metric:)` and receives all
//!   100 revisions (1,000,000 messages in all);
//! - **B, spread**: each client subscribes to one of the 100 countries (`countries: [code]`) and
//!   receives exactly one revision (10,000 messages in all).
//!
//! For each, the revisions are recorded in one transaction; the commit instant (t0) is taken right
//! after `commit_and_announce` returns, and each client timestamps the receipt of its last
//! expected message. Before the scenarios, with every subscription open and idle, it measures the
//! server's resident memory (`VmRSS`) per subscriber and its CPU over an idle period (keep-alive
//! pings at the server's default interval, 15 s).
//!
//! ```text
//! cargo bench --bench subscribers                                # 10,000 clients, 30 s idle
//! cargo bench --bench subscribers -- --clients 1000 --idle-secs 5  # a quick run
//! ```
//!
//! Cargo builds the server binary (`target/release/techbalance`, bench profile) before the bench;
//! `TECHBALANCE_BENCH_SERVER=/path/to/techbalance` runs another build instead. The server inherits
//! the environment, so `TECHBALANCE_WS_*` settings can be tried without rebuilding.
//!
//! The server's default rate limit (a burst of 100 upgrades per client address) is left on: the
//! clients connect from 100 loopback addresses (127.0.1.1–127.0.1.100), 100 connections each, as
//! subscribers from many hosts would. Connections open 500 at a time; subscriptions are then sent
//! 500 at a time, each batch open on the server (and the server quiet) before the next, because
//! 10,000 at once exhaust the server's database pool with their argument lookups.

use anyhow::{bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use techbalance::config::Config;
use techbalance_store::changes::Notice;
use techbalance_store::entities::{country, source};
use techbalance_store::record::{Batch, Point, Scope};
use techbalance_store::reference::ReferenceData;
use techbalance_store::runs::{RunResult, RunTrigger};
use techbalance_store::Store;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[path = "../tests/shared/database_url.rs"]
mod database_url;
use database_url::replace_database;

const SERVER_VARIABLE: &str = "TECHBALANCE_BENCH_SERVER";
const METRIC: &str = "rd_intensity";
const SOURCE: &str = "synthetic";
const YEAR: i32 = 2023;
/// Synthetic countries, one revised value each per refresh.
const COUNTRIES: usize = 100;
/// Client connections per loopback source address: the server's default rate-limit burst.
const PER_ADDRESS: usize = 100;
/// Clients connecting at once while ramping up.
const RAMP_BATCH: usize = 500;
/// The server's default keep-alive (`TECHBALANCE_WS_KEEPALIVE_MS`), for the report.
const DEFAULT_KEEPALIVE: &str = "15 s (default)";
/// Longest a scenario may take before the missing deliveries are reported.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);
/// After everyone got everything: how long to wait for messages that should not come.
const QUIET: Duration = Duration::from_secs(2);
/// Linux reports process times in ticks of 1/100 s (`getconf CLK_TCK`).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Debug)]
struct Options {
    clients: usize,
    idle: Duration,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Options {
            clients: 10_000,
            idle: Duration::from_secs(30),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value =
                |name: &str| args.next().with_context(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--clients" => options.clients = value("--clients")?.parse()?,
                "--idle-secs" => options.idle = Duration::from_secs(value("--idle-secs")?.parse()?),
                // `cargo bench` passes `--bench`; filters are not used.
                "--bench" => {}
                other => bail!("unknown argument {other} (use --clients N, --idle-secs S)"),
            }
        }
        if options.clients == 0 || options.clients > COUNTRIES * PER_ADDRESS * 2 {
            bail!(
                "--clients must be between 1 and {}",
                COUNTRIES * PER_ADDRESS * 2
            );
        }
        Ok(options)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = async {
        let options = Options::parse()?;
        let database = ThrowawayDb::create().await?;
        let outcome = run(&options, &database).await;
        database.drop_database().await;
        outcome
    }
    .await;
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("subscribers bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything, in order; the server and the clients are gone when it returns.
async fn run(options: &Options, database: &ThrowawayDb) -> anyhow::Result<String> {
    let n = options.clients;
    let mut report = Report::new(options);

    // Setup.
    let store = prepare(&database.url).await?;
    let codes = country_codes();

    // Server.
    let server = Server::start(&database.url).await?;
    report.machine("server started", &server);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib()?;

    // Clients: connect (each acknowledged), then subscribe, all idle.
    let began = Instant::now();
    let clients = Clients::connect(server.addr, n).await?;
    let ramp = began.elapsed();
    report.machine("clients connected", &server);
    server.settle(Duration::from_secs(1)).await?;
    let rss_connected = server.rss_kib()?;
    clients.subscribe(&server, 0, |_| broadcast_query()).await?;
    server.settle(Duration::from_secs(1)).await?;
    server.wait_for_subscriptions(n).await?;
    let rss_subscribed = server.rss_kib()?;
    report.memory(n, ramp, rss_before, rss_connected, rss_subscribed);

    // Idle: keep-alive pings only.
    report.machine("idle measurement", &server);
    let idle_server = server.cpu_seconds()?;
    let idle_clients = cpu_seconds(std::process::id())?;
    tokio::time::sleep(options.idle).await;
    let idle_server = server.cpu_seconds()? - idle_server;
    let idle_clients = cpu_seconds(std::process::id())? - idle_clients;
    report.idle(options.idle, idle_server, idle_clients, clients.pings());

    // Scenario A: every client gets all 100 revisions.
    report.machine("scenario A", &server);
    let a = scenario(&store, &server, &clients, &codes, 0, 2.5, COUNTRIES as u32).await?;
    report.scenario("A: all 100 revisions to every client", n, COUNTRIES, &a);
    report.rss_after("A", server.rss_kib()?);

    // Scenario B: clients spread over the 100 countries, one revision each.
    clients.complete(0);
    server.wait_for_subscriptions(0).await?;
    clients
        .subscribe(&server, 1, |i| country_query(&codes[i % COUNTRIES]))
        .await?;
    server.settle(Duration::from_secs(1)).await?;
    server.wait_for_subscriptions(n).await?;
    report.machine("scenario B", &server);
    let b = scenario(&store, &server, &clients, &codes, 1, 3.5, 1).await?;
    report.scenario(
        "B: 1 revision to each client (spread over 100 countries)",
        n,
        1,
        &b,
    );
    report.rss_after("B", server.rss_kib()?);

    drop(clients);
    drop(server);
    store.connection().clone().close().await.ok();
    let failures = a.failures.len() + b.failures.len();
    let text = report.render();
    if failures > 0 {
        eprintln!("{text}");
        bail!("{failures} deliveries were wrong (see above)");
    }
    Ok(text)
}

// ---------------------------------------------------------------------------------------------
// Setup: a throwaway database, migrated, seeded, with 100 synthetic countries
// ---------------------------------------------------------------------------------------------

struct ThrowawayDb {
    admin_url: String,
    name: String,
    url: String,
}

impl ThrowawayDb {
    async fn create() -> anyhow::Result<Self> {
        let admin_url = techbalance_test_postgres::admin_url().map_err(anyhow::Error::msg)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("tb_bench_subscribers_{}_{nanos}", std::process::id());
        let admin = Database::connect(&admin_url)
            .await
            .context("the bench PostgreSQL server does not connect")?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .context("create the bench database")?;
        admin.close().await.ok();
        let url = replace_database(&admin_url, &name);
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }

    async fn drop_database(self) {
        if let Ok(admin) = Database::connect(&self.admin_url).await {
            let dropped = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
            if let Err(e) = dropped {
                eprintln!("could not drop the bench database {}: {e}", self.name);
            }
            admin.close().await.ok();
        }
    }
}

/// ZAA, ZAB, … ZDV: codes no real country has.
fn country_codes() -> Vec<String> {
    (0..COUNTRIES)
        .map(|i| {
            format!(
                "Z{}{}",
                (b'A' + (i / 26) as u8) as char,
                (b'A' + (i % 26) as u8) as char
            )
        })
        .collect()
}

/// Migrates and seeds the database, and gives each synthetic country a first value of METRIC.
async fn prepare(url: &str) -> anyhow::Result<Store> {
    let url = url.to_owned();
    let config = Config::from_lookup(move |name| (name == "DATABASE_URL").then(|| url.clone()))?;
    let store = techbalance::open_store(&config).await?;
    techbalance::seed_if_empty(&store, &config).await?;
    let codes = country_codes();
    let reference = ReferenceData {
        sources: vec![source::Model {
            id: SOURCE.into(),
            name: "Synthetic benchmark source".into(),
            homepage: "https://example.org/".into(),
            terms: "benchmark data".into(),
        }],
        countries: codes
            .iter()
            .enumerate()
            .map(|(i, code)| country::Model {
                code: code.clone(),
                // A0 … J9: two characters no real country's code collides with.
                iso2: format!("{}{}", (b'A' + (i / 10) as u8) as char, i % 10),
                name: format!("Country {code}"),
                flag: "🏳".into(),
                kind: country::CountryKind::Country,
            })
            .collect(),
        ..ReferenceData::default()
    };
    store.upsert_reference_data(&reference).await?;
    store
        .record(&batch(&codes, 1.0), techbalance_store::now())
        .await?;
    Ok(store)
}

/// METRIC of every synthetic country in YEAR, all set to `value`.
fn batch(codes: &[String], value: f64) -> Batch {
    Batch {
        source: SOURCE.into(),
        release: None,
        scope: Scope {
            metrics: vec![METRIC.into()],
            countries: Some(codes.to_vec()),
            years: None,
        },
        points: codes
            .iter()
            .map(|code| Point {
                metric: METRIC.into(),
                country: code.clone(),
                year: YEAR,
                value,
                qualifier: None,
                citation: None,
            })
            .collect(),
    }
}

/// Records one refresh run revising every synthetic country's value to `value`, in one
/// transaction, as the worker does; returns the instant right after the commit.
async fn revise(store: &Store, codes: &[String], value: f64) -> anyhow::Result<Instant> {
    let run = store
        .start_run(SOURCE, RunTrigger::Manual, "bench", Duration::from_secs(60))
        .await?;
    let txn = store.begin().await?;
    let now = techbalance_store::now();
    let summary =
        techbalance_store::record::record_batch(&txn, &batch(codes, value), now, Some(run.id))
            .await?;
    if summary.revised != codes.len() as u64 {
        bail!("expected {} revisions, recorded {summary:?}", codes.len());
    }
    let result = RunResult {
        summary,
        ..Default::default()
    };
    techbalance_store::runs::complete_run(&txn, run.id, "bench", &result, now).await?;
    store
        .commit_and_announce(
            txn,
            &[
                Notice::Run { run: run.id },
                Notice::Recorded { run: run.id },
            ],
        )
        .await?;
    Ok(Instant::now())
}

// ---------------------------------------------------------------------------------------------
// Server: the release binary in its own process
// ---------------------------------------------------------------------------------------------

struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Server {
    async fn start(database_url: &str) -> anyhow::Result<Self> {
        let binary = std::env::var(SERVER_VARIABLE)
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_techbalance").to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(&binary)
            .args(["serve", "--no-worker", "--bind", &addr.to_string()])
            .env("DATABASE_URL", database_url)
            .env(
                "TECHBALANCE_LOG",
                std::env::var("TECHBALANCE_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {binary}"))?;
        let pid = child.id();
        let server = Server {
            child,
            pid,
            addr,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = server.http.get(server.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("the server at {addr} was not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }

    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid)
    }

    fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid)).map_or(0, Iterator::count)
    }

    /// `techbalance_graphql_open_subscriptions` from `/metrics`.
    async fn open_subscriptions(&self) -> anyhow::Result<usize> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix("techbalance_graphql_open_subscriptions "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as usize)
            .context("no techbalance_graphql_open_subscriptions in /metrics")
    }

    async fn wait_for_subscriptions(&self, count: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let open = self.open_subscriptions().await?;
            if open == count {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{open} open subscriptions on the server, expected {count}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the server has been quiet (at most 2 ticks of CPU) for `window`: work it was
    /// handed (resolving subscriptions' arguments, say) is done.
    async fn settle(&self, window: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let before = self.cpu_seconds()?;
            tokio::time::sleep(window).await;
            if self.cpu_seconds()? - before <= 0.02 || Instant::now() > deadline {
                return Ok(());
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let after = stat
        .rsplit_once(')')
        .context("unreadable /proc/<pid>/stat")?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/<pid>/stat")?
            .parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Clients: graphql-transport-ws connections, each a task that counts what it receives
// ---------------------------------------------------------------------------------------------

type Socket = WebSocketStream<TcpStream>;

fn broadcast_query() -> String {
    format!(
        r#"subscription {{ observationRevised(metric: "{METRIC}") {{ year value country {{ code }} }} }}"#
    )
}

fn country_query(code: &str) -> String {
    format!(
        r#"subscription {{ observationRevised(metric: "{METRIC}", countries: ["{code}"]) {{ year value country {{ code }} }} }}"#
    )
}

/// What one client received in the current scenario.
#[derive(Default)]
struct Tally {
    /// `next` messages of the current subscription, with the expected value.
    received: AtomicU32,
    /// Countries seen, as bits of their index (ZAA = 0 … ZDV = 99).
    countries: [AtomicU64; 2],
    /// Anything else: errors, completes, wrong values, a closed socket.
    unexpected: AtomicU32,
    /// Receipt of the first and of the latest `next`, in nanoseconds since `Shared::epoch`.
    first_at: AtomicU64,
    last_at: AtomicU64,
}

/// What every client compares against, set before each scenario.
struct Shared {
    epoch: Instant,
    /// The subscription id in use (`s0`, `s1`, …).
    scenario: AtomicU32,
    expected_value: AtomicU64,
    expected_count: AtomicU32,
    /// Clients that got their expected count.
    done: AtomicUsize,
    /// Keep-alive pings received (all clients).
    pings: AtomicU64,
}

struct Clients {
    commands: Vec<mpsc::UnboundedSender<String>>,
    tallies: Vec<Arc<Tally>>,
    shared: Arc<Shared>,
    /// Dropping it aborts every client.
    _tasks: JoinSet<()>,
}

impl Clients {
    /// Opens `n` connections in batches, each through `connection_init` → `connection_ack`.
    async fn connect(server: SocketAddr, n: usize) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            scenario: AtomicU32::new(0),
            expected_value: AtomicU64::new(0),
            expected_count: AtomicU32::new(u32::MAX),
            done: AtomicUsize::new(0),
            pings: AtomicU64::new(0),
        });
        let mut sockets = Vec::with_capacity(n);
        for start in (0..n).step_by(RAMP_BATCH) {
            let mut batch = JoinSet::new();
            for i in start..(start + RAMP_BATCH).min(n) {
                batch.spawn(async move { (i, open(server, source_address(i)).await) });
            }
            let mut opened: Vec<(usize, Socket)> = Vec::with_capacity(RAMP_BATCH);
            while let Some(joined) = batch.join_next().await {
                let (i, socket) = joined?;
                opened.push((i, socket.with_context(|| format!("client {i}"))?));
            }
            opened.sort_by_key(|(i, _)| *i);
            sockets.extend(opened.into_iter().map(|(_, s)| s));
        }
        let mut tasks = JoinSet::new();
        let mut commands = Vec::with_capacity(n);
        let mut tallies = Vec::with_capacity(n);
        for socket in sockets {
            let (sender, receiver) = mpsc::unbounded_channel();
            let tally = Arc::new(Tally::default());
            tasks.spawn(client(socket, receiver, tally.clone(), shared.clone()));
            commands.push(sender);
            tallies.push(tally);
        }
        Ok(Self {
            commands,
            tallies,
            shared,
            _tasks: tasks,
        })
    }

    /// Every client subscribes with id `s<scenario>`, RAMP_BATCH at a time: each batch is open on
    /// the server, and the server quiet again, before the next is sent. (All at once, the
    /// subscriptions' argument lookups queue for the server's database pool and many fail with
    /// "database unavailable" after its 3 s acquire timeout.)
    async fn subscribe(
        &self,
        server: &Server,
        scenario: u32,
        query: impl Fn(usize) -> String,
    ) -> anyhow::Result<()> {
        self.shared.scenario.store(scenario, Ordering::SeqCst);
        for (start, batch) in self.commands.chunks(RAMP_BATCH).enumerate() {
            let start = start * RAMP_BATCH;
            for (i, commands) in batch.iter().enumerate() {
                let message = serde_json::json!({
                    "id": format!("s{scenario}"),
                    "type": "subscribe",
                    "payload": { "query": query(start + i) },
                });
                let _ = commands.send(message.to_string());
            }
            server.wait_for_subscriptions(start + batch.len()).await?;
            server.settle(Duration::from_millis(250)).await?;
        }
        Ok(())
    }

    /// Every client completes its subscription `s<scenario>`.
    fn complete(&self, scenario: u32) {
        let message = serde_json::json!({ "id": format!("s{scenario}"), "type": "complete" });
        for commands in &self.commands {
            let _ = commands.send(message.to_string());
        }
    }

    fn pings(&self) -> u64 {
        self.shared.pings.load(Ordering::SeqCst)
    }

    /// Clears every tally and sets what the next scenario must deliver.
    fn expect(&self, value: f64, count: u32) {
        for tally in &self.tallies {
            tally.received.store(0, Ordering::SeqCst);
            tally.countries[0].store(0, Ordering::SeqCst);
            tally.countries[1].store(0, Ordering::SeqCst);
            tally.unexpected.store(0, Ordering::SeqCst);
            tally.first_at.store(0, Ordering::SeqCst);
            tally.last_at.store(0, Ordering::SeqCst);
        }
        self.shared.done.store(0, Ordering::SeqCst);
        self.shared
            .expected_value
            .store(value.to_bits(), Ordering::SeqCst);
        self.shared.expected_count.store(count, Ordering::SeqCst);
    }
}

/// 127.0.1.1, 127.0.1.2, …: PER_ADDRESS clients each.
fn source_address(client: usize) -> IpAddr {
    let k = client / PER_ADDRESS;
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + (k / 250) as u8,
        1 + (k % 250) as u8,
    ))
}

/// Connects from `source`, asks for graphql-transport-ws and waits for the ack.
async fn open(server: SocketAddr, source: IpAddr) -> anyhow::Result<Socket> {
    let tcp = TcpSocket::new_v4()?;
    tcp.bind(SocketAddr::new(source, 0))?;
    let stream = tcp.connect(server).await?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{server}/graphql").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream).await?;
    socket
        .send(Message::text(r#"{"type":"connection_init"}"#))
        .await?;
    let ack = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .context("no connection_ack within 30 s")?
        .context("closed before connection_ack")??;
    if !ack
        .to_text()
        .is_ok_and(|t| t.contains(r#""connection_ack""#))
    {
        bail!("expected connection_ack, got {ack:?}");
    }
    Ok(socket)
}

/// One client: sends what it is told to, answers pings, and tallies `next` messages.
async fn client(
    mut socket: Socket,
    mut commands: mpsc::UnboundedReceiver<String>,
    tally: Arc<Tally>,
    shared: Arc<Shared>,
) {
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(text) = command else { break };
                if socket.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if tally_text(&text, &tally, &shared) {
                        let pong = Message::text(r#"{"type":"pong"}"#);
                        if socket.send(pong).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Binary(_) | Message::Close(_))) | Some(Err(_)) | None => {
                    tally.unexpected.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            },
        }
    }
}

/// Tallies one text message; true when it is a ping to answer. Reads fields by their text rather
/// than parsing the JSON, to keep the clients' share of the 2 cores small.
fn tally_text(text: &str, tally: &Tally, shared: &Shared) -> bool {
    if text.contains(r#""type":"ping""#) {
        shared.pings.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    let at = shared.epoch.elapsed().as_nanos() as u64;
    let id = format!("s{}", shared.scenario.load(Ordering::Relaxed));
    let expected_value = f64::from_bits(shared.expected_value.load(Ordering::Relaxed));
    let is_next = text.contains(r#""type":"next""#) && field(text, "id") == Some(id.as_str());
    let value = field(text, "value").and_then(|v| v.parse::<f64>().ok());
    let country = field(text, "code").and_then(country_index);
    match (is_next, value, country) {
        (true, Some(value), Some(index)) if value == expected_value => {
            tally.countries[index / 64].fetch_or(1 << (index % 64), Ordering::Relaxed);
            let _ = tally
                .first_at
                .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
            tally.last_at.store(at, Ordering::Relaxed);
            let received = tally.received.fetch_add(1, Ordering::SeqCst) + 1;
            if received == shared.expected_count.load(Ordering::SeqCst) {
                shared.done.fetch_add(1, Ordering::SeqCst);
            }
        }
        _ => {
            tally.unexpected.fetch_add(1, Ordering::SeqCst);
        }
    }
    false
}

/// The text of `"name":` up to the next `,` or `}` (quotes removed): enough for the flat values
/// these messages carry.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":");
    let start = text.find(&key)? + key.len();
    let rest = &text[start..];
    let end = rest.find([',', '}'])?;
    Some(rest[..end].trim().trim_matches('"'))
}

fn country_index(code: &str) -> Option<usize> {
    let b = code.as_bytes();
    if b.len() != 3 || b[0] != b'Z' || !b[1].is_ascii_uppercase() || !b[2].is_ascii_uppercase() {
        return None;
    }
    let index = usize::from(b[1] - b'A') * 26 + usize::from(b[2] - b'A');
    (index < COUNTRIES).then_some(index)
}

// ---------------------------------------------------------------------------------------------
// Scenarios: one refresh, timed from its commit to each client's last expected message
// ---------------------------------------------------------------------------------------------

struct Outcome {
    /// Receipt of the last expected message − t0, for each client that got everything (sorted).
    last: Vec<Duration>,
    /// Receipt of the first message − t0, for each client that got any (sorted).
    first: Vec<Duration>,
    messages: u64,
    complete_clients: usize,
    failures: Vec<String>,
    server_cpu: f64,
    client_cpu: f64,
}

async fn scenario(
    store: &Store,
    server: &Server,
    clients: &Clients,
    codes: &[String],
    index: u32,
    value: f64,
    per_client: u32,
) -> anyhow::Result<Outcome> {
    let n = clients.tallies.len();
    clients.expect(value, per_client);
    let server_cpu = server.cpu_seconds()?;
    let client_cpu = cpu_seconds(std::process::id())?;
    let t0 = revise(store, codes, value).await?;
    let t0_nanos = t0.duration_since(clients.shared.epoch).as_nanos() as u64;
    let deadline = t0 + SCENARIO_TIMEOUT;
    while clients.shared.done.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let server_cpu = server.cpu_seconds()? - server_cpu;
    let client_cpu = cpu_seconds(std::process::id())? - client_cpu;
    tokio::time::sleep(QUIET).await;

    let since_t0 = |nanos: u64| Duration::from_nanos(nanos.saturating_sub(t0_nanos));
    let mut outcome = Outcome {
        last: Vec::with_capacity(n),
        first: Vec::with_capacity(n),
        messages: 0,
        complete_clients: 0,
        failures: Vec::new(),
        server_cpu,
        client_cpu,
    };
    for (i, tally) in clients.tallies.iter().enumerate() {
        let received = tally.received.load(Ordering::SeqCst);
        let unexpected = tally.unexpected.load(Ordering::SeqCst);
        let seen = [
            tally.countries[0].load(Ordering::SeqCst),
            tally.countries[1].load(Ordering::SeqCst),
        ];
        let wanted = if per_client == 1 {
            let c = i % COUNTRIES;
            let mut bits = [0u64; 2];
            bits[c / 64] = 1 << (c % 64);
            bits
        } else {
            [u64::MAX, (1u64 << (COUNTRIES - 64)) - 1]
        };
        outcome.messages += u64::from(received);
        if tally.first_at.load(Ordering::SeqCst) > 0 {
            outcome
                .first
                .push(since_t0(tally.first_at.load(Ordering::SeqCst)));
        }
        if received == per_client && unexpected == 0 && seen == wanted {
            outcome.complete_clients += 1;
            outcome
                .last
                .push(since_t0(tally.last_at.load(Ordering::SeqCst)));
        } else if outcome.failures.len() < 10 {
            outcome.failures.push(format!(
                "scenario {index}, client {i}: {received} of {per_client} expected messages, \
                 {unexpected} unexpected, countries seen {seen:x?}"
            ));
        }
    }
    outcome.last.sort();
    outcome.first.sort();
    Ok(outcome)
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

// ---------------------------------------------------------------------------------------------
// Report: a markdown table
// ---------------------------------------------------------------------------------------------

struct Report {
    clients: usize,
    rows: Vec<[String; 3]>,
    notes: Vec<String>,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    })
}

impl Report {
    fn new(options: &Options) -> Self {
        Self {
            clients: options.clients,
            rows: Vec::new(),
            notes: vec![format!(
                "{} clients, idle period {} s, keep-alive {DEFAULT_KEEPALIVE} unless \
                 TECHBALANCE_WS_KEEPALIVE_MS is set ({})",
                options.clients,
                options.idle.as_secs(),
                std::env::var("TECHBALANCE_WS_KEEPALIVE_MS").unwrap_or("unset".into()),
            )],
        }
    }

    fn row(&mut self, what: impl Into<String>, value: impl Into<String>, target: &str) {
        self.rows.push([what.into(), value.into(), target.into()]);
    }

    /// Notes the machine's state at `moment` (and shows progress on stderr).
    fn machine(&mut self, moment: &str, server: &Server) {
        let note = format!(
            "{moment}: load average {}, server threads {}",
            load_average(),
            server.threads()
        );
        eprintln!("[subscribers] {note}");
        self.notes.push(note);
    }

    fn memory(&mut self, n: usize, ramp: Duration, before: u64, connected: u64, subscribed: u64) {
        let per = |kib: u64| kib as f64 / n as f64;
        self.row(
            format!("ramp-up: {n} connections acknowledged ({RAMP_BATCH} at a time)"),
            format!("{:.1} s", ramp.as_secs_f64()),
            "",
        );
        self.row(
            "server RSS before any client / with all connected / with all subscribed",
            format!(
                "{:.1} / {:.1} / {:.1} MiB",
                before as f64 / 1024.0,
                connected as f64 / 1024.0,
                subscribed as f64 / 1024.0
            ),
            "",
        );
        self.row(
            "**memory per idle subscriber** (connection + subscription)",
            format!(
                "**{:.1} KiB** ({:.1} connection + {:.1} subscription)",
                per(subscribed.saturating_sub(before)),
                per(connected.saturating_sub(before)),
                per(subscribed.saturating_sub(connected)),
            ),
            "≤ 16 KiB",
        );
    }

    fn idle(&mut self, period: Duration, server: f64, clients: f64, pings: u64) {
        let pct = |cpu: f64| 100.0 * cpu / period.as_secs_f64();
        self.row(
            format!(
                "**server CPU while idle** ({} subscribers, {} s)",
                self.clients,
                period.as_secs()
            ),
            format!("**{:.2}% of one core** ({server:.2} s)", pct(server)),
            "",
        );
        self.row(
            "bench (clients) CPU in the same period; pings received so far",
            format!("{:.2}% of one core; {pings} pings", pct(clients)),
            "",
        );
    }

    fn scenario(&mut self, name: &str, n: usize, per_client: usize, o: &Outcome) {
        let expected = n * per_client;
        self.row(
            format!("{name}: messages received / expected; clients complete"),
            format!("{} / {expected}; {} / {n}", o.messages, o.complete_clients),
            "all",
        );
        self.row(
            format!("{name}: commit → last expected message, p50 / p99 / max"),
            format!(
                "{} / **{}** / {}",
                ms(percentile(&o.last, 50.0)),
                ms(percentile(&o.last, 99.0)),
                ms(o.last.last().copied())
            ),
            "p99 ≤ 1 s",
        );
        let everyone = (o.complete_clients == n)
            .then(|| o.last.last().copied())
            .flatten();
        self.row(
            format!("{name}: until the last client had everything"),
            everyone.map_or("not reached".into(), |d| ms(Some(d))),
            "",
        );
        self.row(
            format!("{name}: commit → first message, min / p50 / max"),
            format!(
                "{} / {} / {}",
                ms(o.first.first().copied()),
                ms(percentile(&o.first, 50.0)),
                ms(o.first.last().copied())
            ),
            "",
        );
        self.row(
            format!("{name}: CPU used until done, server / bench clients"),
            format!(
                "{:.2} s / {:.2} s ({:.1} µs of server CPU per message)",
                o.server_cpu,
                o.client_cpu,
                o.server_cpu * 1e6 / expected.max(1) as f64
            ),
            "",
        );
        self.notes.extend(o.failures.iter().cloned());
    }

    fn rss_after(&mut self, scenario: &str, kib: u64) {
        self.row(
            format!("server RSS after scenario {scenario}"),
            format!("{:.1} MiB", kib as f64 / 1024.0),
            "",
        );
    }

    fn render(&self) -> String {
        let mut text = String::from("\n| measure | value | target |\n| --- | --- | --- |\n");
        for [what, value, target] in &self.rows {
            let _ = writeln!(text, "| {what} | {value} | {target} |");
        }
        text.push('\n');
        for note in &self.notes {
            let _ = writeln!(text, "- {note}");
        }
        text
    }
}
