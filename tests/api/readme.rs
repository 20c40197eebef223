//! The README, executed: every code block is taken by its info string and run, so that what a
//! newcomer reads is what was tested.
//!
//! - `graphql`: sent to a freshly seeded server (mutations first, with an operator token); each must
//!   answer without errors, and every field it asks for at the top with data. Subscriptions are
//!   opened over SSE, then a World Bank refresh (from a local server answering in its format)
//!   revises figures, and each must deliver an event with data.
//! - `sh`: parsed by `bash -n`; each command is checked: `cargo` and `techbalance` subcommands by
//!   their `--help`, every variable named must be one the program reads, and the PostgreSQL
//!   commands (`sudo -u postgres …`) are run against a throwaway cluster, the `DATABASE_URL` they
//!   lead to included.
//! - `text`: not code (the layout).
//!
//! Any other kind of block fails, as does a command this test does not know how to check.

use crate::fake_worldbank::{FakeWorldBank, Vintage};
use crate::support::{wait_until, Backend, TestApp};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const README: &str = include_str!("../../README.md");

/// A fenced code block: its info string, text, and the line its fence opens on.
struct Block {
    kind: String,
    text: String,
    line: usize,
}

fn blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in README.lines().enumerate() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(_), Some(block)) => blocks.push(block),
            (Some(info), None) => {
                open = Some(Block {
                    kind: info.trim().to_owned(),
                    text: String::new(),
                    line: index + 1,
                })
            }
            (None, Some(mut block)) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "the README ends inside a code block");
    blocks
}

fn of_kind(kind: &str) -> Vec<Block> {
    blocks().into_iter().filter(|b| b.kind == kind).collect()
}

#[test]
fn every_code_block_of_the_readme_is_of_a_kind_this_test_runs() {
    let blocks = blocks();
    for block in &blocks {
        assert!(
            ["graphql", "sh", "text"].contains(&block.kind.as_str()),
            "README line {}: a ```{} block, which tests/api/readme.rs does not run: use graphql, \
             sh or text, or teach the test the new kind",
            block.line,
            block.kind
        );
    }
    assert!(
        of_kind("graphql").len() >= 8,
        "the graphql examples are gone"
    );
    assert!(of_kind("sh").len() >= 6, "the commands are gone");
}

#[test]
fn ci_runs_exactly_the_readmes_test_command() {
    let test_section = &README[README.find("## Test it").expect("a Test it section")..];
    let command = blocks()
        .into_iter()
        .find(|b| b.kind == "sh" && test_section.contains(&format!("```sh\n{}```", b.text)))
        .expect("an sh block in the Test it section")
        .text
        .trim()
        .to_owned();
    assert_eq!(command, "cargo test --workspace");
    let ci = include_str!("../../.ci/run");
    assert_eq!(
        ci.lines().filter(|line| line.trim() == command).count(),
        1,
        ".ci/run must run the README's test command as written: {command}"
    );
    assert!(
        !ci.contains("TECHBALANCE_TEST_DATABASE_URL"),
        ".ci/run must not configure the tests: the README's command alone is the suite"
    );
}

/// Whether a field of an answer holds data: a value, or a list or object with some data in it.
fn has_data(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().any(has_data),
        Value::Object(fields) => fields.values().any(has_data),
        _ => true,
    }
}

/// Asserts an answer has no errors and data in every field asked for at the top.
fn assert_answers_with_data(block: &Block, body: &Value) {
    assert!(
        body.get("errors").is_none(),
        "README line {}: errors for\n{}{body}",
        block.line,
        block.text
    );
    let data = body["data"].as_object().unwrap_or_else(|| {
        panic!(
            "README line {}: no data for\n{}{body}",
            block.line, block.text
        )
    });
    assert!(!data.is_empty(), "README line {}: empty data", block.line);
    for (field, value) in data {
        assert!(
            has_data(value),
            "README line {}: `{field}` answers no data on a fresh install: {value}",
            block.line
        );
    }
}

fn is_subscription(block: &Block) -> bool {
    block.text.trim_start().starts_with("subscription")
}

