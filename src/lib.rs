//! The `techbalance` binary's wiring: configuration, database start-up, and the HTTP server.
//! `main.rs` parses the command line and calls into here; the end-to-end tests do the same.

pub mod config;

use anyhow::Context as _;
use config::Config;
use std::future::Future;
use techbalance_store::revisions::RecordSummary;
use techbalance_store::Store;
use techbalance_worker::sources::baseline::Baseline;
use tokio::net::TcpListener;

/// Connects and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database).await.with_context(|| {
        format!(
            "cannot open the database at {}",
            redact(&config.database.url)
        )
    })?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

/// The configured baseline: the file named by `TECHBALANCE_BASELINE`, or the bundled one.
pub fn baseline(config: &Config) -> anyhow::Result<Baseline> {
    Ok(match &config.baseline_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("TECHBALANCE_BASELINE: cannot read {}", path.display()))?;
            Baseline::parse(&text, &path.display().to_string())?
        }
        None => Baseline::bundled()?,
    })
}

pub async fn seed(store: &Store, config: &Config) -> anyhow::Result<RecordSummary> {
    let baseline = baseline(config)?;
    Ok(techbalance_worker::seed(store, &baseline, techbalance_store::now()).await?)
}

/// Seeds a database that has no data yet; leaves any other alone.
pub async fn seed_if_empty(store: &Store, config: &Config) -> anyhow::Result<()> {
    if store.is_empty().await? {
        tracing::info!("empty database: loading the baseline");
        seed(store, config).await?;
    }
    Ok(())
}

/// The HTTP application for `store`.
pub fn app(store: Store, config: &Config) -> axum::Router {
    let schema = techbalance_api::build_schema(store.clone(), config.limits);
    techbalance_api::router(schema, store, config.http)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    store: Store,
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = app(store, config);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            super::redact("postgres://tb:secret@localhost:5432/tb"),
            "postgres://tb:***@localhost:5432/tb"
        );
        assert_eq!(
            super::redact("sqlite://techbalance.db?mode=rwc"),
            "sqlite://techbalance.db?mode=rwc"
        );
    }
}
