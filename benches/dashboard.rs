//! Dashboard benchmark helpers (issue 11): the data set generator and the bytes-from-memory
//! reference server. `benches/peers/run.sh` drives them, the techbalance server and PostGraphile
//! 4 and 5 with `wrk`; see BENCHMARKS.md.
//!
//! ```text
//! target/release/deps/dashboard-* generate <postgres url>   # 200 × 60 × 20, plus revisions
//! target/release/deps/dashboard-* bytes <address> <dir>     # POST /<name> answers <dir>/<name>.json
//! ```
//!
//! The data set goes through the product's own write path: `open_store` (migrations), the
//! bundled baseline (`seed_if_empty`), `Store::upsert_reference_data` for 198 synthetic countries
//! and 4 synthetic metrics, then one `Store::record` batch per metric with every (country, year)
//! of 1966–2025 from the World Bank source (240,000 values), and a second release of each metric
//! in which every 20th value is revised (12,000 older versions).

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use techbalance::config::Config;
use techbalance_store::entities::{country, metric};
use techbalance_store::record::{Batch, Point, Scope};
use techbalance_store::reference::ReferenceData;

const COUNTRIES: usize = 200;
const METRICS: usize = 20;
const YEARS: (i32, i32) = (1966, 2025);
/// Every 20th value differs in the second release.
const REVISED_EVERY: usize = 20;
const SOURCE: &str = "worldbank";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dashboard bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate", url] => runtime.block_on(generate(url)),
        ["bytes", address, dir] => runtime.block_on(bytes(address, dir)),
        // `cargo bench` runs every bench target with `--bench`: nothing to do without a command.
        [] | ["--bench"] => {
            eprintln!("dashboard bench: run benches/peers/run.sh (see BENCHMARKS.md)");
            Ok(())
        }
        _ => Err(anyhow::anyhow!(
            "usage: dashboard generate <postgres url> | dashboard bytes <address> <dir>"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dashboard bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn generate(url: &str) -> anyhow::Result<()> {
    let config = Config::from_lookup(|name| (name == "DATABASE_URL").then(|| url.to_owned()))?;
    let store = techbalance::open_store(&config).await?;
    techbalance::seed_if_empty(&store, &config).await?;

    let existing = store.countries().await?;
    let mut countries: Vec<String> = existing.iter().map(|c| c.code.clone()).collect();
    let mut reference = ReferenceData::default();
    let taken: Vec<String> = existing.iter().map(|c| c.iso2.clone()).collect();
    let letters = |i: usize| {
        [
            (b'A' + (i / 26) as u8) as char,
            (b'A' + (i % 26) as u8) as char,
        ]
    };
    let mut i = 0;
    while countries.len() < COUNTRIES {
        let [a, b] = letters(i);
        i += 1;
        let iso2 = format!("{a}{b}");
        if taken.contains(&iso2) {
            continue;
        }
        let code = format!("X{a}{b}");
        reference.countries.push(country::Model {
            code: code.clone(),
            iso2,
            name: format!("Country {code}"),
            flag: "🏳".into(),
            kind: country::CountryKind::Country,
        });
        countries.push(code);
    }
    let mut metrics: Vec<String> = store
        .metrics(None)
        .await?
        .into_iter()
        .map(|m| m.slug)
        .collect();
    let mut n = 0;
    while metrics.len() < METRICS {
        let slug = format!("bench_metric_{n:02}");
        n += 1;
        reference.metrics.push(metric::Model {
            slug: slug.clone(),
            name: format!("Bench metric {slug}"),
            unit: "index".into(),
            category: "bench".into(),
            description: "Synthetic values for the dashboard benchmark.".into(),
            higher_is_better: true,
            preferred_sources: None,
        });
        metrics.push(slug);
    }
    store.upsert_reference_data(&reference).await?;

    for release in 0..2 {
        let (mut inserted, mut revised) = (0, 0);
        for (m, slug) in metrics.iter().enumerate() {
            let points = countries
                .iter()
                .enumerate()
                .flat_map(|(c, code)| {
                    (YEARS.0..=YEARS.1).map(move |year| {
                        let position = (m * COUNTRIES + c) * 60 + (year - YEARS.0) as usize;
                        let bump = release == 1 && position.is_multiple_of(REVISED_EVERY);
                        Point {
                            metric: slug.clone(),
                            country: code.clone(),
                            year,
                            value: value(position) + if bump { 1.0 } else { 0.0 },
                            qualifier: None,
                            citation: None,
                        }
                    })
                })
                .collect();
            let batch = Batch {
                source: SOURCE.into(),
                release: Some(format!("bench-{release}")),
                scope: Scope {
                    metrics: vec![slug.clone()],
                    countries: Some(countries.clone()),
                    years: Some(YEARS),
                },
                points,
            };
            let summary = store
                .record(&batch, techbalance_store::now())
                .await
                .with_context(|| format!("recording {slug}"))?;
            inserted += summary.inserted;
            revised += summary.revised;
        }
        eprintln!("release {release}: {inserted} inserted, {revised} revised");
    }
    Ok(())
}

/// A deterministic value in [0, 100) for a grid position.
fn value(position: usize) -> f64 {
    let mut x = position as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x % 10_000) as f64 / 100.0
}

/// Serves each `<dir>/<name>.json` at `/<name>`, from memory, for any method.
async fn bytes(address: &str, dir: &str) -> anyhow::Result<()> {
    let mut answers = HashMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {dir}"))? {
        let path = entry?.path();
        if let (Some(stem), Some("json")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) {
            answers.insert(stem.to_owned(), Bytes::from(std::fs::read(&path)?));
        }
    }
    let app = axum::Router::new()
        .route("/{name}", axum::routing::any(answer))
        .with_state(Arc::new(answers));
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn answer(
    State(answers): State<Arc<HashMap<String, Bytes>>>,
    Path(name): Path<String>,
) -> impl IntoResponse {
    match answers.get(&name) {
        Some(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