async fn every_graphql_block_answers_with_data_on_a_fresh_install(backend: Backend) {
    let rd = "GB.XPD.RSDV.GD.ZS";
    let release = |date: &str, usa: f64| {
        Vintage::new(date)
            .with(rd, "USA", 2023, Some(usa))
            .with(rd, "CHN", 2023, Some(2.68))
    };
    let fake = FakeWorldBank::start(release("2026-01-15", 3.45)).await;
    let url = fake.url();
    let app = TestApp::spawn_with(backend, &[("TECHBALANCE_WORLDBANK_URL", url.as_str())]).await;
    let token = app.token("readme").await;
    let config = app
        .db
        .config_with(&[("TECHBALANCE_WORLDBANK_URL", url.as_str())]);
    let sources = techbalance::sources(&config).expect("sources");
    let worldbank = sources
        .iter()
        .find(|s| s.id() == "worldbank")
        .expect("the World Bank source");
    let refresh = || async {
        techbalance::refresh(&app.store, &config, worldbank.as_ref(), &|_| {})
            .await
            .expect("a World Bank refresh")
    };
    let blocks = of_kind("graphql");

    // Mutations first, as an operator (so that the runs they queue are there to be listed), then
    // queries, as anyone: what a newcomer pastes into GraphiQL.
    let is_mutation = |b: &&Block| b.text.trim_start().starts_with("mutation");
    for block in blocks.iter().filter(is_mutation) {
        assert_answers_with_data(block, &app.post_as(&token, &block.text).await);
    }
    for block in blocks
        .iter()
        .filter(|b| !is_mutation(b) && !is_subscription(b))
    {
        assert_answers_with_data(block, &app.post(&block.text, json!({})).await);
    }

    // Subscriptions, over SSE, each with data once a refresh revises figures.
    refresh().await;
    fake.publish(release("2026-02-15", 3.5));
    let subscriptions: Vec<&Block> = blocks.iter().filter(|b| is_subscription(b)).collect();
    assert!(
        subscriptions.len() >= 3,
        "the subscription examples are gone"
    );
    let listening = app.store.change_receivers();
    let mut streams = Vec::new();
    for block in &subscriptions {
        let response = reqwest::Client::new()
            .post(app.url("/graphql"))
            .header("accept", "text/event-stream")
            .json(&json!({ "query": block.text }))
            .send()
            .await
            .expect("SSE subscription");
        assert_eq!(response.status(), 200, "README line {}", block.line);
        streams.push(response);
    }
    let expected = listening + subscriptions.len();
    wait_until("subscriptions listening for changes", true, || {
        app.store.change_receivers() >= expected
    })
    .await;
    refresh().await;
    for (block, stream) in subscriptions.iter().zip(streams) {
        let event = first_event(stream)
            .await
            .unwrap_or_else(|e| panic!("README line {}: {e}", block.line));
        assert_answers_with_data(block, &event);
    }
}

