//! What the real binary says when something is wrong or nothing needs doing: the cause, once,
//! with what to do about it.

use crate::cli::{scratch_dir, techbalance};
use std::process::Output;

/// A port nothing listens on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failure whose whole stderr is one `error:` line holding each of `says`.
fn assert_one_error_line(output: &Output, says: &[&str]) -> String {
    let text = stderr(output);
    assert!(!output.status.success(), "should fail: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    for said in says {
        assert_eq!(
            lines[0].matches(said).count(),
            1,
            "{said:?} should be said exactly once in: {text}"
        );
    }
    text
}

#[test]
fn a_sqlite_file_the_user_names_is_created_if_missing() {
    let dir = scratch_dir("named-sqlite");
    let output = techbalance(&dir)
        .arg("migrate")
        .env("DATABASE_URL", "sqlite://mydata.db")
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.join("mydata.db").is_file(), "mydata.db was not created");
    let output = techbalance(&dir)
        .arg("seed")
        .env("DATABASE_URL", "sqlite:mydata.db")
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    // A directory that does not exist is named, once.
    let output = techbalance(&dir)
        .arg("migrate")
        .env("DATABASE_URL", "sqlite://missing/dir/x.db")
        .output()
        .expect("run");
    let text = assert_one_error_line(&output, &["the directory missing/dir does not exist"]);
    assert!(!text.contains("unable to open"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_postgres_server_is_reported_at_once_as_connection_refused() {
    let dir = scratch_dir("refused");
    let free = free_port();
    let output = techbalance(&dir)
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("postgres://tb:secret@127.0.0.1:{free}/x"),
        )
        .env("TECHBALANCE_LOG", "info")
        .output()
        .expect("run");
    let text = assert_one_error_line(&output, &["Connection refused", "127.0.0.1"]);
    assert!(!text.contains("pool timed out"), "{text}");
    assert!(
        !text.contains("secret"),
        "the password is not shown: {text}"
    );
}

#[test]
fn a_rejected_postgres_login_is_said_once() {
    let admin = techbalance_test_postgres::admin_url().unwrap_or_else(|e| panic!("{e}"));
    let (scheme, rest) = admin.split_once("://").expect("URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://tb_no_such_role:wrong@{host}");
    let output = techbalance(&scratch_dir("login"))
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert_one_error_line(
        &output,
        &["password authentication failed for user \"tb_no_such_role\""],
    );
}

#[test]
fn a_port_in_use_is_refused_naming_bind_before_the_worker_starts() {
    let dir = scratch_dir("port-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let output = techbalance(&dir)
        .args(["serve", "--bind", &address])
        .env("TECHBALANCE_LOG", "info")
        .output()
        .expect("run");
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    for said in [address.as_str(), "already in use", "--bind"] {
        assert!(errors[0].contains(said), "{said:?} not in {text}");
    }
    assert!(
        !text.contains("worker started"),
        "the worker started:\n{text}"
    );
    // Bound first: nothing was migrated or seeded before the address was found taken.
    assert!(
        !text.contains("migrations") && !dir.join("techbalance.db").exists(),
        "the database was prepared before the bind failed:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn commands_log_migrations_only_when_there_are_some_to_apply() {
    let dir = scratch_dir("migrations-quiet");
    let run = || {
        techbalance(&dir)
            .arg("migrate")
            .env("TECHBALANCE_LOG", "info")
            .output()
            .expect("run")
    };
    let first = stderr(&run());
    let lines: Vec<&str> = first.lines().filter(|l| l.contains("migration")).collect();
    assert_eq!(
        lines.len(),
        1,
        "one line for the migrations applied:\n{first}"
    );
    assert!(lines[0].contains("applied"), "{first}");
    let second = stderr(&run());
    assert!(
        !second.to_lowercase().contains("migration"),
        "nothing to apply, nothing said:\n{second}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refresh_that_cannot_reach_its_source_says_so_once_with_a_hint() {
    let dir = scratch_dir("refresh-unreachable");
    let free = free_port();
    let output = techbalance(&dir)
        .args(["refresh", "worldbank"])
        .env(
            "TECHBALANCE_WORLDBANK_URL",
            format!("http://127.0.0.1:{free}"),
        )
        .env("TECHBALANCE_FETCH_ATTEMPTS", "1")
        .env("TECHBALANCE_LOG", "info")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert_eq!(all.matches("Connection refused").count(), 1, "{all}");
    let hint = all
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint in:\n{all}"));
    assert!(
        hint.contains(&format!("127.0.0.1:{free}")) && hint.contains("TECHBALANCE_WORLDBANK_URL"),
        "{hint}"
    );
    assert!(!all.contains("refresh failed for"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_progress_bar_on_a_terminal_never_shows_a_full_bar_before_pages_are_known() {
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    assert!(
        script.is_ok_and(|o| o.status.success()),
        "this test needs `script` (a terminal for the progress bar): install util-linux"
    );
    let dir = scratch_dir("progress");
    let free = free_port();
    let binary = env!("CARGO_BIN_EXE_techbalance");
    for (source, shows) in [("worldbank", "connecting"), ("baseline", "1/1 pages")] {
        let mut command = std::process::Command::new("script");
        for (name, _) in std::env::vars() {
            if name.starts_with("TECHBALANCE_") || name.starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        let output = command
            .current_dir(&dir)
            .args([
                "-q",
                "-e",
                "-c",
                &format!("{binary} refresh {source}"),
                "/dev/null",
            ])
            .env_remove("DATABASE_URL")
            .env(
                "TECHBALANCE_WORLDBANK_URL",
                format!("http://127.0.0.1:{free}"),
            )
            .env("TECHBALANCE_FETCH_ATTEMPTS", "1")
            .env("TECHBALANCE_LOG", "error")
            .output()
            .expect("run under script");
        let screen = String::from_utf8_lossy(&output.stdout);
        assert!(screen.contains(shows), "{source}: {screen}");
        assert!(!screen.contains("0/0 pages"), "{source}: {screen}");
        assert!(
            !screen.contains("[==============================] 0/"),
            "{source}: a full bar before any page: {screen}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_argument_of_every_command_is_described_in_help() {
    let dir = std::env::temp_dir();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["worker"],
        &["token", "create"],
        &["token", "revoke"],
        &["schedule", "list"],
        &["schedule", "add"],
        &["schedule", "pause"],
        &["schedule", "resume"],
        &["schedule", "remove"],
        &["migrate"],
        &["seed"],
        &["refresh"],
        &["schema"],
    ];
    for command in commands {
        let output = techbalance(&dir)
            .args(*command)
            .arg("--help")
            .output()
            .expect("run");
        assert!(output.status.success(), "{command:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        let mut section = "";
        let lines: Vec<&str> = help.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if !line.starts_with(' ') {
                section = line;
                continue;
            }
            let entry = line.trim_start();
            let is_entry =
                entry.starts_with('-') || entry.starts_with('<') || entry.starts_with('[');
            if (section == "Arguments:" || section == "Options:") && is_entry {
                // `  <NAME>  text` or `  -x, --long <VALUE>  text`: a name, two spaces, a text;
                // in the long help (`--help`), the text is on the next line, indented further.
                let same_line = entry
                    .split_once("  ")
                    .is_some_and(|(_, text)| !text.trim().is_empty());
                let next_line = lines.get(index + 1).is_some_and(|next| {
                    let indent = |l: &str| l.len() - l.trim_start().len();
                    indent(next) > indent(line) && !next.trim().is_empty()
                });
                assert!(
                    same_line || next_line,
                    "{command:?}: undescribed {entry:?} in\n{help}"
                );
            }
        }
    }
}

/// On PostgreSQL too (whose notices, `relation "seaql_migrations" already exists, skipping`,
/// reached the log as INFO on every start), a command with nothing to apply says nothing of
/// migrations; and a log written to a pipe carries no terminal colour codes.
#[tokio::test]
async fn logs_to_a_pipe_are_plain_and_postgres_notices_stay_quiet() {
    let db = crate::support::TestDb::create(crate::support::Backend::Postgres).await;
    let dir = scratch_dir("postgres-quiet");
    let run = || {
        techbalance(&dir)
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .env("TECHBALANCE_LOG", "info")
            .output()
            .expect("run")
    };
    let first = stderr(&run());
    assert!(first.contains("applied"), "{first}");
    let second = stderr(&run());
    for text in [&first, &second] {
        assert!(!text.contains('\u{1b}'), "colour codes in a pipe:\n{text}");
    }
    assert!(
        !second.to_lowercase().contains("migration"),
        "nothing to apply, nothing said:\n{second}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
