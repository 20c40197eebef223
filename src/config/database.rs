//! The database: where it is and how the pool waits for it.
//!
//! `DATABASE_URL`, `TECHBALANCE_DB_MAX_CONNECTIONS`, `TECHBALANCE_DB_TIMEOUT_SECS`.

use std::time::Duration;
use techbalance_store::ConnectionSettings;

/// The embedded database used when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://techbalance.db?mode=rwc";

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// `postgres://user:pass@host/db` for PostgreSQL, `sqlite:…` for an embedded file
    /// (created if missing unless a `mode` is given)
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL,
          value_parser = supported_url)]
    url: String,
    /// Connection pool size (at least 1)
    #[arg(long = "db-max-connections", env = "TECHBALANCE_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    db_max_connections: u32,
    /// Connect / pool acquire timeout in seconds (1–600)
    #[arg(long = "db-timeout-secs", env = "TECHBALANCE_DB_TIMEOUT_SECS", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout_secs: u64,
}

impl Variables {
    pub fn settings(self) -> ConnectionSettings {
        ConnectionSettings {
            url: created_if_missing(self.url),
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.timeout_secs),
        }
    }
}

fn supported_url(url: &str) -> Result<String, String> {
    if url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.starts_with("sqlite:")
    {
        return Ok(url.to_owned());
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(format!(
        "unsupported database \"{scheme}\": use postgres://… or sqlite:…"
    ))
}

/// A SQLite file URL without a `mode` opens read-write and creates the file (`mode=rwc`), as
/// the default does: a path the user names just works. Other URLs are kept as they are.
fn created_if_missing(url: String) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url;
    };
    if rest.contains(":memory:") || rest.contains("mode=") {
        return url;
    }
    let separator = if rest.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}