/// The payload of the first `next` event of an SSE stream (within 30 s).
async fn first_event(mut stream: reqwest::Response) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    loop {
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
            };
            if field("event:") == Some("next") {
                let data = field("data:").ok_or("an event without data")?;
                return serde_json::from_str(data).map_err(|e| format!("{e}: {data}"));
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .map_err(|_| "no event within 30 s of the refresh".to_owned())?
            .map_err(|e| e.to_string())?
            .ok_or("the stream ended without an event")?;
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

crate::both_backends!(every_graphql_block_answers_with_data_on_a_fresh_install);

/// A command line split into words, as `sh` would (quotes, no expansions: the README has none).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Runs `command`; fails naming the README line with what it printed.
fn succeeds(command: &mut Command, line: usize) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("README line {line}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "README line {line}: {command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_readme_parses_names_real_subcommands_and_variables_and_the_postgresql_section_works(
) {
    let known_variables: Vec<String> = techbalance::config::variables::read_by_loading()
        .into_iter()
        .chain([techbalance_test_postgres::VARIABLE.to_owned()])
        .collect();
    // The PostgreSQL section creates a role: it needs a superuser, so a cluster of its own.
    let cluster = techbalance_test_postgres::cluster().unwrap_or_else(|e| panic!("{e}"));
    let binary = env!("CARGO_BIN_EXE_techbalance");
    let mut postgres_commands = 0;
    let mut database_urls = 0;
    for block in of_kind("sh") {
        succeeds(
            Command::new("bash").args(["-n", "-c", &block.text]),
            block.line,
        );
        for (offset, line) in block.text.lines().enumerate() {
            let at = block.line + 1 + offset;
            let mut words = words(line).into_iter().peekable();
            if words.peek().is_some_and(|w| w == "export") {
                words.next();
            }
            let mut env = Vec::new();
            while let Some((name, value)) = words.peek().and_then(|w| w.split_once('=')) {
                assert!(
                    known_variables.iter().any(|known| known == name),
                    "README line {at}: {name} is not a variable the program reads"
                );
                env.push((name.to_owned(), value.to_owned()));
                words.next();
            }
            let words: Vec<String> = words.collect();
            let Some((program, args)) = words.split_first() else {
                continue;
            };
            match program.as_str() {
                "cargo" => {
                    let subcommand = args
                        .first()
                        .unwrap_or_else(|| panic!("README line {at}: cargo without a subcommand"));
                    succeeds(Command::new("cargo").args([subcommand, "--help"]), at);
                }
                "techbalance" | "target/release/techbalance" => {
                    let help = (!args.iter().any(|a| a == "--help")).then_some("--help");
                    succeeds(Command::new(binary).args(args).args(help), at);
                    if let Some((_, written)) = env.iter().find(|(name, _)| name == "DATABASE_URL")
                    {
                        // The URL the PostgreSQL section leads to, on the throwaway cluster.
                        let url = written
                            .replace("@localhost:5432/", &format!("@127.0.0.1:{}/", cluster.port));
                        assert_ne!(&url, written, "README line {at}: a URL on localhost:5432");
                        let printed = succeeds(
                            Command::new(binary)
                                .arg("migrate")
                                .env("DATABASE_URL", &url)
                                .env("TECHBALANCE_LOG", "warn"),
                            at,
                        );
                        assert!(printed.contains("migrations applied"), "{printed}");
                        database_urls += 1;
                    }
                }
                "sudo" | "runuser" => {
                    let tool = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                        ["-u", "postgres", "--", tool, ..] | ["-u", "postgres", tool, ..] => tool,
                        _ => panic!("README line {at}: only `{program} -u postgres …` is run"),
                    };
                    let tool_args = &args[args.iter().position(|a| a == tool).expect("tool") + 1..];
                    succeeds(cluster.client(tool).args(tool_args), at);
                    postgres_commands += 1;
                }
                other => panic!(
                    "README line {at}: tests/api/readme.rs does not know how to check `{other}`"
                ),
            }
        }
    }
    assert!(
        postgres_commands >= 2 && database_urls >= 1,
        "the PostgreSQL section's commands are gone"
    );
}

#[test]
fn help_lists_every_variable_of_the_readmes_table_with_its_default() {
    for args in [&["--help"][..], &["serve", "--help"], &["worker", "--help"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_techbalance"))
            .args(args)
            .output()
            .expect("techbalance --help");
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        let documented = techbalance::config::variables::documented();
        assert!(documented.len() >= 40, "the configuration table is gone");
        for row in documented {
            // A default stated as a value is shown as such; "none" and the like show none.
            let line = match &row.default_value {
                Some(value) => format!("  {}  [default: {value}]", row.name),
                None => format!("  {}", row.name),
            };
            assert!(
                help.lines().any(|l| l == line),
                "`techbalance {}` lacks `{line}`:\n{help}",
                args.join(" ")
            );
        }
        for name in techbalance::config::variables::read_by_loading() {
            assert!(
                help.lines()
                    .any(|l| l == format!("  {name}")
                        || l.starts_with(&format!("  {name}  [default: "))),
                "`techbalance {}` does not list {name}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn the_readme_states_the_default_schedules() {
    let readme = README.split_whitespace().collect::<Vec<_>>().join(" ");
    let schedules = techbalance_worker::sources::registry::default_schedules();
    assert!(
        !schedules.is_empty(),
        "the registry declares no default schedule"
    );
    for schedule in schedules {
        let cron = format!("(`{}`)", schedule.cron);
        assert!(
            readme.contains(&cron),
            "the README does not state {}'s default schedule {cron}",
            schedule.source
        );
    }
}
