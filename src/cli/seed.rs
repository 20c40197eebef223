//! `techbalance seed`: load the baseline (idempotent; an edited figure becomes a new version).

use techbalance::config::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let store = techbalance::open_store(config).await?;
    let outcome = techbalance::seed_run(&store, config).await?;
    let summary = outcome.summary;
    if let Some(notes) = &outcome.notes {
        println!("{notes}");
    }
    println!(
        "baseline loaded: {} new, {} revised, {} withdrawn, {} unchanged",
        summary.inserted, summary.revised, summary.withdrawn, summary.unchanged
    );
    Ok(())
}
