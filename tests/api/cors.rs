//! CORS preflights as browsers send them for common GraphQL clients and tracing libraries:
//! an allowed origin may send their headers; `TECHBALANCE_CORS_HEADERS` adds others, or any.

use crate::support::{Backend, TestApp};
use serde_json::{json, Value};

const ORIGIN: &str = "https://app.example";

/// What browsers ask for in `Access-Control-Request-Headers` (lowercase, sorted) for:
const CLIENTS: [(&str, &str); 6] = [
    (
        "Apollo Client with client awareness",
        "apollographql-client-name,apollographql-client-version,content-type",
    ),
    (
        "Apollo Client with CSRF prevention and operation names",
        "apollo-require-preflight,content-type,x-apollo-operation-name",
    ),
    (
        "an OpenTelemetry web tracer (W3C Trace Context and Baggage)",
        "baggage,content-type,traceparent,tracestate",
    ),
    ("Sentry's browser SDK", "baggage,content-type,sentry-trace"),
    (
        "a Zipkin B3 propagator",
        "b3,content-type,x-b3-parentspanid,x-b3-sampled,x-b3-spanid,x-b3-traceid",
    ),
    (
        "an operator's dashboard",
        "authorization,content-type,x-graphql-csrf,x-request-id",
    ),
];

async fn preflight(app: &TestApp, origin: &str, headers: &str) -> reqwest::Response {
    app.client()
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .expect("preflight")
}

/// Whether the preflight's answer lets a browser send every header in `requested`.
fn permits(response: &reqwest::Response, requested: &str) -> Result<(), String> {
    let headers = response.headers();
    if headers
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        != Some(ORIGIN)
    {
        return Err(format!("origin not allowed: {headers:?}"));
    }
    let allowed: Vec<String> = headers
        .get_all("access-control-allow-headers")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let missing: Vec<&str> = requested
        .split(',')
        .filter(|h| !allowed.iter().any(|a| a == h))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not allowed: {missing:?} (allowed: {allowed:?})"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_of_common_clients_are_allowed_for_an_allowed_origin() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_vars(&[("TECHBALANCE_CORS_ORIGINS", ORIGIN)])
        .start()
        .await;
    for (client, headers) in CLIENTS {
        let response = preflight(&app, ORIGIN, headers).await;
        assert!(
            response.status().is_success(),
            "{client}: {}",
            response.status()
        );
        if let Err(problem) = permits(&response, headers) {
            panic!("{client}: {problem}");
        }
        // Another origin gets no permission for the same request.
        let other = preflight(&app, "https://evil.example", headers).await;
        assert!(
            other.headers().get("access-control-allow-origin").is_none(),
            "{client}: {:?}",
            other.headers()
        );
    }
    // The request the Apollo preflight was for then runs, with its headers.
    let body: Value = app
        .client()
        .post(app.url("/graphql"))
        .header("origin", ORIGIN)
        .header("apollographql-client-name", "web")
        .header("apollographql-client-version", "1.2.3")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&json!({ "query": "{ country(code: \"us\") { name } }" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["country"]["name"], "United States", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_headers_are_allowed_only_when_configured() {
    let requested = "content-type,x-tenant";
    let standard = TestApp::builder(Backend::Sqlite)
        .with_vars(&[("TECHBALANCE_CORS_ORIGINS", ORIGIN)])
        .start()
        .await;
    let response = preflight(&standard, ORIGIN, requested).await;
    assert!(
        permits(&response, requested).is_err(),
        "{:?}",
        response.headers()
    );

    let extra = TestApp::builder(Backend::Sqlite)
        .with_vars(&[
            ("TECHBALANCE_CORS_ORIGINS", ORIGIN),
            ("TECHBALANCE_CORS_HEADERS", "X-Tenant"),
        ])
        .start()
        .await;
    for headers in [requested, CLIENTS[0].1] {
        let response = preflight(&extra, ORIGIN, headers).await;
        permits(&response, headers).unwrap_or_else(|problem| panic!("{headers}: {problem}"));
    }

    let any = TestApp::builder(Backend::Sqlite)
        .with_vars(&[
            ("TECHBALANCE_CORS_ORIGINS", ORIGIN),
            ("TECHBALANCE_CORS_HEADERS", "*"),
        ])
        .start()
        .await;
    let unusual = "content-type,x-tenant,x-whatever-else";
    let response = preflight(&any, ORIGIN, unusual).await;
    permits(&response, unusual).unwrap_or_else(|problem| panic!("{problem}"));
    let other = preflight(&any, "https://evil.example", unusual).await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_bad_header_list_names_its_variable() {
    let err = techbalance::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some("sqlite://unused.db".to_owned()),
        "TECHBALANCE_CORS_HEADERS" => Some("x-ok, not a header".to_owned()),
        _ => None,
    })
    .expect_err("bad header list");
    assert_eq!(err.variable, "TECHBALANCE_CORS_HEADERS");
    assert!(err.to_string().contains("\"not a header\""), "{err}");
}
