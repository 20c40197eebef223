//! Refresh benchmark: the real refresh pipeline (`RefreshExecutor::refresh_now`) of the World Bank
//! source against a synthetic, format-exact World Bank API served from this process, on PostgreSQL
//! and SQLite.
//!
//! For each backend, three scenarios run in order on one fresh database: the first load, a re-run
//! with nothing changed, and a re-run of a release in which exactly 1% of the values are revised.
//! Each scenario runs in a child process (this binary, re-executed) so that its peak resident
//! memory (`VmHWM`) is its own; the API server stays in the parent.
//!
//! ```text
//! cargo bench --bench refresh                      # both backends, 1,000,800 observations
//! cargo bench --bench refresh -- sqlite            # one backend
//! cargo bench --bench refresh -- --countries 50    # a smaller payload (50 × 50 × 36)
//! cargo bench --bench refresh -- postgres --keep   # leaves the database behind, for profiling
//! # (PostgreSQL: the server TECHBALANCE_TEST_DATABASE_URL names; without it, a throwaway
//! # cluster started by the bench and removed when it exits, --keep or not)
//!                                                  # (on the server TECHBALANCE_TEST_DATABASE_URL names;
//!                                                  # without it, a throwaway cluster gone at exit)
//! target/release/deps/refresh-* serve              # the synthetic API alone, for profiling
//! target/release/deps/refresh-* child postgres unchanged <database url> <api url>/base/v2
//! ```

use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use techbalance_store::entities::{country, metric};
use techbalance_store::record::RecordSummary;
use techbalance_store::reference::ReferenceData;
use techbalance_store::{ConnectionSettings, Store};
use techbalance_worker::fetch::{FetchSettings, Fetcher};
use techbalance_worker::pipeline;
use techbalance_worker::sources::worldbank::{self, WorldBank};
use techbalance_worker::sources::{registry, Progress, SourceError};

#[path = "../tests/shared/database_url.rs"]
mod database_url;
use database_url::replace_database;

const YEARS: (i32, i32) = (1990, 2025);
const DEFAULT_INDICATORS: usize = 50;
const DEFAULT_COUNTRIES: usize = 556;
const DEFAULT_PER_PAGE: u32 = 20_000;
/// Every 100th value of the grid differs in the revised release.
const REVISED_EVERY: u64 = 100;
const RELEASE: &str = "2025-12-16";
const REVISED_RELEASE: &str = "2026-01-20";

const SCENARIOS: [Scenario; 3] = [Scenario::First, Scenario::Unchanged, Scenario::Revised];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        Some("serve") => serve(&args[1..]),
        _ => parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("refresh bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The synthetic payload
// ---------------------------------------------------------------------------------------------

/// The synthetic grid: indicators × countries × years, every value present.
#[derive(Clone, Copy, Debug)]
struct Shape {
    indicators: usize,
    countries: usize,
    per_page: u32,
}

impl Shape {
    fn years(&self) -> usize {
        (YEARS.1 - YEARS.0 + 1) as usize
    }

    fn observations(&self) -> u64 {
        (self.indicators * self.countries * self.years()) as u64
    }

    /// How many values the revised release changes: grid positions that are multiples of 100.
    fn revised(&self) -> u64 {
        self.observations().div_ceil(REVISED_EVERY)
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--indicators".into(),
            self.indicators.to_string(),
            "--countries".into(),
            self.countries.to_string(),
            "--per-page".into(),
            self.per_page.to_string(),
        ]
    }
}

fn indicator_code(i: usize) -> String {
    format!("BENCH.IND.{i:02}")
}

fn metric_slug(i: usize) -> String {
    format!("bench_metric_{i:02}")
}

/// Synthetic countries: ISO3 "Q" + two letters, ISO2 the same two letters, skipping pairs that
/// would collide with real codes the project uses (US, CN) or with Qatar (QAT).
fn countries(n: usize) -> Vec<(String, String)> {
    let letters = || (b'A'..=b'Z').map(char::from);
    let pairs = letters().flat_map(|a| letters().map(move |b| format!("{a}{b}")));
    let list: Vec<(String, String)> = pairs
        .filter(|p| !matches!(p.as_str(), "US" | "CN" | "AT"))
        .map(|p| (format!("Q{p}"), p))
        .take(n)
        .collect();
    assert_eq!(list.len(), n, "at most 673 synthetic countries");
    list
}

