//! GraphQL over HTTP: POST (JSON) and GET (query string) at `/graphql`, GraphiQL for browsers.

use super::AppState;
use crate::loaders;
use async_graphql::http::GraphiQLSource;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

pub(super) async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    if query.is_empty() && accepts(&headers, "text/html") {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .title("techbalance GraphiQL")
                .finish(),
        )
        .into_response();
    }
    match async_graphql::http::parse_query_string(&query) {
        Ok(request) => execute(&state, &headers, request).await,
        Err(err) => request_error(
            &headers,
            StatusCode::BAD_REQUEST,
            &format!("invalid query string: {err}"),
        ),
    }
}

pub(super) async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(JSON) {
        return request_error(
            &headers,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a POST must have Content-Type: application/json",
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return request_error(
                &headers,
                StatusCode::BAD_REQUEST,
                &format!("malformed JSON body: {err}"),
            )
        }
    };
    if value.is_array() {
        return request_error(
            &headers,
            StatusCode::BAD_REQUEST,
            "batched requests are not accepted",
        );
    }
    match serde_json::from_value::<async_graphql::Request>(value) {
        Ok(request) => execute(&state, &headers, request).await,
        Err(err) => request_error(
            &headers,
            StatusCode::BAD_REQUEST,
            &format!("invalid GraphQL request: {err}"),
        ),
    }
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = crate::auth::identify(&state.store, authorization).await;
    let request = request
        .data(loaders::per_request(state.store.clone()))
        .data(caller);
    let response = state.schema.execute(request).await;
    let graphql_response = wants_graphql_response(headers);
    // With application/graphql-response+json, a request that never executed (parse or validation
    // error: no data at all) is a 400; application/json clients always get 200.
    let status =
        if graphql_response && response.is_err() && response.data == async_graphql::Value::Null {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
    json_response(status, graphql_response, &response)
}

fn json_response(
    status: StatusCode,
    graphql_response: bool,
    body: &impl serde::Serialize,
) -> Response {
    let content_type = if graphql_response {
        GRAPHQL_RESPONSE
    } else {
        JSON
    };
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "response serialisation failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn request_error(headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        wants_graphql_response(headers),
        &json!({ "errors": [{ "message": message }] }),
    )
}

fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(media_type)
        })
}

/// Whether to answer `application/graphql-response+json` (when the client accepts it) rather
/// than `application/json` (legacy clients, and clients that send no Accept header).
fn wants_graphql_response(headers: &HeaderMap) -> bool {
    accepts(headers, GRAPHQL_RESPONSE)
}
