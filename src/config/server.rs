//! The process: where it listens and how long it takes to stop.
//!
//! `TECHBALANCE_BIND`, `TECHBALANCE_SHUTDOWN_GRACE_SECS`.

use std::net::SocketAddr;
use std::time::Duration;

/// The address served when `TECHBALANCE_BIND` is unset.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// Listen address (`serve --bind` overrides it)
    #[arg(long = "bind", env = "TECHBALANCE_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// On SIGTERM/SIGINT, seconds in-flight requests and the current refresh may take to finish
    /// (0–3600)
    #[arg(long = "shutdown-grace-secs", env = "TECHBALANCE_SHUTDOWN_GRACE_SECS",
          default_value_t = 10, value_parser = clap::value_parser!(u64).range(..=3600))]
    shutdown_grace_secs: u64,
}

impl Variables {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