fn country_name(iso3: &str) -> String {
    format!("Benchland {iso3}")
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The value at a grid position: deterministic, two decimals, exactly representable as text.
fn value(position: u64, revised: bool) -> f64 {
    let base = (splitmix64(position) % 100_000_000) as f64 / 100.0;
    if revised && position.is_multiple_of(REVISED_EVERY) {
        base + 0.5
    } else {
        base
    }
}

// ---------------------------------------------------------------------------------------------
// The synthetic World Bank API
// ---------------------------------------------------------------------------------------------

struct Api {
    shape: Shape,
    countries: Vec<(String, String)>,
    by_iso3: HashMap<String, usize>,
    by_code: HashMap<String, usize>,
}

/// `GET /{release}/v2/country/{ISO3;ISO3;…}/indicator/{code}?format=json&per_page=&page=&date=A:B`,
/// where `{release}` is `base` or `revised`.
async fn serve_page(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
    axum::extract::Path((release, countries, code)): axum::extract::Path<(String, String, String)>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let bad = |message: &str| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            json!([{ "message": [{ "id": "120", "key": "Invalid value", "value": message }] }])
                .to_string(),
        )
            .into_response()
    };
    let revised = match release.as_str() {
        "base" => false,
        "revised" => true,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Some(&indicator) = api.by_code.get(&code) else {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            json!([{ "message": [{ "id": "175", "key": "Invalid format",
                "value": "The indicator was not found. It may have been deleted or archived." }] }])
            .to_string(),
        )
            .into_response();
    };
    if query.get("format").map(String::as_str) != Some("json") {
        return bad("format must be json");
    }
    let per_page: usize = match query.get("per_page").map(|p| p.parse()) {
        None => 50,
        Some(Ok(p)) if p > 0 => p,
        _ => return bad("per_page"),
    };
    let page: usize = match query.get("page").map(|p| p.parse()) {
        None => 1,
        Some(Ok(p)) if p > 0 => p,
        _ => return bad("page"),
    };
    let (from, to) = match query.get("date").and_then(|d| d.split_once(':')) {
        Some((a, b)) => match (a.parse::<i32>(), b.parse::<i32>()) {
            (Ok(a), Ok(b)) => (a.max(YEARS.0), b.min(YEARS.1)),
            _ => return bad("date"),
        },
        None => YEARS,
    };
    let mut wanted: Vec<usize> = Vec::new();
    for iso3 in countries.split(';') {
        match api.by_iso3.get(iso3) {
            Some(&c) => wanted.push(c),
            None => return bad("country"),
        }
    }
    // The real API lists countries alphabetically by name (here: by code), years newest first.
    wanted.sort_unstable();
    wanted.dedup();
    let years_per_country = (to - from + 1).max(0) as usize;
    let total = wanted.len() * years_per_country;
    let pages = total.div_ceil(per_page).max(1);
    let last_updated = if revised { REVISED_RELEASE } else { RELEASE };
    let first = (page - 1) * per_page;
    let last = (first + per_page).min(total);
    let mut body = String::with_capacity(160 + last.saturating_sub(first) * 220);
    let _ = write!(
        body,
        r#"[{{"page":{page},"pages":{pages},"per_page":{per_page},"total":{total},"sourceid":"2","lastupdated":"{last_updated}"}},"#
    );
    if first >= last {
        body.push_str("null]");
    } else {
        body.push('[');
        for n in first..last {
            let c = wanted[n / years_per_country];
            let year = to - (n % years_per_country) as i32;
            let position = ((indicator * api.shape.countries + c) * api.shape.years()
                + (year - YEARS.0) as usize) as u64;
            let (iso3, iso2) = &api.countries[c];
            if n > first {
                body.push(',');
            }
            let _ = write!(
                body,
                r#"{{"indicator":{{"id":"{code}","value":"Benchmark indicator {indicator:02}"}},"country":{{"id":"{iso2}","value":"Benchland {iso3}"}},"countryiso3code":"{iso3}","date":"{year}","value":{},"unit":"","obs_status":"","decimal":2}}"#,
                value(position, revised)
            );
        }
        body.push_str("]]");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body,
    )
        .into_response()
}

