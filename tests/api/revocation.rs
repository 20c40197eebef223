//! Authorization is checked for every operation on long-lived connections: a token revoked
//! while a WebSocket (both protocols) or an event stream is open stops working at once, and the
//! connections opened with it are told and closed. Driven by the reference clients
//! (`tests/node/revocation.mjs`), against both backends.

use crate::both_backends;
use crate::support::node_clients;
use crate::support::{wait_until, Backend, TestApp};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

both_backends!(
    a_revoked_token_is_refused_on_the_next_operation_over_every_transport,
    connections_opened_with_a_revoked_token_are_told_and_closed,
);

const PROTOCOLS: [&str; 3] = ["transport", "legacy", "sse"];

/// A reference client holding a connection open with a token.
struct Client {
    protocol: &'static str,
    child: Child,
    events: mpsc::Receiver<Value>,
}

impl Client {
    fn start(app: &TestApp, protocol: &'static str, token: &str) -> Self {
        let url = match protocol {
            "sse" => format!("http://{}/graphql", app.addr),
            _ => format!("ws://{}/graphql", app.addr),
        };
        let mut child = Command::new("node")
            .arg(node_clients().join("revocation.mjs"))
            .args([protocol, url.as_str(), token, "30000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node client");
        let stdout = child.stdout.take().expect("stdout");
        let (send, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    if send.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        Self {
            protocol,
            child,
            events,
        }
    }

    /// The next event that `wanted` accepts (others are skipped); fails after 20 s.
    fn expect(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) if wanted(&event) => return event,
                Ok(event) => seen.push(event),
                Err(_) => panic!("{}: {what}: never came; saw {seen:?}", self.protocol),
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to the client");
    }

    /// The read succeeded with the operator's data.
    fn read_works(&self) {
        self.expect("the operator read works", |e| {
            e["event"] == "result"
                && e["op"] == "read"
                && e["result"]["data"]["auditLog"]["totalCount"].is_number()
        });
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an event says the operation was refused because the token was revoked.
fn refused_as_revoked(event: &Value) -> bool {
    let text = event.to_string();
    let refused = event["event"] == "error" || !event["result"]["errors"].is_null();
    refused && text.contains("revoked") && !text.contains("\"totalCount\"")
}

fn revoke_with_cli(app: &TestApp, name: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["token", "revoke", name])
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .expect("run techbalance token revoke");
    assert!(
        output.status.success(),
        "token revoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn a_revoked_token_is_refused_on_the_next_operation_over_every_transport(backend: Backend) {
    node_clients();
    // The periodic check is far off: what refuses here is the check of every operation.
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_TOKEN_RECHECK_MS", "600000")])
        .start()
        .await;
    for protocol in PROTOCOLS {
        let name = format!("operator-{protocol}");
        let token = app.token(&name).await;
        let mut client = Client::start(&app, protocol, &token);
        client.read_works();
        revoke_with_cli(&app, &name);
        client.send("again");
        let refused = client.expect("the next read is refused", |e| {
            e["op"] == "read" && e["event"] != "complete"
        });
        assert!(
            refused_as_revoked(&refused),
            "{protocol}: the read after revocation: {refused}"
        );
        if protocol != "sse" {
            let closed = client.expect("the connection is closed", |e| e["event"] == "closed");
            assert_eq!(closed["code"], 4403, "{protocol}: {closed}");
        }
    }
}

async fn connections_opened_with_a_revoked_token_are_told_and_closed(backend: Backend) {
    node_clients();
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_TOKEN_RECHECK_MS", "200")])
        .start()
        .await;
    for protocol in PROTOCOLS {
        wait_until("subscriptions left open", 0, || {
            app.live.open_subscriptions()
        })
        .await;
        let name = format!("operator-{protocol}");
        let token = app.token(&name).await;
        let client = Client::start(&app, protocol, &token);
        client.read_works();
        wait_until("the client's subscription", 1, || {
            app.live.open_subscriptions()
        })
        .await;
        assert!(app.store.revoke_token(&name).await.expect("revoke"));
        if protocol == "sse" {
            let told = client.expect("the stream is told", |e| e["op"] == "subscription");
            assert!(refused_as_revoked(&told), "{told}");
            client.expect("then completed", |e| {
                e["event"] == "complete" && e["op"] == "subscription"
            });
        } else {
            let closed = client.expect("the connection is closed", |e| e["event"] == "closed");
            assert_eq!(closed["code"], 4403, "{protocol}: {closed}");
            assert!(
                closed["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("revoked")),
                "{closed}"
            );
        }
    }
}
