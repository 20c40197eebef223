//! What the worker refreshes, and how patiently it fetches.
//!
//! `TECHBALANCE_BASELINE`, `TECHBALANCE_COUNTRIES`, `TECHBALANCE_FROM_YEAR`,
//! `TECHBALANCE_WORLDBANK_PER_PAGE`, `TECHBALANCE_FETCH_ATTEMPTS`,
//! `TECHBALANCE_FETCH_TIMEOUT_SECS`, `TECHBALANCE_FETCH_CONCURRENCY`,
//! `TECHBALANCE_MAX_WITHDRAWAL_SHARE`; the source URLs are in [`super::sources`].

use clap::builder::RangedU64ValueParser;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use techbalance_worker::fetch::FetchSettings;
use techbalance_worker::pipeline::DEFAULT_MAX_WITHDRAWAL_SHARE;
use techbalance_worker::sources::baseline::BaselineFile;
use techbalance_worker::sources::worldbank;

/// The baseline file read when `TECHBALANCE_BASELINE` is unset, relative to the working
/// directory; without it, the copy bundled with the build.
pub const DEFAULT_BASELINE: &str = "data/baseline.toml";

/// The countries refreshed when `TECHBALANCE_COUNTRIES` is unset.
pub const DEFAULT_COUNTRIES: &str = "USA,CHN";

/// The first year fetched when `TECHBALANCE_FROM_YEAR` is unset.
pub const DEFAULT_FROM_YEAR: i32 = 1990;

/// Where and how the worker fetches public sources.
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    /// ISO3 codes of the countries refreshed.
    pub countries: Vec<String>,
    /// Each public source's base URL, by source id (see [`super::sources`]).
    pub base_urls: BTreeMap<String, String>,
    /// First year fetched.
    pub from_year: i32,
    pub worldbank_per_page: u32,
    pub fetch: FetchSettings,
    /// The share (0 to 1) of a source's current values one refresh may withdraw without an
    /// operator accepting it; a whole series is never withdrawn without one.
    pub max_withdrawal_share: f64,
}

impl RefreshConfig {
    /// `source`'s base URL as configured (empty for a source without one).
    pub fn base_url(&self, source: &str) -> String {
        self.base_urls.get(source).cloned().unwrap_or_default()
    }
}

fn fetch() -> FetchSettings {
    FetchSettings::default()
}

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// The baseline file every load reads; must exist when set. Unset: `data/baseline.toml` under
    /// the working directory when there is one, else the copy compiled into the binary
    #[arg(long = "baseline", env = "TECHBALANCE_BASELINE")]
    baseline: Option<PathBuf>,
    /// ISO3 codes of the countries refreshed from public sources
    #[arg(long = "countries", env = "TECHBALANCE_COUNTRIES", default_value = DEFAULT_COUNTRIES,
          value_parser = countries)]
    countries: Countries,
    /// First year fetched (1900–2100)
    #[arg(long = "from-year", env = "TECHBALANCE_FROM_YEAR", default_value_t = DEFAULT_FROM_YEAR,
          value_parser = clap::value_parser!(i32).range(1900..=2100))]
    from_year: i32,
    /// World Bank page size (1–32500)
    #[arg(long = "worldbank-per-page", env = "TECHBALANCE_WORLDBANK_PER_PAGE",
          default_value_t = worldbank::DEFAULT_PER_PAGE,
          value_parser = clap::value_parser!(u32).range(1..=32_500))]
    worldbank_per_page: u32,
    /// Attempts per request (5xx, 429, timeouts and connection errors are retried)
    #[arg(long = "fetch-attempts", env = "TECHBALANCE_FETCH_ATTEMPTS",
          default_value_t = fetch().max_attempts, value_parser = clap::value_parser!(u32).range(1..))]
    fetch_attempts: u32,
    /// Total timeout of one attempt, in seconds
    #[arg(long = "fetch-timeout-secs", env = "TECHBALANCE_FETCH_TIMEOUT_SECS",
          default_value_t = fetch().request_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    fetch_timeout_secs: u64,
    /// Requests in flight per source
    #[arg(long = "fetch-concurrency", env = "TECHBALANCE_FETCH_CONCURRENCY",
          default_value_t = fetch().concurrency,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    fetch_concurrency: usize,
    /// Share (0 to 1) of a source's current values one refresh may withdraw without an operator
    #[arg(long = "max-withdrawal-share", env = "TECHBALANCE_MAX_WITHDRAWAL_SHARE",
          default_value_t = DEFAULT_MAX_WITHDRAWAL_SHARE, value_parser = share)]
    max_withdrawal_share: f64,
}

/// A list of ISO3 codes.
#[derive(Clone, Debug)]
struct Countries(Vec<String>);

fn countries(list: &str) -> Result<Countries, String> {
    let codes: Vec<String> = list
        .split([',', ' ', ';'])
        .filter(|c| !c.is_empty())
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    if codes.is_empty()
        || codes
            .iter()
            .any(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        return Err("not a list of ISO 3166-1 alpha-3 codes (e.g. USA,CHN,DEU)".to_owned());
    }
    Ok(Countries(codes))
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if (0.0..=1.0).contains(&n) => Ok(n),
        _ => Err("not a fraction from 0 to 1".to_owned()),
    }
}

impl Variables {
    /// The baseline file (see [`baseline_file`]); fails when a named one does not exist.
    pub fn baseline(&self) -> Result<BaselineFile, String> {
        baseline_file(self.baseline.as_deref())
    }

    pub fn settings(self, base_urls: BTreeMap<String, String>) -> RefreshConfig {
        RefreshConfig {
            countries: self.countries.0,
            base_urls,
            from_year: self.from_year,
            worldbank_per_page: self.worldbank_per_page,
            fetch: FetchSettings {
                max_attempts: self.fetch_attempts,
                request_timeout: Duration::from_secs(self.fetch_timeout_secs),
                concurrency: self.fetch_concurrency,
                ..fetch()
            },
            max_withdrawal_share: self.max_withdrawal_share,
        }
    }
}

/// `named` (which must exist), else [`DEFAULT_BASELINE`] in the working directory when there is
/// one, else the bundled copy. A path is made absolute once, so that every load in this process
/// reads the same file.
fn baseline_file(named: Option<&Path>) -> Result<BaselineFile, String> {
    let path = match named {
        Some(path) => {
            if !path.is_file() {
                return Err(format!("no baseline file at {}", path.display()));
            }
            path.to_path_buf()
        }
        None if Path::new(DEFAULT_BASELINE).is_file() => PathBuf::from(DEFAULT_BASELINE),
        None => return Ok(BaselineFile::Bundled),
    };
    std::path::absolute(&path)
        .map(BaselineFile::Path)
        .map_err(|e| format!("cannot resolve {}: {e}", path.display()))
}