async fn start_api(shape: Shape) -> anyhow::Result<String> {
    let countries = countries(shape.countries);
    let api = Arc::new(Api {
        shape,
        by_iso3: countries
            .iter()
            .enumerate()
            .map(|(i, (iso3, _))| (iso3.clone(), i))
            .collect(),
        by_code: (0..shape.indicators)
            .map(|i| (indicator_code(i), i))
            .collect(),
        countries,
    });
    let app = axum::Router::new()
        .route(
            "/{release}/v2/country/{countries}/indicator/{code}",
            axum::routing::get(serve_page),
        )
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("synthetic World Bank API stopped: {e}");
        }
    });
    Ok(format!("http://{addr}"))
}

/// `serve [--indicators N …]`: the synthetic API alone, until killed (for profiling a child).
fn serve(args: &[String]) -> anyhow::Result<()> {
    let shape = parse_shape(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = start_api(shape).await?;
        println!("{server}/base/v2 {server}/revised/v2");
        std::future::pending::<()>().await;
        anyhow::Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// The parent: server, databases, children, table
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    First,
    Unchanged,
    Revised,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::First => "first",
            Scenario::Unchanged => "unchanged",
            Scenario::Revised => "revised",
        }
    }

    fn parse(name: &str) -> anyhow::Result<Self> {
        SCENARIOS
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| anyhow::anyhow!("unknown scenario {name}"))
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::First => "first load",
            Scenario::Unchanged => "re-run, unchanged",
            Scenario::Revised => "re-run, 1% revised",
        }
    }

    fn release_path(self) -> &'static str {
        match self {
            Scenario::Revised => "revised",
            _ => "base",
        }
    }
}

/// What a child reports.
#[derive(Debug)]
struct Measure {
    backend: Backend,
    scenario: Scenario,
    report: Value,
}

impl Measure {
    fn u(&self, key: &str) -> u64 {
        self.report[key].as_u64().unwrap_or(0)
    }

    fn f(&self, key: &str) -> f64 {
        self.report[key].as_f64().unwrap_or(0.0)
    }
}

fn parse_shape(args: &[String]) -> anyhow::Result<Shape> {
    let mut shape = Shape {
        indicators: DEFAULT_INDICATORS,
        countries: DEFAULT_COUNTRIES,
        per_page: DEFAULT_PER_PAGE,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> anyhow::Result<usize> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow::anyhow!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--indicators" => shape.indicators = number("--indicators")?,
            "--countries" => shape.countries = number("--countries")?,
            "--per-page" => shape.per_page = number("--per-page")? as u32,
            _ => {}
        }
    }
    anyhow::ensure!(shape.indicators <= 100, "at most 100 indicators");
    anyhow::ensure!(shape.countries <= 673, "at most 673 countries");
    Ok(shape)
}

