//! A source that answers 429 or 503 with `Retry-After` (delay-seconds or an HTTP date) is not
//! called again before that time: the run waits in the queue until then (capped), and says when
//! and why; other runs of the source wait for it too.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use serde_json::{json, Value};
use std::time::Duration;
use techbalance_store::entities::refresh_run;
use techbalance_store::queue::RetryPolicy;
use techbalance_store::runs::{RunFailure, RunStatus, WaitReason};
use techbalance_store::Timestamp;
use techbalance_worker::runner::{Runner, RunnerSettings};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

both_backends!(a_source_asking_to_retry_after_keeps_the_run_waiting_until_then);

const LEASE: Duration = Duration::from_secs(30);

/// Queues a World Bank run and lets a worker with `retry` execute it against a source that
/// answers `status` with `Retry-After: retry_after`; returns the run afterwards and the instants
/// around the attempt.
async fn one_throttled_attempt(
    app: &TestApp,
    server: &MockServer,
    status: u16,
    retry_after: &str,
    retry: RetryPolicy,
) -> (refresh_run::Model, Timestamp, Timestamp) {
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", retry_after))
        .mount(server)
        .await;
    let (run, created) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("enqueue");
    assert!(created);
    let runner = Runner::new(
        app.store.clone(),
        techbalance::sources(&app.config).expect("sources"),
        RunnerSettings {
            lease: LEASE,
            poll_interval: Duration::from_millis(50),
            retry,
            countries: vec!["USA".into(), "CHN".into()],
            max_withdrawal_share: app.config.refresh.max_withdrawal_share,
        },
    );
    let before = techbalance_store::now();
    assert!(runner.run_one().await.expect("run one"), "claimed");
    let after = techbalance_store::now();
    let run = app.store.run(run.id).await.expect("run").expect("exists");
    (run, before, after)
}

/// The run is not claimed a second before `not_before`, and is at it; then it is left failed
/// so that the next case starts clean.
async fn waits_exactly_until(app: &TestApp, run: &refresh_run::Model) {
    let not_before = run.not_before.expect("a time to wait for");
    let early = not_before - chrono::Duration::seconds(1);
    assert_eq!(
        app.store
            .claim_run_at("probe", LEASE, early)
            .await
            .expect("claim"),
        None,
        "claimed before {not_before}"
    );
    let claimed = app
        .store
        .claim_run_at("probe", LEASE, not_before)
        .await
        .expect("claim")
        .expect("due at the time asked for");
    assert_eq!((claimed.id, claimed.attempt), (run.id, 2));
    app.store
        .fail_run(
            run.id,
            "probe",
            &RunFailure {
                code: "INTERRUPTED",
                message: "done with it".into(),
                detail: "done with it".into(),
            },
            RetryPolicy::FINAL,
            None,
        )
        .await
        .expect("fail");
}

async fn a_source_asking_to_retry_after_keeps_the_run_waiting_until_then(backend: Backend) {
    let server = MockServer::start().await;
    let app = TestApp::builder(backend)
        .with_vars(&[
            ("TECHBALANCE_WORLDBANK_URL", &server.uri()),
            ("TECHBALANCE_FETCH_ATTEMPTS", "1"),
        ])
        .start()
        .await;
    let policy = app.config.worker.retry;
    assert_eq!(
        policy.max_retry_after,
        Duration::from_secs(6 * 3600),
        "the default cap"
    );
    let hour = chrono::Duration::seconds(3600);

    // Delay-seconds: an hour from the answer, not the 60 s backoff.
    let (run, before, after) = one_throttled_attempt(&app, &server, 429, "3600", policy).await;
    let not_before = run.not_before.expect("not_before");
    assert_eq!(
        (run.status, run.attempt, run.wait_reason),
        (RunStatus::Queued, 2, Some(WaitReason::RetryAfter))
    );
    assert!(
        not_before >= before + hour - chrono::Duration::seconds(1) && not_before <= after + hour,
        "{not_before} is not an hour after the attempt ({before} … {after})"
    );
    assert!(
        run.error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 429") && e.contains("3600s")),
        "{:?}",
        run.error
    );
    // What an operator sees.
    let seen = app
        .data("{ refreshRuns(status: QUEUED) { edges { node { id attempt notBefore waitReason } } } }")
        .await;
    let node = &seen["refreshRuns"]["edges"][0]["node"];
    assert_eq!(
        (&node["id"], &node["attempt"], &node["waitReason"]),
        (&json!(run.id.to_string()), &json!(2), &json!("RETRY_AFTER"))
    );
    let shown =
        chrono::DateTime::parse_from_rfc3339(node["notBefore"].as_str().unwrap_or_default())
            .expect("notBefore");
    assert_eq!(shown, not_before);
    // The pause holds for the source: a scheduled run queued meanwhile waits for it too.
    let schedule = app
        .store
        .schedules()
        .await
        .expect("schedules")
        .into_iter()
        .find(|s| s.source == "worldbank")
        .expect("the default World Bank schedule");
    let scheduled = app
        .store
        .enqueue_scheduled(schedule.id, "worldbank", techbalance_store::now())
        .await
        .expect("enqueue")
        .expect("queued");
    assert_eq!(
        app.store
            .claim_run_at("probe", LEASE, techbalance_store::now())
            .await
            .expect("claim"),
        None,
        "the source asked for a pause"
    );
    waits_exactly_until(&app, &run).await;
    app.store
        .cancel_run(scheduled.id)
        .await
        .expect("cancel")
        .expect("the scheduled run was still queued");
    let finished = app
        .data(&format!(
            r#"{{ refreshRun(id: "{}") {{ notBefore waitReason }} }}"#,
            run.id
        ))
        .await;
    assert_eq!(
        finished["refreshRun"],
        json!({ "notBefore": Value::Null, "waitReason": Value::Null }),
        "only a queued run waits"
    );

    // An HTTP date (a 503 this time): exactly that instant.
    let asked = (techbalance_store::now() + chrono::Duration::hours(2))
        .with_timezone(&chrono::Utc)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let (run, _, _) = one_throttled_attempt(&app, &server, 503, &asked, policy).await;
    let expected = chrono::DateTime::parse_from_rfc2822(&asked)
        .expect("HTTP date")
        .to_utc();
    assert_eq!(
        (run.not_before, run.wait_reason),
        (Some(expected), Some(WaitReason::RetryAfter))
    );
    waits_exactly_until(&app, &run).await;

    // Longer than the cap: the cap.
    let capped = RetryPolicy {
        max_retry_after: Duration::from_secs(600),
        ..policy
    };
    let (run, before, after) = one_throttled_attempt(&app, &server, 429, "86400", capped).await;
    let not_before = run.not_before.expect("not_before");
    let cap = chrono::Duration::seconds(600);
    assert!(
        not_before >= before + cap && not_before <= after + cap,
        "{not_before} is not the 10-minute cap after the attempt ({before} … {after})"
    );
    assert_eq!(run.wait_reason, Some(WaitReason::RetryAfter));
    waits_exactly_until(&app, &run).await;

    // A plain failure waits for the backoff, and says so.
    let (run, _, _) = one_throttled_attempt(&app, &server, 404, "0", policy).await;
    assert_eq!(
        run.wait_reason,
        Some(WaitReason::Backoff),
        "{:?}",
        run.error
    );
}
