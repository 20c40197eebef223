//! The real binary: its subcommands, configuration errors, and a fresh start with nothing set.

use crate::support::{Backend, TestDb};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_techbalance");

pub(crate) fn techbalance(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("TECHBALANCE_LOG", "warn");
    for (name, _) in std::env::vars() {
        if (name.starts_with("TECHBALANCE_") && name != "TECHBALANCE_LOG")
            || name.starts_with("OTEL_")
        {
            command.env_remove(name);
        }
    }
    command
}

pub(crate) fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tb-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn schema_prints_the_sdl() {
    let output = techbalance(&std::env::temp_dir())
        .arg("schema")
        .output()
        .expect("run");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        techbalance_api::sdl()
    );
}

#[test]
fn a_configuration_error_names_the_variable_and_exits_non_zero() {
    let dir = scratch_dir("config");
    for (variable, value) in [
        ("TECHBALANCE_BIND", "not-an-address"),
        ("DATABASE_URL", "mysql://x/y"),
        ("TECHBALANCE_LOG_FORMAT", "xml"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ] {
        let output = techbalance(&dir)
            .arg("migrate")
            .env(variable, value)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(variable),
            "{variable} not named in: {stderr}"
        );
    }
    assert!(
        !dir.join("techbalance.db").exists(),
        "nothing is created on a configuration error"
    );
}