fn parent(args: &[String]) -> anyhow::Result<()> {
    let shape = parse_shape(args)?;
    let mut backends: Vec<Backend> = Vec::new();
    if args.iter().any(|a| a == "postgres") {
        backends.push(Backend::Postgres);
    }
    if args.iter().any(|a| a == "sqlite") {
        backends.push(Backend::Sqlite);
    }
    if backends.is_empty() {
        backends = vec![Backend::Postgres, Backend::Sqlite];
    }
    let admin_url = if backends.contains(&Backend::Postgres) {
        Some(techbalance_test_postgres::admin_url().map_err(|e| {
            anyhow::anyhow!("{e} (or run `cargo bench --bench refresh -- sqlite` for SQLite alone)")
        })?)
    } else {
        None
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = runtime.block_on(start_api(shape))?;
    eprintln!(
        "synthetic World Bank API at {server}: {} indicators × {} countries × {} years = {} \
         observations, {} per page",
        shape.indicators,
        shape.countries,
        shape.years(),
        shape.observations(),
        shape.per_page
    );

    eprintln!("fetch path alone …");
    let fetch = run_child(
        &[
            "none".into(),
            "fetch".into(),
            "-".into(),
            format!("{server}/base/v2"),
        ],
        shape,
    )?;

    let mut measures = Vec::new();
    for backend in backends {
        let db = runtime.block_on(create_database(backend, admin_url.as_deref()))?;
        let outcome = run_backend(&runtime, backend, &db.url, &server, shape);
        if args.iter().any(|a| a == "--keep") {
            eprintln!("kept {}", db.url);
            measures.extend(outcome?);
            continue;
        }
        let dropped = runtime.block_on(db.drop());
        measures.extend(outcome?);
        dropped?;
    }
    print_table(&measures, shape);
    print_fetch(&fetch, shape);
    Ok(())
}

/// Runs this binary as `child <args> <shape>` and returns what it reported on its `RESULT` line.
fn run_child(args: &[String], shape: Shape) -> anyhow::Result<Value> {
    let output = Command::new(std::env::current_exe()?)
        .arg("child")
        .args(args)
        .args(shape.args())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "child {} failed ({}): {stdout}",
        args.join(" "),
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| anyhow::anyhow!("the child reported nothing: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}

/// The 1-minute load average, as /proc/loadavg gives it.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn run_backend(
    runtime: &tokio::runtime::Runtime,
    backend: Backend,
    url: &str,
    server: &str,
    shape: Shape,
) -> anyhow::Result<Vec<Measure>> {
    runtime.block_on(prepare(url, shape))?;
    let mut measures = Vec::new();
    for scenario in SCENARIOS {
        eprintln!("{}: {} …", backend.name(), scenario.label());
        let load = load_average();
        let mut report = run_child(
            &[
                backend.name().into(),
                scenario.name().into(),
                url.into(),
                format!("{server}/{}/v2", scenario.release_path()),
            ],
            shape,
        )?;
        report["load_average"] = json!(load);
        let measure = Measure {
            backend,
            scenario,
            report,
        };
        verify(&measure, shape)?;
        eprintln!(
            "{}: {}: {:.2} s, {:.0} observations/s, peak RSS {:.0} MiB",
            backend.name(),
            scenario.label(),
            measure.f("wall_s"),
            shape.observations() as f64 / measure.f("wall_s"),
            measure.u("vm_hwm_kib") as f64 / 1024.0
        );
        measures.push(measure);
    }
    runtime.block_on(verify_database(url, shape))?;
    Ok(measures)
}

/// The counts each scenario must produce.
fn verify(m: &Measure, shape: Shape) -> anyhow::Result<()> {
    let n = shape.observations();
    let r = shape.revised();
    let got = (
        m.u("fetched"),
        m.u("inserted"),
        m.u("revised"),
        m.u("withdrawn"),
        m.u("unchanged"),
    );
    let want = match m.scenario {
        Scenario::First => (n, n, 0, 0, 0),
        Scenario::Unchanged => (n, 0, 0, 0, n),
        Scenario::Revised => (n, 0, r, 0, n - r),
    };
    anyhow::ensure!(
        got == want,
        "{} {}: (fetched, inserted, revised, withdrawn, unchanged) = {got:?}, expected {want:?}",
        m.backend.name(),
        m.scenario.name()
    );
    let pages = shape.indicators as u64
        * (shape.countries * shape.years()).div_ceil(shape.per_page as usize) as u64;
    anyhow::ensure!(
        m.u("pages") == pages,
        "{} pages fetched, {pages} expected",
        m.u("pages")
    );
    Ok(())
}

/// After the three runs: N + R versions, N of them current, R superseding another.
async fn verify_database(url: &str, shape: Shape) -> anyhow::Result<()> {
    let store = connect(url).await?;
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            use sea_orm::ConnectionTrait;
            let db = store.connection();
            let row = db
                .query_one(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no row"))?;
            anyhow::Ok(row.try_get::<i64>("", "n")?)
        }
    };
    let n = shape.observations() as i64;
    let r = shape.revised() as i64;
    let all = count("SELECT COUNT(*) AS n FROM observations").await?;
    let current = count("SELECT COUNT(*) AS n FROM observations WHERE recorded_to IS NULL").await?;
    let superseding =
        count("SELECT COUNT(*) AS n FROM observations WHERE supersedes IS NOT NULL").await?;
    let with_run = count("SELECT COUNT(*) AS n FROM observations WHERE run_id IS NOT NULL").await?;
    anyhow::ensure!(
        (all, current, superseding, with_run) == (n + r, n, r, n + r),
        "database holds (versions, current, superseding, with run) = {:?}, expected {:?}",
        (all, current, superseding, with_run),
        (n + r, n, r, n + r)
    );
    store.connection().clone().close().await?;
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<Store> {
    Ok(Store::connect(&ConnectionSettings {
        url: url.to_owned(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(30),
    })
    .await?)
}

/// Schema, the `worldbank` source, the synthetic countries and metrics.
async fn prepare(url: &str, shape: Shape) -> anyhow::Result<()> {
    let store = connect(url).await?;
    store.migrate().await?;
    let data = ReferenceData {
        sources: registry::reference_rows(),
        countries: countries(shape.countries)
            .into_iter()
            .map(|(iso3, iso2)| country::Model {
                name: country_name(&iso3),
                flag: pipeline::flag_emoji(&iso2),
                code: iso3,
                iso2,
                kind: country::CountryKind::Country,
            })
            .collect(),
        metrics: (0..shape.indicators)
            .map(|i| metric::Model {
                slug: metric_slug(i),
                name: format!("Benchmark metric {i:02}"),
                unit: "units".into(),
                category: "benchmark".into(),
                description: format!("Synthetic World Bank indicator {}", indicator_code(i)),
                higher_is_better: true,
                preferred_sources: None,
            })
            .collect(),
        ..ReferenceData::default()
    };
    store.upsert_reference_data(&data).await?;
    store.connection().clone().close().await?;
    Ok(())
}

struct Database {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

async fn create_database(backend: Backend, admin_url: Option<&str>) -> anyhow::Result<Database> {
    let name = format!("tb_bench_{}", std::process::id());
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            remove_sqlite(&path);
            Ok(Database {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                cleanup: Cleanup::File(path),
            })
        }
        Backend::Postgres => {
            let admin_url = admin_url.ok_or_else(|| anyhow::anyhow!("no admin URL"))?;
            let admin = connect(admin_url).await?;
            use sea_orm::ConnectionTrait;
            admin
                .connection()
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.connection().clone().close().await?;
            Ok(Database {
                url: replace_database(admin_url, &name),
                cleanup: Cleanup::Postgres {
                    admin_url: admin_url.to_owned(),
                    name,
                },
            })
        }
    }
}

impl Database {
    async fn drop(self) -> anyhow::Result<()> {
        match self.cleanup {
            Cleanup::File(path) => {
                remove_sqlite(&path);
                Ok(())
            }
            Cleanup::Postgres { admin_url, name } => {
                use sea_orm::ConnectionTrait;
                let admin = connect(&admin_url).await?;
                admin
                    .connection()
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin.connection().clone().close().await?;
                Ok(())
            }
        }
    }
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn print_table(measures: &[Measure], shape: Shape) {
    let n = shape.observations() as f64;
    let secs = |m: &Measure, key: &str| m.u(key) as f64 / 1e6;
    println!();
    println!(
        "{} observations ({} indicators × {} countries × {} years), {} per page",
        shape.observations(),
        shape.indicators,
        shape.countries,
        shape.years(),
        shape.per_page
    );
    println!();
    println!(
        "| backend | scenario | wall s | observations/s | fetch + parse s | write s | \
         validate s | load current s | diff s | close s | insert s | other s | \
         versions written | RSS after fetch MiB | peak RSS MiB | load avg |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for m in measures {
        let wall = m.f("wall_s");
        let write = wall - m.f("fetch_s");
        let parts = ["validate_us", "load_us", "diff_us", "close_us", "insert_us"]
            .iter()
            .map(|k| secs(m, k))
            .sum::<f64>();
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | \
             {:.2} | {} | {:.0} | {:.0} | {:.1} |",
            m.backend.name(),
            m.scenario.label(),
            wall,
            n / wall,
            m.f("fetch_s"),
            write,
            secs(m, "validate_us"),
            secs(m, "load_us"),
            secs(m, "diff_us"),
            secs(m, "close_us"),
            secs(m, "insert_us"),
            write - parts,
            m.u("inserted") + m.u("revised") + m.u("withdrawn"),
            m.u("rss_after_fetch_kib") as f64 / 1024.0,
            m.u("vm_hwm_kib") as f64 / 1024.0,
            m.f("load_average"),
        );
    }
}

fn print_fetch(fetch: &Value, shape: Shape) {
    let f = |key: &str| fetch[key].as_f64().unwrap_or(f64::NAN);
    println!();
    println!(
        "Fetch path alone ({} pages, {:.0} MiB of JSON): HTTP GETs {:.2} s; parsing the same bodies \
         into serde_json::Value {:.2} s; straight into borrowed typed rows {:.2} s \
         ({:.0} observations/s).",
        f("requests"),
        f("bytes") / 1_048_576.0,
        f("http_s"),
        f("value_parse_s"),
        f("typed_parse_s"),
        shape.observations() as f64 / f("typed_parse_s"),
    );
}

// ---------------------------------------------------------------------------------------------
// The child: one scenario, measured
// ---------------------------------------------------------------------------------------------

/// `child <backend> <scenario> <database url> <api base url> [--indicators N --countries N …]`
fn child(args: &[String]) -> anyhow::Result<()> {
    let [backend, scenario, url, base_url, rest @ ..] = args else {
        anyhow::bail!("child: expected <backend> <scenario> <database url> <api url>");
    };
    if scenario == "fetch" {
        return fetch_only(base_url, parse_shape(rest)?);
    }
    let scenario = Scenario::parse(scenario)?;
    let shape = parse_shape(rest)?;
    let phases = Phases::default();
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(phases.clone());
        tracing::subscriber::set_global_default(subscriber)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let store = connect(url).await?;
        let indicators: Vec<(String, String)> = (0..shape.indicators)
            .map(|i| (indicator_code(i), metric_slug(i)))
            .collect();
        let pairs: Vec<(&str, &str)> = indicators
            .iter()
            .map(|(c, s)| (c.as_str(), s.as_str()))
            .collect();
        let source = WorldBank::new(
            base_url.clone(),
            Fetcher::new(worldbank::SOURCE_ID, FetchSettings::default())?,
            shape.per_page,
            YEARS,
        )
        .with_indicators(&pairs);
        let codes: Vec<String> = countries(shape.countries)
            .into_iter()
            .map(|(iso3, _)| iso3)
            .collect();
        let fetch_done: Mutex<Option<Instant>> = Mutex::new(None);
        let rss_after_fetch = Mutex::new(0u64);
        let progress = |p: Progress| {
            if let Ok(mut t) = fetch_done.lock() {
                *t = Some(Instant::now());
            }
            if p.pages_fetched == p.pages_total {
                if let Ok(mut rss) = rss_after_fetch.lock() {
                    *rss = status_kib("VmRSS:");
                }
            }
        };
        let started = Instant::now();
        let outcome = pipeline::RefreshExecutor::new(Duration::from_secs(3600))
            .refresh_now(&store, &source, &codes, &progress)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let wall = started.elapsed();
        let fetch = fetch_done
            .lock()
            .ok()
            .and_then(|t| *t)
            .map_or(Duration::ZERO, |t| t - started);
        let RecordSummary {
            fetched,
            inserted,
            revised,
            withdrawn,
            unchanged,
            ..
        } = outcome.summary;
        let sums = phases.sums();
        let rss_after_fetch = *rss_after_fetch
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        anyhow::Ok(json!({
            "backend": backend,
            "scenario": scenario.name(),
            "wall_s": wall.as_secs_f64(),
            "fetch_s": fetch.as_secs_f64(),
            "pages": outcome.pages_fetched,
            "fetched": fetched,
            "inserted": inserted,
            "revised": revised,
            "withdrawn": withdrawn,
            "unchanged": unchanged,
            "validate_us": sums.get("validate_us").copied().unwrap_or(0),
            "load_us": sums.get("load_us").copied().unwrap_or(0),
            "diff_us": sums.get("diff_us").copied().unwrap_or(0),
            "close_us": sums.get("close_us").copied().unwrap_or(0),
            "insert_us": sums.get("insert_us").copied().unwrap_or(0),
            "rss_after_fetch_kib": rss_after_fetch,
            "vm_hwm_kib": status_kib("VmHWM:"),
        }))
    })?;
    println!("RESULT {report}");
    Ok(())
}

