//! A normal client's latency while tens of thousands of stalled connections are held open.
//!
//! `cargo bench --bench stall` starts the server binary (`techbalance serve --no-worker`, on a
//! throwaway SQLite database, `TECHBALANCE_MAX_CONNECTIONS` above the stall count) and measures
//! a normal client (a new connection per request, `POST /graphql`) first alone, then while
//! `STALL_CONNECTIONS` (default 20,000) connections stall: a third idle (connected, sending
//! nothing), a third sending a request line and headers a byte every two seconds, a third
//! sending a large body a byte every two seconds. The server cuts each of them off at its header
//! timeout or request deadline; the bench reopens every one it loses, so the number held stays
//! near the target for the whole measured window (`STALL_SECONDS`, default 30).
//!
//! Printed: the normal client's requests, errors, p50 / p99 / max latency alone and under the
//! stall; the stalled connections held (sampled each second); the server's peak RSS and open
//! descriptors. It fails (exit 1) when the normal client gets any error or refusal. The bench
//! raises its descriptor limit to the hard limit (`ulimit -Hn`), which the server inherits; the
//! server's connection limit is set to the stall count plus 1,000, within that hard limit, so a
//! stall count near the hard limit is refused up front.

use anyhow::{bail, Context as _};
use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

const NORMAL: &str = r#"{"query":"{ countries { code name } }"}"#;

fn setting(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name} must be a whole number, not {value:?}")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stall bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<String> {
    let stalls = setting("STALL_CONNECTIONS", 20_000)? as usize;
    let window = Duration::from_secs(setting("STALL_SECONDS", 30)?);
    // The stalled sockets plus the normal client's, the database's and the runtime's.
    let limit = raise_descriptor_limit(stalls as u64 + 200)?;
    let dir = std::env::temp_dir().join(format!("techbalance-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Room for every stalled connection and the normal client, within the server's descriptors.
    let max_connections = (stalls + 1_000).min(limit.saturating_sub(100) as usize);
    let server = Server::start(&dir, max_connections).await;
    let outcome = async {
        let server = server?;
        let alone = normal_client(server.addr, Duration::from_secs(10)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let mut stalled = tokio::task::JoinSet::new();
        for i in 0..stalls {
            if i % 500 == 499 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let how = [Stall::Idle, Stall::SlowHeader, Stall::SlowBody][i % 3];
            stalled.spawn(stall_forever(
                server.addr,
                how,
                Arc::clone(&held),
                Arc::clone(&stop),
            ));
        }
        // Until the target is held (or 60 s), then the measured window.
        let ramp = Instant::now();
        while held.load(Ordering::Relaxed) < stalls * 95 / 100
            && ramp.elapsed() < Duration::from_secs(60)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ramp = ramp.elapsed();
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (held, sampling, pid) = (Arc::clone(&held), Arc::clone(&sampling), server.pid);
            tokio::spawn(async move {
                let (mut samples, mut fds) = (Vec::new(), 0);
                while sampling.load(Ordering::Relaxed) {
                    samples.push(held.load(Ordering::Relaxed));
                    fds = fds.max(open_descriptors(pid));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (samples, fds)
            })
        };
        let under = normal_client(server.addr, window).await;
        sampling.store(false, Ordering::Relaxed);
        let (samples, fds) = sampler.await.context("the sampler")?;
        stop.store(true, Ordering::Relaxed);
        stalled.abort_all();
        let rss = server.peak_rss_kib();
        let report = format!(
            "stall bench: {stalls} stalled connections (idle / slow headers / slow body), \
             window {window:?}, ramp-up {ramp:.1?}\n\
             normal client alone:       {alone}\n\
             normal client under stall: {under}\n\
             stalled connections held:  min {} / max {} (sampled each second)\n\
             server: peak RSS {} MiB, at most {fds} open descriptors",
            samples.iter().min().unwrap_or(&0),
            samples.iter().max().unwrap_or(&0),
            rss / 1024,
        );
        if alone.errors + under.errors > 0 {
            bail!("the normal client got errors\n{report}");
        }
        Ok(report)
    }
    .await;
    std::fs::remove_dir_all(&dir).ok();
    outcome
}

/// Raises this process's descriptor limit to its hard limit (the server inherits it) and
/// returns it; fails when it cannot hold `needed`.
fn raise_descriptor_limit(needed: u64) -> anyhow::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    let hard = current.maximum.unwrap_or(u64::MAX);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: current.maximum,
        },
    )
    .context("raise the descriptor limit to the hard limit")?;
    if hard < needed {
        bail!(
            "{needed} descriptors are needed, the hard limit is {hard}: raise `ulimit -Hn` \
             (as root) or set STALL_CONNECTIONS lower"
        );
    }
    Ok(hard)
}

