//! The SQLite file is watched (the real binary): deleted or replaced while the server has it
//! open, `/readyz` fails and writes are refused, saying why; a new empty database created where
//! one had been is reported loudly at start. SQLite only: on PostgreSQL there is no file of ours.

use crate::shutdown::ServerProcess;
use crate::support::{code, Backend, TestDb};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn database_path(db: &TestDb) -> PathBuf {
    let rest = db.url.strip_prefix("sqlite://").expect("a SQLite URL");
    PathBuf::from(rest.split('?').next().expect("a path"))
}

/// An operator token, made with the command line (which also creates the database).
fn token(db: &TestDb) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["token", "create", "operator"])
        .env("DATABASE_URL", &db.url)
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .expect("run techbalance token create");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn readyz(server: &ServerProcess) -> (u16, Value) {
    let response = reqwest::get(server.url("/readyz")).await.expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn create_schedule(server: &ServerProcess, token: &str) -> Value {
    reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": r#"mutation { createSchedule(source: "worldbank", cron: "0 0 1 * * *") { id } }"# }))
        .send()
        .await
        .expect("mutation")
        .json()
        .await
        .expect("JSON")
}

/// Waits (at most 15 s) until the server's log contains `text`.
async fn log_says(server: &ServerProcess, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "the log never said {text:?}:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server answers as a lost database should: not ready, writes refused.
async fn answers_as_lost(server: &ServerProcess, token: &str) {
    let (status, body) = readyz(server).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["databaseFile"], "lost", "{body}");
    let refused = create_schedule(server, token).await;
    assert_eq!(code(&refused["errors"][0]), "DATABASE_LOST", "{refused}");
    log_says(server, "database file lost").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_fails_readiness_refuses_writes_and_is_reported_at_the_next_start() {
    let db = TestDb::empty(Backend::Sqlite).await;
    let path = database_path(&db);
    let token = token(&db);
    let server = ServerProcess::start(&db, "file-deleted", &[]).await;
    let (status, body) = readyz(&server).await;
    assert_eq!(
        (status, &body["databaseFile"]),
        (200, &json!("in place")),
        "{body}"
    );
    assert!(create_schedule(&server, &token).await["errors"].is_null());

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    answers_as_lost(&server, &token).await;
    assert!(
        !server.log().contains("NEW EMPTY"),
        "not at the first start"
    );
    drop(server);

    // Started again, the server creates a new empty database: it says so, loudly.
    let again =
        ServerProcess::start(&db, "file-recreated", &[("TECHBALANCE_LOG_FORMAT", "json")]).await;
    log_says(&again, "WARNING: the database file").await;
    let log = again.log();
    assert!(log.contains("NEW EMPTY database"), "{log}");
    let warned = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| {
            line["level"] == "WARN"
                && line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("NEW EMPTY database"))
        });
    assert!(warned, "a warning in the log too: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_database_fails_readiness_and_refuses_writes() {
    let db = TestDb::empty(Backend::Sqlite).await;
    let path = database_path(&db);
    let token = token(&db);
    let server = ServerProcess::start(&db, "file-replaced", &[]).await;
    assert_eq!(readyz(&server).await.0, 200);

    // Another file takes the path (a restore over a running server, a deploy's fresh file).
    let other = path.with_extension("other");
    std::fs::copy(&path, &other).expect("copy the database");
    std::fs::rename(&other, &path).expect("replace the database");
    answers_as_lost(&server, &token).await;
    assert!(server.log().contains("replaced"), "{}", server.log());
}
