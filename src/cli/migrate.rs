//! `techbalance migrate`: apply pending migrations.

use techbalance::config::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    techbalance::open_store(config).await?;
    println!("migrations applied");
    Ok(())
}
