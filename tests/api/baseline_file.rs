//! One place the baseline comes from: the configured file is read at every load, so an edit
//! seeded by another process is what the server's own baseline refresh finds too (nothing is
//! reverted), every run names the file and its hash, and the server's subscribers hear of the
//! other process's change (SQLite included).

use crate::both_backends;
use crate::seed::tempfile_path::TempPath;
use crate::subscriptions::{acked, receive, send, wait_for_listening, wait_for_subscriptions};
use crate::support::{Backend, TestApp};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;
use techbalance_worker::runner::{Runner, RunnerSettings};
use techbalance_worker::sources::baseline::BUNDLED;

both_backends!(an_edit_seeded_by_another_process_reaches_subscribers_and_is_not_reverted);

const FIGURE: &str = "metric = \"rd_intensity\"\ncountry = \"USA\"\nyear = 2024\nvalue = 3.5\n";

/// SHA-256 of `text`, lower-case hex (as run notes give it).
pub(crate) fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn an_edit_seeded_by_another_process_reaches_subscribers_and_is_not_reverted(
    backend: Backend,
) {
    let file = TempPath::new("baseline.toml", BUNDLED);
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_BASELINE", file.as_str())])
        .start()
        .await;
    // The server's worker, set up before the edit as a running server's is.
    let runner = Runner::new(
        app.store.clone(),
        techbalance::sources(&app.config).expect("sources"),
        RunnerSettings {
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(50),
            retry: app.config.worker.retry,
            countries: vec!["USA".into(), "CHN".into()],
            max_withdrawal_share: app.config.refresh.max_withdrawal_share,
        },
    );
    let mut socket = acked(&app).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query":
            r#"subscription { observationRevised(metric: "rd_intensity", countries: ["USA"]) { kind year previousValue value source { id } } }"# } }),
    )
    .await;
    wait_for_subscriptions(&app, 1).await;
    wait_for_listening(&app, 1).await;

    // Edit the file; another process seeds it.
    assert!(BUNDLED.contains(FIGURE), "the bundled baseline changed");
    let edited = BUNDLED.replacen(FIGURE, &FIGURE.replace("3.5", "3.45"), 1);
    std::fs::write(file.as_str(), &edited).expect("edit");
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .arg("seed")
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_BASELINE", file.as_str())
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .expect("techbalance seed");
    let printed = String::from_utf8_lossy(&seeded.stdout);
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    assert!(printed.contains("0 new, 1 revised"), "{printed}");

    // The server's subscriber hears of it within 2 s.
    let message = tokio::time::timeout(Duration::from_secs(2), receive(&mut socket))
        .await
        .expect("the revision reached the subscriber within 2 s");
    assert_eq!(
        message["payload"]["data"]["observationRevised"],
        json!({ "kind": "REVISED", "year": 2024, "previousValue": 3.5, "value": 3.45, "source": { "id": "baseline" } })
    );

    // The server's own refresh of the baseline reads the same file: nothing to change.
    let token = app.token("ops").await;
    let triggered = app
        .post_as(
            &token,
            r#"mutation { triggerRefresh(source: "baseline") { id } }"#,
        )
        .await;
    let run_id = triggered["data"]["triggerRefresh"]["id"]
        .as_str()
        .expect("run id")
        .to_owned();
    assert!(runner.run_one().await.expect("run one"), "claimed");
    let run = app
        .data(&format!(
            r#"{{ refreshRun(id: "{run_id}") {{ status revised unchanged notes }} }}"#
        ))
        .await;
    assert_eq!(
        run["refreshRun"],
        json!({ "status": "SUCCEEDED", "revised": 0, "unchanged": 19,
                "notes": format!("baseline read from {} (sha256 {})", file.as_str(), sha256(&edited)) })
    );
    let latest = app
        .data(r#"{ metric(slug: "rd_intensity") { latest(country: "USA") { value } } }"#)
        .await;
    assert_eq!(latest["metric"]["latest"]["value"], 3.45, "not reverted");
}
