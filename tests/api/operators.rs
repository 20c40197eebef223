//! Operator control: every mutation needs a valid token, changes nothing without one, and is
//! audited; the run queue deduplicates, claims, retries and cancels.

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use serde_json::{json, Value};
use std::time::Duration;
use techbalance_store::queue::{AfterFailure, RetryPolicy};
use techbalance_store::runs::RunFailure;
use techbalance_worker::runner::{Runner, RunnerSettings};

both_backends!(
    every_mutation_refuses_missing_wrong_and_revoked_tokens_and_changes_nothing,
    every_mutation_with_a_valid_token_changes_what_it_says_and_is_audited,
    an_invalid_cron_or_an_unknown_source_is_bad_user_input,
    a_second_trigger_while_one_is_queued_returns_the_same_run,
    only_a_queued_run_can_be_cancelled,
    default_schedules_exist_from_the_first_start,
    a_claimed_run_is_executed_once_and_its_source_is_held,
    a_run_whose_lease_expired_is_claimed_again,
    failed_runs_are_retried_with_backoff_then_left_failed,
    a_worker_executes_a_queued_run,
    creating_an_identical_schedule_returns_the_existing_one,
);

pub(crate) const MUTATIONS: &[&str] = &[
    r#"mutation { triggerRefresh(source: "baseline") { id } }"#,
    r#"mutation { createSchedule(source: "worldbank", cron: "0 30 2 * * *") { id } }"#,
    r#"mutation { updateSchedule(id: "1", enabled: false) { id } }"#,
    r#"mutation { deleteSchedule(id: "1") }"#,
    r#"mutation { cancelRun(id: "1") { id } }"#,
];

/// Everything an operator could have changed, and the audit entries of changes (refused
/// attempts, which have an address, left out).
async fn state(app: &TestApp) -> Value {
    let data = app
        .data("{ schedules { id cron enabled } refreshRuns(first: 100) { totalCount edges { node { id status } } } }")
        .await;
    let changes = app
        .store
        .audit_log(None, 1000)
        .await
        .expect("audit log")
        .into_iter()
        .filter(|entry| entry.address.is_none())
        .count();
    json!({ "data": data, "audit": changes })
}

async fn every_mutation_refuses_missing_wrong_and_revoked_tokens_and_changes_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let revoked = app.token("former-operator").await;
    assert!(app
        .store
        .revoke_token("former-operator")
        .await
        .expect("revoke"));
    app.store
        .enqueue_manual("worldbank")
        .await
        .expect("a queued run to cancel");
    let before = state(&app).await;
    // Twice each: refused attempts are counted, not listed.
    for mutation in MUTATIONS.iter().chain(MUTATIONS) {
        let body = app.post(mutation, Value::Null).await;
        assert_eq!(
            code(&body["errors"][0]),
            "UNAUTHENTICATED",
            "no token: {mutation}: {body}"
        );
        assert_eq!(body["data"], Value::Null, "{mutation}");
        for (token, expected) in [
            ("tb_wrong", "UNAUTHENTICATED"),
            (revoked.as_str(), "FORBIDDEN"),
        ] {
            let body = app.post_as(token, mutation).await;
            assert_eq!(code(&body["errors"][0]), expected, "{mutation}: {body}");
        }
    }
    let error = app.post_as("tb_wrong", "{ auditLog { totalCount } }").await;
    assert_eq!(code(&error["errors"][0]), "UNAUTHENTICATED");
    assert_eq!(
        state(&app).await,
        before,
        "a refused mutation changed something"
    );
    // Every refused attempt is in the audit log: one entry per caller, address, action and
    // outcome, counting its attempts.
    let token = app.token("auditor").await;
    let log = app
        .post_as(&token, "{ auditLog(first: 100) { edges { node { actor action outcome attempts address arguments } } } }")
        .await;
    let mut refused: Vec<(String, String, String, i64)> = log["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"])
        .inspect(|node| assert_eq!(node["address"], "127.0.0.1", "{node}"))
        .map(|node| {
            let text = |key: &str| node[key].as_str().expect(key).to_owned();
            let attempts = node["attempts"].as_i64().expect("attempts");
            (text("actor"), text("action"), text("outcome"), attempts)
        })
        .collect();
    refused.sort();
    let mut expected = vec![(
        "invalid token".to_owned(),
        "auditLog".to_owned(),
        "UNAUTHENTICATED".to_owned(),
        1,
    )];
    for action in [
        "cancelRun",
        "createSchedule",
        "deleteSchedule",
        "triggerRefresh",
        "updateSchedule",
    ] {
        for (actor, outcome) in [
            ("anonymous", "UNAUTHENTICATED"),
            ("former-operator", "FORBIDDEN"),
            ("invalid token", "UNAUTHENTICATED"),
        ] {
            expected.push((actor.into(), action.into(), outcome.into(), 2));
        }
    }
    expected.sort();
    assert_eq!(refused, expected, "{log}");
}

