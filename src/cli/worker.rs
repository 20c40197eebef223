//! `techbalance worker`: schedules and queued refreshes, without the API.

use techbalance::config::Config;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = techbalance::open_store(&config).await?;
    techbalance::seed_if_empty(&store, &config).await?;
    let background = techbalance::Background::start(store, &config)?;
    tracing::info!(worker = %background.worker_id, "worker running");
    super::serve::shutdown_signal().await;
    background.stop(config.shutdown_grace).await;
    tracing::info!("stopped");
    Ok(())
}
