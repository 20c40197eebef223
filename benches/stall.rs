//! A normal client's latency while tens of thousands of stalled connections are held open.
//!
//! `cargo bench --bench stall` starts the server binary (`techbalance serve --no-worker`, on a
//! throwaway SQLite database, default settings but for the rate limit) and measures a normal
//! client (a new connection per request, `POST /graphql`) first alone, then while
//! `STALL_CONNECTIONS` (default 20,000) connections stall: a third idle (connected, sending
//! nothing), a third sending a request line and headers a byte every two seconds, a third
//! sending a large body a byte every two seconds. The stalled connections are held by child
//! processes (this bench run again, at most [`PER_CHILD`] connections each, so that no process
//! needs more descriptors than the hard limit allows and the server's own process holds only
//! its side). Each reopens every connection it loses at once, so the number held stays near the
//! target for the whole measured window (`STALL_SECONDS`, default 30).
//!
//! The server keeps its default connection limit unless `STALL_SERVER_MAX_CONNECTIONS` is set:
//! past it, a new connection closes the oldest unanswered one, so the normal client competes
//! with the stalls' reconnections, not with a full table.
//!
//! Printed: the normal client's requests, errors, p50 / p99 / max latency alone and under the
//! stall; the stalled connections held (sampled each second); connections the server evicted
//! the server's peak RSS and open descriptors. It fails
//! (exit 1) when the normal client gets any error or refusal.

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

/// Stalled connections held by one child process.
const PER_CHILD: usize = 9_000;

/// Set in a child: `<server address>,<connections>`.
const CHILD: &str = "STALL_CHILD";

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match std::env::var(CHILD) {
        Ok(role) => child(&role).await.map(|()| String::new()),
        Err(_) => run().await,
    };
    match outcome {
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

/// A child: holds its share of stalled connections and prints how many it holds every 500 ms,
/// until its standard input closes (the parent ended).
async fn child(role: &str) -> anyhow::Result<()> {
    let (addr, count) = role
        .split_once(',')
        .context("STALL_CHILD is <address>,<count>")?;
    let addr: SocketAddr = addr.parse()?;
    let count: usize = count.parse()?;
    raise_descriptor_limit(count as u64 + 100)?;
    let stop = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicUsize::new(0));
    for i in 0..count {
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let how = [Stall::Idle, Stall::SlowHeader, Stall::SlowBody][i % 3];
        tokio::spawn(stall_forever(
            addr,
            how,
            Arc::clone(&held),
            Arc::clone(&stop),
        ));
    }
    {
        let held = Arc::clone(&held);
        std::thread::spawn(move || loop {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            if writeln!(out, "held {}", held.load(Ordering::Relaxed)).is_err()
                || out.flush().is_err()
            {
                return;
            }
            drop(out);
            std::thread::sleep(Duration::from_millis(500));
        });
    }
    // Until the parent ends (its end of our standard input closes).
    tokio::task::spawn_blocking(|| {
        use std::io::Read as _;
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    Ok(())
}

/// Starts the children that hold `stalls` connections to `addr`; each child's last reported
/// count is kept in `held`.
fn start_children(
    addr: SocketAddr,
    stalls: usize,
    held: &Arc<Vec<AtomicUsize>>,
) -> anyhow::Result<Vec<Child>> {
    let mut children = Vec::new();
    let mut left = stalls;
    for slot in 0..held.len() {
        let count = left.min(PER_CHILD);
        left -= count;
        let mut child = Command::new(std::env::current_exe()?)
            .env(CHILD, format!("{addr},{count}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("start a stalling child")?;
        let stdout = child.stdout.take().context("a child's output")?;
        let held = Arc::clone(held);
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt as _;
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(n) = line.strip_prefix("held ").and_then(|n| n.parse().ok()) {
                    held[slot].store(n, Ordering::Relaxed);
                }
            }
        });
        children.push(child);
    }
    Ok(children)
}

async fn run() -> anyhow::Result<String> {
    let stalls = setting("STALL_CONNECTIONS", 20_000)? as usize;
    let window = Duration::from_secs(setting("STALL_SECONDS", 30)?);
    let max_connections = match std::env::var("STALL_SERVER_MAX_CONNECTIONS") {
        Ok(_) => Some(setting("STALL_SERVER_MAX_CONNECTIONS", 0)?),
        Err(_) => None,
    };
    // The server inherits the limit: room for its side of the connections it keeps.
    raise_descriptor_limit(1_000)?;
    let dir = std::env::temp_dir().join(format!("techbalance-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let server = Server::start(&dir, max_connections).await;
    let outcome = async {
        let server = server?;
        let alone = normal_client(server.addr, Duration::from_secs(10)).await;
        let held: Arc<Vec<AtomicUsize>> = Arc::new(
            (0..stalls.div_ceil(PER_CHILD))
                .map(|_| AtomicUsize::new(0))
                .collect(),
        );
        let children = start_children(server.addr, stalls, &held)?;
        let held_now = {
            let held = Arc::clone(&held);
            move || {
                held.iter()
                    .map(|h| h.load(Ordering::Relaxed))
                    .sum::<usize>()
            }
        };
        // Until the target is held (or 60 s), then the measured window.
        let ramp = Instant::now();
        while held_now() < stalls * 95 / 100 && ramp.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ramp = ramp.elapsed();
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (held_now, sampling, pid) = (held_now.clone(), Arc::clone(&sampling), server.pid);
            tokio::spawn(async move {
                let (mut samples, mut fds) = (Vec::new(), 0);
                while sampling.load(Ordering::Relaxed) {
                    samples.push(held_now());
                    fds = fds.max(open_descriptors(pid));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (samples, fds)
            })
        };
        let under = normal_client(server.addr, window).await;
        sampling.store(false, Ordering::Relaxed);
        let (samples, fds) = sampler.await.context("the sampler")?;
        drop(children);
        let rss = server.peak_rss_kib();
        let report = format!(
            "stall bench: {stalls} stalled connections (idle / slow headers / slow body), \
             window {window:?}, ramp-up {ramp:.1?}\n\
             normal client alone:       {alone}\n\
             normal client under stall: {under}\n\
             stalled connections held:  min {} / max {} (sampled each second)\n\
             server: connection limit {}, peak RSS {} MiB, at most {fds} open descriptors",
            samples.iter().min().unwrap_or(&0),
            samples.iter().max().unwrap_or(&0),
            max_connections.map_or("default".to_owned(), |n| n.to_string()),
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
    async fn start(dir: &std::path::Path, max_connections: Option<u64>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let binary = env!("CARGO_BIN_EXE_techbalance");
        let mut command = Command::new(binary);
        if let Some(n) = max_connections {
            command.env("TECHBALANCE_MAX_CONNECTIONS", n.to_string());
        }
        let child = command
            .args(["serve", "--no-worker", "--bind", &addr.to_string()])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.join("stall.db").display()),
            )
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
