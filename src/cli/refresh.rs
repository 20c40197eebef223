//! `techbalance refresh SOURCE|all [--accept-withdrawals]`: refresh now, outside the queue, with
//! a progress bar on a terminal. Accepting withdrawals is audited: in the transaction that
//! records them when the run succeeds, with the run's failure code when it does not.

use techbalance::config::Config;
use techbalance_worker::sources::{registry, SourceError};
use techbalance_worker::WorkerError;

pub async fn run(config: &Config, wanted: &str, accept_withdrawals: bool) -> anyhow::Result<()> {
    let known = techbalance::source_ids();
    if wanted != "all" && !known.contains(&wanted) {
        anyhow::bail!(
            "unknown source \"{wanted}\": use one of {} or all",
            known.join(", ")
        );
    }
    let store = techbalance::open_store(config).await?;
    techbalance::seed_if_empty(&store, config).await?;
    let actor = super::actor();
    let mut failed = false;
    for source in techbalance::sources(config)? {
        if wanted != "all" && source.id() != wanted {
            continue;
        }
        let bar = progress::Bar::new(source.id());
        let update = |p| bar.update(p);
        // Accepted withdrawals are audited in the transaction that records them.
        let outcome = if accept_withdrawals {
            let accepted =
                techbalance::refresh_accepted_by(&store, config, source.as_ref(), &actor, &update)
                    .await;
            if let Err(failure) = &accepted {
                // A refused acceptance is audited too, with the run's failure code.
                let arguments = serde_json::json!({
                    "source": source.id(),
                    "run": failure.run_id.to_string(),
                });
                let code = failure.error.classify().code;
                if let Err(e) = store
                    .record_audit(&actor, "acceptWithdrawals", &arguments.to_string(), code)
                    .await
                {
                    eprintln!("warning: the failed acceptance could not be audited: {e}");
                }
            }
            accepted
        } else {
            techbalance::refresh(&store, config, source.as_ref(), &update).await
        };
        bar.finish();
        match outcome {
            Ok(o) => {
                let s = o.summary;
                println!(
                    "{}: run {} {}: {} fetched, {} new, {} revised, {} withdrawn, {} unchanged, {} held ({} pages)",
                    source.id(), o.run_id, if s.held > 0 { "held" } else { "succeeded" },
                    s.fetched, s.inserted, s.revised, s.withdrawn, s.unchanged, s.held,
                    o.pages_fetched,
                );
                if let Some(notes) = &o.notes {
                    println!("{}: {notes}", source.id());
                }
            }
            Err(failure) => {
                // The one report of this failure (the pipeline's own log line is kept quiet).
                let error = failure.error.to_string();
                let error = error
                    .strip_prefix(&format!("{}: ", source.id()))
                    .unwrap_or(&error);
                eprintln!(
                    "error: {}: run {} failed: {error}",
                    source.id(),
                    failure.run_id
                );
                if let Some(hint) = unreachable_hint(&failure.error, source.id()) {
                    eprintln!("hint: {hint}");
                }
                failed = true;
            }
        }
    }
    if failed {
        Err(super::AlreadyReported.into())
    } else {
        Ok(())
    }
}

/// What to check when a source could not be reached at all.
fn unreachable_hint(error: &WorkerError, source: &str) -> Option<String> {
    let WorkerError::Source(SourceError::Unreachable { url, .. }) = error else {
        return None;
    };
    // The host alone: user information (credentials) stays out of the message.
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
        .unwrap_or("the source");
    let variable = registry::find(source)?.base_url?.variable;
    Some(format!(
        "{host} did not answer (no connection, a timeout or server errors, after every attempt): \
         check this machine's network or proxy, or point {variable} at a reachable copy; \
         TECHBALANCE_FETCH_ATTEMPTS and TECHBALANCE_FETCH_TIMEOUT_SECS set the patience"
    ))
}

mod progress {
    //! A progress bar on a terminal; plain log lines otherwise.
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::IsTerminal;
    use techbalance_worker::sources::Progress;

    pub struct Bar {
        bar: Option<ProgressBar>,
        source: &'static str,
    }

    impl Bar {
        /// A spinner until the source says how many pages there are: no bar claims to be
        /// full (or empty) before anything is known.
        pub fn new(source: &'static str) -> Self {
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = ProgressBar::new_spinner();
                if let Ok(style) = ProgressStyle::with_template("{prefix:>10} {spinner} {msg}") {
                    bar.set_style(style);
                }
                bar.set_prefix(source);
                bar.set_message("connecting");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
            Self { bar, source }
        }

        pub fn update(&self, progress: Progress) {
            match &self.bar {
                Some(bar) => {
                    let total = progress.pages_total.max(progress.pages_fetched);
                    if total == 0 {
                        bar.set_message(format!("{} observations", progress.observations));
                        return;
                    }
                    if bar.length().is_none() {
                        bar.disable_steady_tick();
                        bar.set_message("");
                        if let Ok(style) = ProgressStyle::with_template(
                            "{prefix:>10} [{bar:30}] {pos}/{len} pages {msg}",
                        ) {
                            bar.set_style(style.progress_chars("=> "));
                        }
                    }
                    bar.set_length(u64::from(total));
                    bar.set_position(u64::from(progress.pages_fetched));
                    bar.set_message(format!("{} observations", progress.observations));
                }
                None => tracing::info!(
                    source = self.source,
                    pages = progress.pages_fetched,
                    of = progress.pages_total,
                    observations = progress.observations,
                    "fetched"
                ),
            }
        }

        pub fn finish(&self) {
            if let Some(bar) = &self.bar {
                bar.finish_and_clear();
            }
        }
    }
}