/// The fetch path without the store: the same GETs as the World Bank source (HTTP and the
/// synthetic server's page generation), then two parses of the same bodies for comparison: into
/// `serde_json::Value` (how the source parsed before it read pages in one typed pass) and straight
/// into borrowed typed rows (about what it does now).
fn fetch_only(base_url: &str, shape: Shape) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fetcher = Fetcher::new(worldbank::SOURCE_ID, FetchSettings::default())?;
    let joined = countries(shape.countries)
        .into_iter()
        .map(|(iso3, _)| iso3)
        .collect::<Vec<_>>()
        .join(";");
    let pages = (shape.countries * shape.years()).div_ceil(shape.per_page as usize);
    let (mut http, mut value_parse, mut typed_parse) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut bytes, mut rows, mut requests) = (0u64, 0u64, 0u64);
    for i in 0..shape.indicators {
        for page in 1..=pages {
            let url = format!(
                "{base_url}/country/{joined}/indicator/{}?format=json&per_page={}&page={page}&date={}:{}",
                indicator_code(i),
                shape.per_page,
                YEARS.0,
                YEARS.1
            );
            let started = Instant::now();
            let response = runtime
                .block_on(fetcher.get(&url))
                .map_err(SourceError::from)?;
            http += started.elapsed();
            bytes += response.body.len() as u64;
            requests += 1;

            let started = Instant::now();
            let value: Value = serde_json::from_slice(&response.body)?;
            drop(value);
            value_parse += started.elapsed();

            let started = Instant::now();
            let (_meta, page_rows): (LeanMeta, Option<Vec<LeanRow<'_>>>) =
                serde_json::from_slice(&response.body)?;
            rows += page_rows.map_or(0, |r| r.len() as u64);
            typed_parse += started.elapsed();
        }
    }
    anyhow::ensure!(rows == shape.observations(), "{rows} rows parsed");
    println!(
        "RESULT {}",
        json!({
            "http_s": http.as_secs_f64(),
            "bytes": bytes,
            "requests": requests,
            "value_parse_s": value_parse.as_secs_f64(),
            "typed_parse_s": typed_parse.as_secs_f64(),
        })
    );
    Ok(())
}