async fn every_mutation_with_a_valid_token_changes_what_it_says_and_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("alice").await;
    let ok = |body: &Value| {
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    };

    let run = ok(&app.post_as(&token, r#"mutation { triggerRefresh(source: "worldbank") { id status trigger scheduledFor attempt source { id } } }"#).await);
    assert_eq!(run["triggerRefresh"]["status"], "QUEUED");
    assert_eq!(run["triggerRefresh"]["trigger"], "MANUAL");
    assert_eq!(run["triggerRefresh"]["scheduledFor"], Value::Null);
    assert_eq!(run["triggerRefresh"]["attempt"], 1);
    let queued = app
        .data("{ refreshRuns(status: QUEUED) { totalCount } }")
        .await;
    assert_eq!(queued["refreshRuns"]["totalCount"], 1);

    let created = ok(&app.post_as(&token, r#"mutation { createSchedule(source: "worldbank", cron: "0 30 2 * * *", timezone: "Europe/Paris") { id source { id } cron timezone enabled createdBy nextFireAt } }"#).await);
    let schedule = &created["createSchedule"];
    assert_eq!(
        (
            schedule["cron"].as_str(),
            schedule["timezone"].as_str(),
            schedule["createdBy"].as_str()
        ),
        (Some("0 30 2 * * *"), Some("Europe/Paris"), Some("alice"))
    );
    assert!(schedule["nextFireAt"].is_string());
    let id = schedule["id"].as_str().expect("id").to_owned();

    let updated = ok(&app.post_as(&token, &format!(r#"mutation {{ updateSchedule(id: "{id}", cron: "0 0 5 * * *", enabled: false) {{ cron enabled nextFireAt }} }}"#)).await);
    assert_eq!(
        updated["updateSchedule"],
        json!({ "cron": "0 0 5 * * *", "enabled": false, "nextFireAt": null })
    );

    let run_id = run["triggerRefresh"]["id"]
        .as_str()
        .expect("run id")
        .to_owned();
    let cancelled = ok(&app
        .post_as(
            &token,
            &format!(r#"mutation {{ cancelRun(id: "{run_id}") {{ status }} }}"#),
        )
        .await);
    assert_eq!(cancelled["cancelRun"]["status"], "CANCELLED");

    let deleted = ok(&app
        .post_as(
            &token,
            &format!(r#"mutation {{ deleteSchedule(id: "{id}") }}"#),
        )
        .await);
    assert_eq!(deleted["deleteSchedule"], id.as_str());
    let schedules = app.data("{ schedules { id } }").await;
    assert!(!schedules["schedules"]
        .as_array()
        .expect("schedules")
        .iter()
        .any(|s| s["id"] == id.as_str()));

    let audit = ok(&app.post_as(&token, "{ auditLog(first: 10) { totalCount edges { node { actor action arguments outcome at } } } }").await);
    let log = &audit["auditLog"];
    assert_eq!(log["totalCount"], 5);
    let actions: Vec<&str> = log["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "deleteSchedule",
            "cancelRun",
            "updateSchedule",
            "createSchedule",
            "triggerRefresh"
        ],
        "newest first"
    );
    let create = &log["edges"][3]["node"];
    assert_eq!(create["actor"], "alice");
    assert_eq!(create["outcome"], "ok");
    assert_eq!(create["arguments"]["cron"], "0 30 2 * * *");
    assert_eq!(create["arguments"]["timezone"], "Europe/Paris");
}

async fn an_invalid_cron_or_an_unknown_source_is_bad_user_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("bob").await;
    let schedules_before = app.data("{ schedules { id } }").await;
    for mutation in [
        r#"mutation { createSchedule(source: "worldbank", cron: "0 3 * * *") { id } }"#,
        r#"mutation { createSchedule(source: "worldbank", cron: "whenever") { id } }"#,
        r#"mutation { createSchedule(source: "worldbank", cron: "0 0 3 * * *", timezone: "Mars/Olympus") { id } }"#,
        r#"mutation { createSchedule(source: "myspace", cron: "0 0 3 * * *") { id } }"#,
        r#"mutation { triggerRefresh(source: "myspace") { id } }"#,
        r#"mutation { updateSchedule(id: "1", cron: "61 * * * * *") { id } }"#,
    ] {
        let body = app.post_as(&token, mutation).await;
        assert_eq!(
            code(&body["errors"][0]),
            "BAD_USER_INPUT",
            "{mutation}: {body}"
        );
    }
    assert_eq!(app.data("{ schedules { id } }").await, schedules_before);
    let audit = app
        .post_as(&token, "{ auditLog { edges { node { outcome } } } }")
        .await;
    let outcomes: Vec<&str> = audit["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes,
        vec!["BAD_USER_INPUT"; 6],
        "refusals are audited too"
    );
}

async fn a_second_trigger_while_one_is_queued_returns_the_same_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("carol").await;
    let first = app
        .post_as(
            &token,
            r#"mutation { triggerRefresh(source: "oecd-msti") { id } }"#,
        )
        .await;
    let second = app
        .post_as(
            &token,
            r#"mutation { triggerRefresh(source: "oecd-msti") { id } }"#,
        )
        .await;
    assert_eq!(
        first["data"]["triggerRefresh"]["id"],
        second["data"]["triggerRefresh"]["id"]
    );
    let other = app
        .post_as(
            &token,
            r#"mutation { triggerRefresh(source: "worldbank") { id } }"#,
        )
        .await;
    assert_ne!(
        first["data"]["triggerRefresh"]["id"],
        other["data"]["triggerRefresh"]["id"]
    );
    let queued = app
        .data("{ refreshRuns(status: QUEUED) { totalCount } }")
        .await;
    assert_eq!(queued["refreshRuns"]["totalCount"], 2);
}

async fn only_a_queued_run_can_be_cancelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("dave").await;
    // The seed's own run has succeeded.
    let runs = app
        .data(r#"{ refreshRuns(source: "baseline") { edges { node { id status } } } }"#)
        .await;
    let done = runs["refreshRuns"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = app
        .post_as(
            &token,
            &format!(r#"mutation {{ cancelRun(id: "{done}") {{ id }} }}"#),
        )
        .await;
    assert_eq!(code(&body["errors"][0]), "BAD_USER_INPUT", "{body}");
    let body = app
        .post_as(&token, r#"mutation { cancelRun(id: "999999") { id } }"#)
        .await;
    assert_eq!(code(&body["errors"][0]), "NOT_FOUND", "{body}");
}

async fn default_schedules_exist_from_the_first_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let data = app.data("{ schedules { source { id } cron timezone enabled createdBy nextFireAt lastFiredAt } }").await;
    let schedules = data["schedules"].as_array().expect("schedules");
    let summary: Vec<(&str, &str)> = schedules
        .iter()
        .map(|s| {
            (
                s["source"]["id"].as_str().expect("source"),
                s["cron"].as_str().expect("cron"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("worldbank", "0 0 3 * * *"), ("oecd-msti", "0 0 4 * * Mon")],
        "World Bank daily, OECD weekly, baseline never"
    );
    assert!(schedules.iter().all(|s| s["timezone"] == "UTC"
        && s["enabled"] == true
        && s["createdBy"] == "system"
        && s["nextFireAt"].is_string()));
}

const LEASE: Duration = Duration::from_secs(2);

async fn a_claimed_run_is_executed_once_and_its_source_is_held(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (first, _) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("enqueue");
    let claimed = app
        .store
        .claim_run("worker-a", LEASE)
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(
        (claimed.id, claimed.status.as_str(), claimed.claims),
        (first.id, "running", 1)
    );
    // Another worldbank run queued meanwhile must wait: one run per source at a time.
    let (second, created) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("enqueue");
    assert!(created && second.id != first.id);
    assert_eq!(
        app.store.claim_run("worker-b", LEASE).await.expect("claim"),
        None
    );
    // Another source is not held up.
    app.store
        .enqueue_manual("oecd-msti")
        .await
        .expect("enqueue");
    let other = app
        .store
        .claim_run("worker-b", LEASE)
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(other.source, "oecd-msti");
}

async fn a_run_whose_lease_expired_is_claimed_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (run, _) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("enqueue");
    app.store
        .claim_run("dead-worker", Duration::from_millis(300))
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(
        app.store
            .claim_run("live-worker", LEASE)
            .await
            .expect("claim"),
        None,
        "the lease still holds"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = app
        .store
        .claim_run("live-worker", LEASE)
        .await
        .expect("claim")
        .expect("reclaimed");
    assert_eq!(
        (again.id, again.claims, again.worker.as_deref()),
        (run.id, 2, Some("live-worker"))
    );
    assert!(
        !app.store
            .renew_lease(run.id, "dead-worker", LEASE)
            .await
            .expect("renew"),
        "the dead worker lost it"
    );
}

async fn failed_runs_are_retried_with_backoff_then_left_failed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let policy = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(400),
        max_retry_after: Duration::ZERO,
    };
    let (run, _) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("enqueue");
    app.store
        .claim_run("w", LEASE)
        .await
        .expect("claim")
        .expect("run");
    let after = app
        .store
        .fail_run(run.id, "w", &unreachable("boom"), policy, None)
        .await
        .expect("fail");
    let AfterFailure::Retry { attempt, .. } = after else {
        panic!("expected a retry, got {after:?}")
    };
    assert_eq!(attempt, 2);
    assert_eq!(
        app.store.claim_run("w", LEASE).await.expect("claim"),
        None,
        "not before the backoff"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let retried = app
        .store
        .claim_run("w", LEASE)
        .await
        .expect("claim")
        .expect("due now");
    assert_eq!((retried.id, retried.attempt), (run.id, 2));
    let after = app
        .store
        .fail_run(run.id, "w", &unreachable("boom again"), policy, None)
        .await
        .expect("fail");
    assert_eq!(after, AfterFailure::Failed);
    let failed = app.store.run(run.id).await.expect("run").expect("exists");
    assert_eq!(
        (
            failed.status.as_str(),
            failed.error_code.as_deref(),
            failed.error.as_deref(),
            failed.error_detail.as_deref()
        ),
        (
            "failed",
            Some("UPSTREAM_UNREACHABLE"),
            Some("worldbank: the source could not be reached"),
            Some("worldbank: GET …: boom again")
        )
    );
}

/// A failure as the worker records it for an unreachable World Bank.
fn unreachable(problem: &str) -> RunFailure {
    RunFailure {
        code: "UPSTREAM_UNREACHABLE",
        message: "worldbank: the source could not be reached".into(),
        detail: format!("worldbank: GET …: {problem}"),
    }
}

async fn a_worker_executes_a_queued_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (run, _) = app.store.enqueue_manual("baseline").await.expect("enqueue");
    let settings = RunnerSettings {
        lease: LEASE,
        poll_interval: Duration::from_millis(50),
        retry: RetryPolicy::FINAL,
        countries: vec!["USA".into(), "CHN".into()],
        max_withdrawal_share: techbalance_worker::pipeline::DEFAULT_MAX_WITHDRAWAL_SHARE,
    };
    let runner = Runner::new(
        app.store.clone(),
        techbalance::sources(&app.config).expect("sources"),
        settings,
    );
    assert!(
        runner.run_one().await.expect("run one"),
        "the queued run was claimed"
    );
    let done = app.store.run(run.id).await.expect("run").expect("exists");
    assert_eq!(
        (done.status.as_str(), done.claims, done.unchanged),
        ("succeeded", 1, 16)
    );
    assert!(!runner.run_one().await.expect("run one"), "nothing left");
}

async fn creating_an_identical_schedule_returns_the_existing_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("alice").await;
    let create = |cron: &str| {
        format!(
            r#"mutation {{ createSchedule(source: "oecd-msti", cron: "{cron}", timezone: "Europe/Paris") {{ id cron timezone nextFireAt }} }}"#
        )
    };
    let first = app.post_as(&token, &create("0 30 2 * * *")).await;
    let second = app.post_as(&token, &create("0  30 2 * * * ")).await;
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(
        first["data"], second["data"],
        "the same schedule, written the same"
    );
    let schedule = &first["data"]["createSchedule"];
    let next = schedule["nextFireAt"].as_str().expect("nextFireAt");
    let next = chrono::DateTime::parse_from_rfc3339(next).expect("RFC 3339");
    assert_eq!(
        next.timestamp_subsec_nanos(),
        0,
        "whole seconds: {schedule}"
    );
    let local = next.with_timezone(&chrono_tz::Europe::Paris);
    assert_eq!(
        local.format("%H:%M:%S").to_string(),
        "02:30:00",
        "{schedule}"
    );
    let all = app.data("{ schedules { source { id } cron } }").await;
    let oecd_at_0230 = all["schedules"]
        .as_array()
        .expect("schedules")
        .iter()
        .filter(|s| s["source"]["id"] == "oecd-msti" && s["cron"] == "0 30 2 * * *")
        .count();
    assert_eq!(oecd_at_0230, 1, "{all}");

    // Another timing is another schedule; changing it into the first one is refused.
    let other = app.post_as(&token, &create("0 0 4 * * *")).await;
    let other_id = other["data"]["createSchedule"]["id"].as_str().expect("id");
    assert_ne!(Some(other_id), schedule["id"].as_str());
    let refused = app
        .post_as(
            &token,
            &format!(
                r#"mutation {{ updateSchedule(id: "{other_id}", cron: "0 30 2 * * *") {{ id }} }}"#
            ),
        )
        .await;
    // A conflict with the current state, told as one (not as bad input), and audited so.
    assert_eq!(code(&refused["errors"][0]), "CONFLICT", "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "schedule {}",
            schedule["id"].as_str().unwrap_or("?")
        )),
        "{message}"
    );
    let audit = app
        .post_as(&token, "{ auditLog { edges { node { action outcome } } } }")
        .await;
    assert_eq!(
        audit["data"]["auditLog"]["edges"][0]["node"],
        json!({ "action": "updateSchedule", "outcome": "CONFLICT" }),
        "{audit}"
    );
    let unchanged = app.data("{ schedules { id cron } }").await;
    assert!(
        unchanged["schedules"]
            .as_array()
            .expect("schedules")
            .iter()
            .any(|s| s["id"] == other_id && s["cron"] == "0 0 4 * * *"),
        "{unchanged}"
    );
}
