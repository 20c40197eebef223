//! Liveness and readiness.
//!
//! `/healthz` answers 200 while the process serves HTTP at all: it touches nothing else, so an
//! orchestrator does not restart a server whose database is down (restarting would not help).
//! `/readyz` answers 200 when every [`Check`] passes and 503 otherwise, with a JSON body that
//! names each check's state, e.g. `{"ready":false,"database":"unreachable","migrations":"unknown"}`.
//! `databaseFile` is `lost` when the SQLite file was deleted or replaced while the server had it
//! open (always `in place` on PostgreSQL).
//!
//! Extension point: a new readiness condition is one more [`Check`] pushed in [`checks`]; it
//! appears in the body under its name, and gates readiness when it is `required`. The change
//! listener (LISTEN/NOTIFY, which feeds subscriptions) is reported but does not gate: it connects
//! in the background after start-up and reconnects after an outage, and queries do not need it.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::time::Duration;

/// Longest a readiness probe waits for the database (the pool's acquire timeout usually answers
/// first).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One readiness condition: its name in the body, whether it holds, its state in words, and
/// whether readiness depends on it.
struct Check {
    name: &'static str,
    ok: bool,
    state: String,
    required: bool,
}

impl Check {
    fn new(name: &'static str, ok: bool, state: impl Into<String>) -> Self {
        Self {
            name,
            ok,
            state: state.into(),
            required: true,
        }
    }

    /// Reported, without making the server unready.
    fn informational(mut self) -> Self {
        self.required = false;
        self
    }
}

/// Every readiness condition, evaluated now.
async fn checks(state: &AppState) -> Vec<Check> {
    let pending = tokio::time::timeout(PROBE_TIMEOUT, state.store.pending_migrations()).await;
    let (database, migrations) = match pending {
        Ok(Ok(pending)) if pending.is_empty() => (
            Check::new("database", true, "reachable"),
            Check::new("migrations", true, "current"),
        ),
        Ok(Ok(pending)) => (
            Check::new("database", true, "reachable"),
            Check::new("migrations", false, format!("{} pending", pending.len())),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database did not answer");
            unreachable_database()
        }
        Err(_) => {
            tracing::warn!(timeout = ?PROBE_TIMEOUT, "readiness: the database did not answer in time");
            unreachable_database()
        }
    };
    let file = match state.store.check_file() {
        Ok(()) => Check::new("databaseFile", true, "in place"),
        Err(e) => {
            tracing::error!(error = %e, "readiness: the database file was lost");
            Check::new("databaseFile", false, "lost")
        }
    };
    let listening = state.store.change_listener_connected();
    let listener = Check::new(
        "changeListener",
        listening,
        if listening { "connected" } else { "connecting" },
    )
    .informational();
    vec![database, migrations, file, listener]
}

fn unreachable_database() -> (Check, Check) {
    (
        Check::new("database", false, "unreachable"),
        Check::new("migrations", false, "unknown"),
    )
}

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let checks = checks(&state).await;
    let ready = checks.iter().all(|c| c.ok || !c.required);
    let mut body = Map::new();
    body.insert("ready".into(), Value::Bool(ready));
    for check in checks {
        body.insert(check.name.into(), Value::String(check.state));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(Value::Object(body))).into_response()
}