struct Latencies {
    requests: usize,
    errors: usize,
    first_error: Option<String>,
    millis: Vec<f64>,
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |q: f64| {
            if self.millis.is_empty() {
                return f64::NAN;
            }
            let i = ((self.millis.len() - 1) as f64 * q).round() as usize;
            self.millis[i]
        };
        write!(
            f,
            "{} requests, {} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.requests,
            self.errors,
            at(0.5),
            at(0.99),
            at(1.0)
        )?;
        if let Some(e) = &self.first_error {
            write!(f, " (first error: {e})")?;
        }
        Ok(())
    }
}

/// One request at a time, each on a new connection, for `window`.
async fn normal_client(addr: SocketAddr, window: Duration) -> Latencies {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let url = format!("http://{addr}/graphql");
    let mut result = Latencies {
        requests: 0,
        errors: 0,
        first_error: None,
        millis: Vec::new(),
    };
    let end = Instant::now() + window;
    while Instant::now() < end {
        let started = Instant::now();
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(NORMAL)
            .send()
            .await;
        let outcome = match answer {
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(body) if body.contains("\"CHN\"") => Ok(()),
                Ok(body) => Err(format!("unexpected answer: {body:.200}")),
                Err(e) => Err(e.to_string()),
            },
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        result.requests += 1;
        match outcome {
            Ok(()) => result.millis.push(started.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    result.millis.sort_by(f64::total_cmp);
    result
}

#[derive(Clone, Copy)]
enum Stall {
    Idle,
    SlowHeader,
    SlowBody,
}

/// Holds one stalled connection open, reopening it whenever the server cuts it off.
async fn stall_forever(
    addr: SocketAddr,
    how: Stall,
    held: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        held.fetch_add(1, Ordering::Relaxed);
        let (mut reader, mut writer) = stream.into_split();
        let head = match how {
            Stall::Idle => String::new(),
            Stall::SlowHeader => "POST /graphql HTTP/1.1\r\nhost: x\r\n".to_owned(),
            Stall::SlowBody => format!(
                "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
                 content-length: 100000\r\n\r\n{{\"query\":\""
            ),
        };
        let trickle = async move {
            if writer.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let byte: &[u8] = match how {
                    Stall::Idle => continue,
                    Stall::SlowHeader => b"x",
                    Stall::SlowBody => b" ",
                };
                if writer.write_all(byte).await.is_err() {
                    return;
                }
            }
        };
        let closed = async move {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::select! {
            _ = trickle => {}
            _ = closed => {}
        }
        held.fetch_sub(1, Ordering::Relaxed);
    }
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
}

impl Server {
    async fn start(dir: &std::path::Path, max_connections: usize) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let binary = env!("CARGO_BIN_EXE_techbalance");
        let child = Command::new(binary)
            .args(["serve", "--no-worker", "--bind", &addr.to_string()])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.join("stall.db").display()),
            )
            .env("TECHBALANCE_MAX_CONNECTIONS", max_connections.to_string())
            // The normal client and the stalls share the loopback address; the rate limit per
            // address is not what this measures.
            .env("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0")
            .env("TECHBALANCE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {binary}"))?;
        let pid = child.id().context("the server's pid")?;
        let server = Server { child, pid, addr };
        let client = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client.get(format!("http://{addr}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("the server at {addr} was not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.start_kill().ok();
    }
}