#[derive(serde::Deserialize)]
struct LeanMeta {
    #[serde(rename = "pages")]
    _pages: u32,
    #[serde(rename = "lastupdated")]
    _lastupdated: Option<String>,
}

#[derive(serde::Deserialize)]
struct LeanRow<'a> {
    #[serde(borrow, rename = "indicator")]
    _indicator: LeanNamed<'a>,
    #[serde(borrow, rename = "country")]
    _country: LeanNamed<'a>,
    #[serde(rename = "countryiso3code")]
    _iso3: &'a str,
    #[serde(rename = "date")]
    _date: &'a str,
    #[serde(rename = "value")]
    _value: Option<f64>,
    #[serde(rename = "obs_status")]
    _status: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct LeanNamed<'a> {
    #[serde(rename = "id")]
    _id: &'a str,
    #[serde(rename = "value")]
    _value: &'a str,
}

/// A field of /proc/self/status, in KiB (0 where unavailable).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Sums the `*_us` fields of the store's per-batch "batch recorded" debug events.
#[derive(Clone, Default)]
struct Phases(Arc<Mutex<HashMap<&'static str, u64>>>);

impl Phases {
    fn sums(&self) -> HashMap<&'static str, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Phases {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.target().starts_with("techbalance_store") {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Visitor<'a>(&'a mut HashMap<&'static str, u64>);
        impl tracing::field::Visit for Visitor<'_> {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name().ends_with("_us") {
                    *self.0.entry(field.name()).or_default() += value;
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if let Ok(mut sums) = self.0.lock() {
            event.record(&mut Visitor(&mut sums));
        }
    }
}
