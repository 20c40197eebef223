//! A real browser for the end-to-end tests: the system's headless Chromium, driven by
//! playwright-core (`tests/node/browser.mjs`) one JSON command per line. Every request outside
//! the server's origin is blocked and counted, every console error kept; `finish` asserts there
//! were none. Screenshots go to `target/browser/` (test artifacts, not committed).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// `http://127.0.0.1:port`
    pub origin: String,
}

/// `target/browser/`, where screenshots and measurements are written.
pub fn artifacts() -> PathBuf {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).expect("create target/browser");
    dir
}

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Fails with one line saying what to install when a prerequisite is missing.
fn require_prerequisites() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Chromium at {CHROMIUM}: install it (apt-get install chromium)"
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "the browser tests need Node.js: install nodejs (apt-get install nodejs npm)"
    );
    assert!(
        node_dir().join("node_modules/playwright-core").exists(),
        "the browser tests need playwright-core: run `npm ci --prefix tests/node`"
    );
}

impl Browser {
    /// A fresh Chromium (new profile) allowed to reach `addr` only.
    pub async fn launch(addr: std::net::SocketAddr) -> Self {
        require_prerequisites();
        let origin = format!("http://{addr}");
        let mut child = Command::new("node")
            .arg(node_dir().join("browser.mjs"))
            .args([origin.as_str(), CHROMIUM])
            .arg(artifacts())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node browser.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Browser {
            child,
            stdin,
            stdout,
            origin,
        }
    }

    async fn send(&mut self, command: Value) -> Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the browser driver");
        let answer =
            tokio::time::timeout(std::time::Duration::from_secs(90), self.stdout.next_line())
                .await
                .expect("the browser driver answers within 90 s")
                .expect("read from the browser driver")
                .expect("the browser driver exited");
        let answer: Value = serde_json::from_str(&answer).expect("a JSON answer");
        assert_eq!(answer["ok"], json!(true), "{command}: {answer}");
        answer
    }

    /// Opens `path` on the server's origin.
    pub async fn goto(&mut self, path: &str) {
        let url = format!("{}{path}", self.origin);
        self.send(json!({ "goto": url })).await;
    }

    /// The value of a JavaScript expression in the page (awaited, JSON-serialisable).
    pub async fn eval(&mut self, js: &str) -> Value {
        self.send(json!({ "eval": js })).await["value"].take()
    }

    /// Waits (at most `seconds`) until a JavaScript expression is truthy; returns its value.
    pub async fn wait_for(&mut self, js: &str, seconds: u64) -> Value {
        self.send(json!({ "waitFor": js, "timeoutMs": seconds * 1000 }))
            .await["value"]
            .take()
    }

    pub async fn click(&mut self, selector: &str) {
        self.send(json!({ "click": selector })).await;
    }

    pub async fn hover(&mut self, selector: &str) {
        self.send(json!({ "hover": selector })).await;
    }

    pub async fn viewport(&mut self, width: u32, height: u32) {
        self.send(json!({ "viewport": [width, height] })).await;
    }

    /// Writes `target/browser/<name>` (the viewport, or the whole page).
    pub async fn screenshot(&mut self, name: &str, full_page: bool) -> PathBuf {
        let answer = self
            .send(json!({ "screenshot": name, "fullPage": full_page }))
            .await;
        PathBuf::from(answer["path"].as_str().expect("a path"))
    }

    /// Closes the browser, asserting that no request left the origin and no console error
    /// occurred.
    pub async fn finish(mut self) {
        let report = self.send(json!({ "report": true })).await;
        self.send(json!({ "close": true })).await;
        let _ = self.child.wait().await;
        assert_eq!(
            report["outside"],
            json!([]),
            "requests outside the server's origin"
        );
        assert_eq!(report["consoleErrors"], json!([]), "console errors");
    }
}