#[test]
fn seed_is_idempotent_from_the_command_line() {
    let dir = scratch_dir("seed");
    let first = techbalance(&dir).arg("seed").output().expect("run");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = String::from_utf8_lossy(&first.stdout);
    let lines: Vec<&str> = first.trim().lines().collect();
    assert!(
        lines[0].starts_with("baseline bundled with this build (sha256 "),
        "no data/baseline.toml here: {first}"
    );
    assert_eq!(
        lines[1],
        "baseline loaded: 19 new, 0 revised, 0 withdrawn, 0 unchanged"
    );
    let second = techbalance(&dir).arg("seed").output().expect("run");
    assert_eq!(
        String::from_utf8_lossy(&second.stdout)
            .trim()
            .lines()
            .last(),
        Some("baseline loaded: 0 new, 0 revised, 0 withdrawn, 19 unchanged")
    );
    assert!(
        dir.join("techbalance.db").exists(),
        "the embedded database lives in the working directory"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server process, killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn serve_and_query(mut command: Command) {
    let port = free_port();
    let child = command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let _server = Server(child);
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/graphql");
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let response = client
            .post(&url)
            .json(&serde_json::json!({ "query": r#"{ compare(metric: "rd_intensity") { entries { country { code } value yearUsed observation { source { id } } } } }"# }))
            .send()
            .await;
        match response {
            Ok(response) => break response.json::<serde_json::Value>().await.expect("json"),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("the server did not answer within 30 s: {err}"),
        }
    };
    assert_eq!(
        body["data"]["compare"]["entries"],
        serde_json::json!([
            { "country": { "code": "USA" }, "value": 3.5, "yearUsed": 2024, "observation": { "source": { "id": "baseline" } } },
            { "country": { "code": "CHN" }, "value": 2.6, "yearUsed": 2024, "observation": { "source": { "id": "baseline" } } },
        ])
    );
    let page = client
        .get(&url)
        .header("accept", "text/html")
        .send()
        .await
        .expect("graphiql");
    assert!(page.text().await.expect("html").contains("graphiql"));
}

#[tokio::test]
async fn a_fresh_start_with_nothing_configured_serves_the_baseline_from_an_embedded_database() {
    let dir = scratch_dir("fresh");
    serve_and_query(techbalance(&dir)).await;
    assert!(dir.join("techbalance.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_same_binary_serves_from_postgresql() {
    let db = TestDb::empty(Backend::Postgres).await;
    let dir = scratch_dir("postgres");
    let mut command = techbalance(&dir);
    command.env("DATABASE_URL", &db.url);
    serve_and_query(command).await;
    assert!(
        !dir.join("techbalance.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refresh_prints_a_summary_and_fails_loudly_when_the_source_does() {
    use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
    let fake = FakeWorldBank::start(Vintage::new("2025-07-01").with(
        "GB.XPD.RSDV.GD.ZS",
        "USA",
        2022,
        Some(3.58),
    ))
    .await;
    let dir = scratch_dir("refresh");
    let (run_dir, url) = (dir.clone(), fake.url());
    let run = move |source: &str| {
        techbalance(&run_dir)
            .args(["refresh", source])
            .env("TECHBALANCE_WORLDBANK_URL", &url)
            .env("TECHBALANCE_FETCH_ATTEMPTS", "1")
            .output()
            .expect("run")
    };
    let output = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run("worldbank")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("worldbank: run")
            && stdout.contains("succeeded: 1 fetched, 1 new, 0 revised, 0 withdrawn, 0 unchanged"),
        "{stdout}"
    );

    fake.fail(Failure::ServerError);
    let output = tokio::task::spawn_blocking(move || run("worldbank"))
        .await
        .expect("join");
    assert!(!output.status.success(), "a failed refresh exits non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: worldbank: run") && stderr.contains("failed"),
        "{stderr}"
    );

    let output = techbalance(&dir)
        .args(["refresh", "nonsense"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown source \"nonsense\""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokens_and_schedules_are_managed_from_the_command_line() {
    let dir = scratch_dir("operators");
    let run = |args: &[&str]| techbalance(&dir).args(args).output().expect("run");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();

    let created = run(&["token", "create", "ops"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let token = text(&created.stdout);
    assert!(
        token.starts_with("tb_") && token.len() == 67,
        "printed once: {token}"
    );
    assert!(
        !run(&["token", "create", "ops"]).status.success(),
        "a name is taken once"
    );
    assert!(run(&["token", "revoke", "ops"]).status.success());
    let again = run(&["token", "revoke", "ops"]);
    assert!(!again.status.success(), "nothing left to revoke");

    let listed = text(&run(&["schedule", "list"]).stdout);
    assert!(
        listed.contains("worldbank") && listed.contains("0 0 3 * * *"),
        "{listed}"
    );
    let added = run(&[
        "schedule",
        "add",
        "baseline",
        "0 0 5 * * *",
        "--timezone",
        "Asia/Shanghai",
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let id = text(&added.stdout)
        .split_whitespace()
        .nth(1)
        .expect("schedule N added")
        .to_owned();
    let again = run(&[
        "schedule",
        "add",
        "baseline",
        " 0 0  5 * * * ",
        "--timezone",
        "Asia/Shanghai",
    ]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout),
        format!(
            "schedule {id} already refreshes baseline at \"0 0 5 * * *\" in Asia/Shanghai; nothing added"
        )
    );
    let listed = text(&run(&["schedule", "list"]).stdout);
    assert_eq!(
        listed.matches("Asia/Shanghai").count(),
        1,
        "one schedule: {listed}"
    );
    let bad = run(&["schedule", "add", "baseline", "every day"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("invalid cron expression"),
        "{}",
        text(&bad.stderr)
    );
    assert!(!run(&["schedule", "add", "myspace", "0 0 5 * * *"])
        .status
        .success());

    assert_eq!(
        text(&run(&["schedule", "pause", &id]).stdout),
        format!("schedule {id} paused")
    );
    let paused = text(&run(&["schedule", "list"]).stdout);
    let row = paused
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{id} ")))
        .expect("row");
    assert!(
        row.contains("Asia/Shanghai") && row.contains("false"),
        "{row}"
    );
    assert_eq!(
        text(&run(&["schedule", "resume", &id]).stdout),
        format!("schedule {id} resumed")
    );
    assert_eq!(
        text(&run(&["schedule", "remove", &id]).stdout),
        format!("schedule {id} removed")
    );
    assert!(
        !run(&["schedule", "remove", &id]).status.success(),
        "already removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn editing_data_baseline_toml_and_seeding_records_the_edit() {
    use crate::baseline_file::sha256 as hash;
    let dir = scratch_dir("baseline-edit");
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    let file = dir.join("data").join("baseline.toml");
    let bundled = techbalance_worker::sources::baseline::BUNDLED;
    std::fs::write(&file, bundled).expect("copy of the baseline");
    let run = |args: &[&str]| {
        let output = techbalance(&dir).args(args).output().expect("run");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let absolute = std::path::absolute(&file).expect("absolute path");

    let first = run(&["seed"]);
    assert_eq!(
        first,
        format!(
            "baseline read from {} (sha256 {})\nbaseline loaded: 19 new, 0 revised, 0 withdrawn, 0 unchanged",
            absolute.display(),
            hash(bundled)
        )
    );

    let figure = "metric = \"rd_intensity\"\ncountry = \"USA\"\nyear = 2024\nvalue = 3.5\n";
    assert!(bundled.contains(figure), "the bundled baseline changed");
    let edited = bundled.replacen(figure, &figure.replace("3.5", "3.45"), 1);
    std::fs::write(&file, &edited).expect("edit");
    let second = run(&["seed"]);
    assert_eq!(
        second,
        format!(
            "baseline read from {} (sha256 {})\nbaseline loaded: 0 new, 1 revised, 0 withdrawn, 18 unchanged",
            absolute.display(),
            hash(&edited)
        )
    );
    // Every other load reads the same file: a refresh of the baseline keeps the edit.
    let refreshed = run(&["refresh", "baseline"]);
    assert!(
        refreshed.contains("0 new, 0 revised, 0 withdrawn, 19 unchanged"),
        "{refreshed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
