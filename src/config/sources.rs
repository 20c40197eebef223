//! Where each public source is fetched from: one variable per source, defaulting to the source's
//! own base URL (declared by the source module in the worker crate).
//!
//! `TECHBALANCE_WORLDBANK_URL`, `TECHBALANCE_OECD_URL`.

use techbalance_worker::sources::{oecd, worldbank};

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// World Bank Indicators API base URL
    #[arg(long = "worldbank-url", env = "TECHBALANCE_WORLDBANK_URL",
          default_value = worldbank::DEFAULT_BASE_URL, value_parser = base_url)]
    pub worldbank_url: String,
    /// OECD SDMX REST base URL
    #[arg(long = "oecd-url", env = "TECHBALANCE_OECD_URL", default_value = oecd::DEFAULT_BASE_URL,
          value_parser = base_url)]
    pub oecd_url: String,
}

/// An http(s) URL, without a trailing slash.
fn base_url(value: &str) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err("not an http(s) URL".to_owned())
    }
}
