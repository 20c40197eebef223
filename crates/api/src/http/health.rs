//! Liveness and readiness.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let (ready, database, migrations) = match state.store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => (true, "reachable", "current".to_owned()),
        Ok(pending) => (false, "reachable", format!("{} pending", pending.len())),
        Err(_) => (false, "unreachable", "unknown".to_owned()),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "ready": ready, "database": database, "migrations": migrations });
    (status, axum::Json(body)).into_response()
}
