//! Closed vocabularies stored as text (run status and trigger, sector leader, ownership) are read
//! back as typed values: a stored value the code does not know fails the read as an internal
//! error, never turns into a plausible guess (an unknown trigger once read as `MANUAL`).

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use sea_orm::ConnectionTrait;
use std::time::Duration;
use techbalance_store::runs::RunTrigger;

both_backends!(an_unknown_stored_value_is_an_internal_error_not_a_guess);

async fn an_unknown_stored_value_is_an_internal_error_not_a_guess(backend: Backend) {
    // The rows are changed behind the service's back (no change notice), so answers must not
    // come from the response cache.
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_RESPONSE_CACHE_BYTES", "0")])
        .start()
        .await;
    let run = app
        .store
        .start_run(
            "baseline",
            RunTrigger::Manual,
            "test",
            Duration::from_secs(60),
        )
        .await
        .expect("run");
    let query = format!(r#"{{ refreshRun(id: "{}") {{ trigger status }} }}"#, run.id);
    assert_eq!(
        app.data(&query).await["refreshRun"],
        serde_json::json!({ "trigger": "MANUAL", "status": "RUNNING" }),
        "the stored values read back"
    );
    let tamper = [
        (
            format!(
                "UPDATE refresh_runs SET \"trigger\" = 'cron' WHERE id = {}",
                run.id
            ),
            query.clone(),
        ),
        (
            format!(
                "UPDATE refresh_runs SET \"trigger\" = 'manual', status = 'paused' WHERE id = {}",
                run.id
            ),
            query,
        ),
        (
            "UPDATE sectors SET leader = 'EU' WHERE slug = 'artificial-intelligence'".to_owned(),
            r#"{ sector(slug: "artificial-intelligence") { leader } }"#.to_owned(),
        ),
        (
            "UPDATE companies SET ownership = 'COOPERATIVE' WHERE slug = 'apple'".to_owned(),
            r#"{ companies(first: 100) { edges { node { slug ownership } } } }"#.to_owned(),
        ),
    ];
    for (update, query) in tamper {
        let changed = app
            .store
            .connection()
            .execute_unprepared(&update)
            .await
            .expect("tamper");
        assert_eq!(changed.rows_affected(), 1, "{update}");
        let body = app.post(&query, serde_json::json!({})).await;
        assert_eq!(
            code(&body["errors"][0]),
            "INTERNAL_SERVER_ERROR",
            "{update}: {body}"
        );
        assert!(
            body["data"].is_null()
                || body["data"]
                    .as_object()
                    .is_some_and(|d| d.values().all(serde_json::Value::is_null)),
            "{update}: no value is made up: {body}"
        );
    }
}
