//! What the public may read carries no secrets and no internals: credentials in an upstream URL
//! never reach a run's public error, the log or the command line's output; a failed run says
//! what kind of failure it was (`errorCode`) in words anyone may read (`error`), while the full
//! detail, credentials masked, is for operators (`errorDetail`); database messages stay out of
//! public fields.

use crate::both_backends;
use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
use crate::support::{code, Backend, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::process::Command;

both_backends!(
    upstream_credentials_reach_no_public_field_log_or_output,
    database_messages_stay_out_of_public_run_errors,
);

const SECRET: &str = "s3cr3t-pa55";
const RUNS: &str = "{ refreshRuns(source: \"worldbank\", first: 1) { edges { node { status error errorCode } } } }";
const DETAIL: &str =
    "{ refreshRuns(source: \"worldbank\", first: 1) { edges { node { errorDetail } } } }";

/// `techbalance refresh worldbank` against `base_url`; its stdout and stderr together.
fn refresh_with_cli(app: &TestApp, base_url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["refresh", "worldbank"])
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_WORLDBANK_URL", base_url)
        .env("TECHBALANCE_FETCH_ATTEMPTS", "2")
        .env("TECHBALANCE_FETCH_TIMEOUT_SECS", "2")
        .env("TECHBALANCE_LOG", "info")
        .output()
        .expect("run techbalance refresh");
    assert!(!output.status.success(), "the refresh was to fail");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The latest World Bank run as the public sees it, and its detail as an operator sees it.
async fn last_run(app: &TestApp, token: &str) -> (Value, String) {
    let public = app.data(RUNS).await["refreshRuns"]["edges"][0]["node"].clone();
    let body = app.post_as(token, DETAIL).await;
    let detail = body["data"]["refreshRuns"]["edges"][0]["node"]["errorDetail"]
        .as_str()
        .unwrap_or_else(|| panic!("an operator reads the detail: {body}"))
        .to_owned();
    (public, detail)
}

async fn upstream_credentials_reach_no_public_field_log_or_output(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let token = app.token("operator").await;
    let fake = FakeWorldBank::start(Vintage::new("2025-07-01")).await;
    fake.fail(Failure::Malformed);
    let with_credentials =
        |url: &str| url.replacen("http://", &format!("http://reader:{SECRET}@"), 1);
    // A source that answers nonsense, and one that cannot be reached (port 1), retried once.
    for (base_url, expected_code) in [
        (with_credentials(&fake.url()), "UPSTREAM_MALFORMED"),
        (
            with_credentials("http://127.0.0.1:1/v2"),
            "UPSTREAM_UNREACHABLE",
        ),
    ] {
        let output = refresh_with_cli(&app, &base_url);
        assert!(
            !output.contains(SECRET),
            "the command line's output and log: {output}"
        );
        assert!(
            output.contains("reader:***@"),
            "the output still names the URL, masked: {output}"
        );
        let (public, detail) = last_run(&app, &token).await;
        assert_eq!(public["status"], "FAILED");
        assert_eq!(public["errorCode"], expected_code, "{public}");
        let error = public["error"].as_str().expect("a public error");
        assert!(error.starts_with("worldbank: "), "{error}");
        for internal in [SECRET, "reader", "127.0.0.1", "http", "GET"] {
            assert!(
                !error.contains(internal),
                "public error {error:?} has {internal:?}"
            );
        }
        assert!(!detail.contains(SECRET), "operator detail: {detail}");
        assert!(
            detail.contains("reader:***@127.0.0.1"),
            "operator detail: {detail}"
        );
    }
    // The detail is for operators only.
    let anonymous = app.post(DETAIL, Value::Null).await;
    assert_eq!(
        code(&anonymous["errors"][0]),
        "UNAUTHENTICATED",
        "{anonymous}"
    );
    assert!(!anonymous.to_string().contains("reader:"), "{anonymous}");
}

async fn database_messages_stay_out_of_public_run_errors(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let token = app.token("operator").await;
    let fake = FakeWorldBank::start(Vintage::new("2025-07-01").with(
        "GB.XPD.RSDV.GD.ZS",
        "USA",
        2022,
        Some(3.58),
    ))
    .await;
    // Recording fails inside the database, as a broken constraint would.
    let message = "(code: 787) FOREIGN KEY constraint failed";
    let statements = match backend {
        Backend::Postgres => vec![
            format!("CREATE FUNCTION refuse_figures() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"),
            "CREATE TRIGGER refuse_figures BEFORE INSERT ON observations FOR EACH ROW EXECUTE FUNCTION refuse_figures()".to_owned(),
        ],
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_figures BEFORE INSERT ON observations BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )],
    };
    for statement in statements {
        app.store
            .connection()
            .execute_unprepared(&statement)
            .await
            .expect("install the failing trigger");
    }
    let output = refresh_with_cli(&app, &fake.url());
    assert!(
        output.contains("FOREIGN KEY"),
        "the operator's terminal has the detail: {output}"
    );
    let (public, detail) = last_run(&app, &token).await;
    assert_eq!(public["errorCode"], "STORAGE_FAILURE", "{public}");
    let error = public["error"].as_str().expect("a public error");
    for internal in [
        "FOREIGN KEY",
        "787",
        "constraint",
        "database error",
        "observations",
    ] {
        assert!(
            !error.contains(internal),
            "public error {error:?} has {internal:?}"
        );
    }
    assert!(detail.contains("FOREIGN KEY constraint failed"), "{detail}");
}
