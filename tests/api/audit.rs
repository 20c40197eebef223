//! The audit log is written in the transaction of what it records: when the entry cannot be
//! written, the operation fails and changes nothing, whether it came from the API or from the
//! command line. Refused attempts are counted, bounded per window.

use crate::both_backends;
use crate::operators::MUTATIONS;
use crate::support::{code, Backend, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::process::Command;
use techbalance_store::audit::{Refusal, MAX_REFUSAL_ROWS, REFUSAL_WINDOW_SECS};

both_backends!(
    no_audit_entry_no_change_for_every_mutation_and_cli_command,
    a_failed_cli_operation_is_audited_with_its_code,
    the_cli_and_the_api_write_audit_entries_of_one_shape,
    a_flood_of_refused_attempts_is_counted_in_bounded_rows,
);

/// Makes every insert into the audit log fail, as a full disk or a broken table would.
async fn break_the_audit_log(app: &TestApp, backend: Backend) {
    let db = app.store.connection();
    let statements: &[&str] = match backend {
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit writes refused by the test'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ],
        Backend::Sqlite => &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit writes refused by the test'); END"],
    };
    for statement in statements {
        db.execute_unprepared(statement)
            .await
            .expect("install the failing trigger");
    }
}

/// Everything the mutations and commands below could change.
async fn state(app: &TestApp) -> Value {
    let data = app
        .data("{ schedules { id cron enabled } refreshRuns(first: 100) { totalCount edges { node { id status } } } }")
        .await;
    let tokens: Vec<(String, bool)> = app
        .store
        .tokens()
        .await
        .expect("tokens")
        .into_iter()
        .map(|t| (t.name, t.revoked_at.is_some()))
        .collect();
    json!({ "data": data, "tokens": tokens })
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .expect("run techbalance")
}

async fn no_audit_entry_no_change_for_every_mutation_and_cli_command(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("alice").await;
    let (queued, _) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("a queued run to cancel");
    break_the_audit_log(&app, backend).await;
    let before = state(&app).await;
    // Every mutation (the run to cancel is the one queued above).
    let cancel = format!(r#"mutation {{ cancelRun(id: "{}") {{ id }} }}"#, queued.id);
    let mutations = MUTATIONS.iter().filter(|m| !m.contains("cancelRun"));
    for mutation in mutations.copied().chain([cancel.as_str()]) {
        let body = app.post_as(&token, mutation).await;
        assert_eq!(
            code(&body["errors"][0]),
            "AUDIT_FAILED",
            "{mutation}: {body}"
        );
        assert_eq!(body["data"], Value::Null, "{mutation}: {body}");
        assert!(
            !body.to_string().contains("refused by the test"),
            "no database message in the answer: {body}"
        );
    }
    for args in [
        &["schedule", "add", "worldbank", "0 0 1 * * *"][..],
        &["schedule", "pause", "1"],
        &["schedule", "remove", "1"],
        &["token", "revoke", "alice"],
        &["token", "create", "bob"],
    ] {
        let output = cli(&app, args);
        assert!(
            !output.status.success(),
            "{args:?} succeeded without its audit entry"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("audit entry"), "{args:?}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed a result: {output:?}"
        );
    }
    assert_eq!(
        state(&app).await,
        before,
        "a change was made without its audit entry"
    );
    assert_eq!(app.store.count_audit_log().await.expect("count"), 0);
}

/// The newest audit entries, newest first: actor, action, arguments (as JSON) and outcome.
async fn latest_entries(app: &TestApp, n: u64) -> Vec<(String, String, Value, String)> {
    app.store
        .audit_log(None, n)
        .await
        .expect("audit log")
        .into_iter()
        .map(|e| {
            let arguments = serde_json::from_str(&e.arguments).expect("JSON arguments");
            (e.actor, e.action, arguments, e.outcome)
        })
        .collect()
}

fn cli_as(app: &TestApp, user: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_LOG", "warn")
        .env("USER", user)
        .output()
        .expect("run techbalance")
}

async fn a_failed_cli_operation_is_audited_with_its_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: [(&[&str], &str, Value, &str); 4] = [
        (
            &["schedule", "add", "nowhere", "0 0 1 * * *"],
            "createSchedule",
            json!({ "source": "nowhere", "cron": "0 0 1 * * *", "timezone": "UTC", "enabled": true }),
            "BAD_USER_INPUT",
        ),
        (
            &["schedule", "pause", "999"],
            "updateSchedule",
            json!({ "id": "999", "cron": null, "timezone": null, "enabled": false }),
            "NOT_FOUND",
        ),
        (
            &["schedule", "remove", "999"],
            "deleteSchedule",
            json!({ "id": "999" }),
            "NOT_FOUND",
        ),
        (
            &["token", "revoke", "ghost"],
            "revokeToken",
            json!({ "name": "ghost" }),
            "NOT_FOUND",
        ),
    ];
    for (args, action, arguments, outcome) in cases {
        let output = cli_as(&app, "ops", args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        let latest = latest_entries(&app, 1).await;
        assert_eq!(
            latest,
            [(
                "cli:ops".to_owned(),
                action.to_owned(),
                arguments,
                outcome.to_owned()
            )],
            "{args:?}"
        );
    }
    // An unknown source is still explained with the sources there are.
    let output = cli_as(&app, "ops", &["schedule", "add", "nowhere", "0 0 1 * * *"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("use one of baseline, worldbank"),
        "{stderr}"
    );
}

async fn the_cli_and_the_api_write_audit_entries_of_one_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("ops").await;
    // The same change, and the same refused change, from each side.
    let pairs: [(&str, &[&str]); 2] = [
        (
            r#"mutation { createSchedule(source: "worldbank", cron: "0 0 1 * * *", timezone: "Europe/Paris") { id } }"#,
            &[
                "schedule",
                "add",
                "worldbank",
                "0 0 1 * * *",
                "--timezone",
                "Europe/Paris",
            ],
        ),
        (
            r#"mutation { createSchedule(source: "nowhere", cron: "0 0 1 * * *") { id } }"#,
            &["schedule", "add", "nowhere", "0 0 1 * * *"],
        ),
    ];
    for (mutation, args) in pairs {
        app.post_as(&token, mutation).await;
        let api = latest_entries(&app, 1).await.remove(0);
        cli_as(&app, "ops", args);
        let cli = latest_entries(&app, 1).await.remove(0);
        assert_eq!(api.0, "ops");
        assert_eq!(cli.0, "cli:ops");
        assert_eq!(
            (&cli.1, &cli.2, &cli.3),
            (&api.1, &api.2, &api.3),
            "{mutation} and {args:?} are audited differently"
        );
    }
}

async fn a_flood_of_refused_attempts_is_counted_in_bounded_rows(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0")]).await;
    // Over HTTP, from one address: one row counting every attempt.
    for _ in 0..60 {
        let body = app.post(MUTATIONS[0], Value::Null).await;
        assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    }
    let log = app.store.audit_log(None, 1000).await.expect("audit log");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (
            log[0].actor.as_str(),
            log[0].action.as_str(),
            log[0].address.as_deref(),
            log[0].attempts
        ),
        ("anonymous", "triggerRefresh", Some("127.0.0.1"), 60)
    );

    // From many addresses within one window: at most MAX_REFUSAL_ROWS rows, then one overflow
    // row counts the rest; no attempt goes uncounted.
    let start = chrono::DateTime::from_timestamp(REFUSAL_WINDOW_SECS * 4_000_000, 0)
        .expect("a window start");
    let at = start + chrono::Duration::seconds(REFUSAL_WINDOW_SECS / 2);
    let addresses = MAX_REFUSAL_ROWS as usize + 50;
    for n in 0..addresses {
        let address = format!("192.0.2.{n}");
        let refusal = Refusal {
            actor: "invalid token",
            address: Some(&address),
            action: "createSchedule",
            arguments: "{}",
            outcome: "UNAUTHENTICATED",
        };
        for _ in 0..2 {
            app.store
                .record_refusal_at(refusal, at)
                .await
                .expect("count a refusal");
        }
    }
    let window: Vec<_> = app
        .store
        .audit_log(None, 10_000)
        .await
        .expect("audit log")
        .into_iter()
        .filter(|e| e.at >= start && e.at < start + chrono::Duration::seconds(REFUSAL_WINDOW_SECS))
        .collect();
    assert_eq!(
        window.len(),
        MAX_REFUSAL_ROWS as usize + 1,
        "rows of the window"
    );
    let overflow: Vec<_> = window.iter().filter(|e| e.actor == "*").collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].attempts, 2 * 50);
    assert_eq!(
        window.iter().map(|e| e.attempts).sum::<i64>(),
        2 * addresses as i64
    );
}
