//! Protocol conformance: the `graphql-http` package's GraphQL-over-HTTP server audits (MUST,
//! SHOULD and MAY alike) against the real server, run by `tests/node/audit.mjs`; and Apollo's
//! automatic persisted queries, over POST and GET.

use crate::support::{code, node_clients, Backend, TestApp};
use serde_json::{json, Value};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_passes_every_graphql_over_http_audit() {
    let dir = node_clients();
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let url = app.url("/graphql");
    let script = dir.join("audit.mjs");
    let output =
        tokio::task::spawn_blocking(move || Command::new("node").arg(script).arg(url).output())
            .await
            .expect("audit task")
            .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "graphql-http audits failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or_default();
    let (ok, total) = summary
        .strip_suffix(" audits ok")
        .and_then(|s| s.split_once(" of "))
        .expect("a summary line");
    assert_eq!(ok, total, "{stdout}");
    assert!(
        total.parse::<usize>().is_ok_and(|n| n >= 60),
        "fewer audits than expected: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiqls_introspection_query_is_within_the_default_limits() {
    let dir = node_clients();
    let script = "import { getIntrospectionQuery } from 'graphql'; \
                  console.log(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, \
                  directiveIsRepeatable: true, schemaDescription: true, \
                  inputValueDeprecation: true, oneOf: true }));";
    let output = Command::new("node")
        .current_dir(&dir)
        .args(["--input-type=module", "-e", script])
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let query = String::from_utf8(output.stdout).expect("query text");
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let data = app.data(&query).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

/// A query and the SHA-256 of its text, as Apollo clients send them.
const COUNTRIES: (&str, &str) = (
    "{ countries { code } }",
    "adfde42d0d1cb2c08b9cf5d06e28e9a39cbd25d3a5a3f0a179b6c44a9a71dddf",
);
const UNITED_STATES: (&str, &str) = (
    "{ country(code: \"us\") { name } }",
    "81af0546c0ec4741f69e9ba733b55fbed18b00fb671bc774f9b8dd5a95f1215f",
);

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn apq_post(app: &TestApp, query: Option<&str>, hash: &str) -> Value {
    let mut body = json!({ "extensions": persisted(hash) });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    let response = app
        .client()
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn apq_get(app: &TestApp, query: Option<&str>, hash: &str) -> Value {
    let extensions = persisted(hash).to_string();
    let mut params = vec![("extensions", extensions.as_str())];
    if let Some(query) = query {
        params.push(("query", query));
    }
    let response = app
        .client()
        .get(app.url("/graphql"))
        .query(&params)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

fn not_found(body: &Value) {
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(code(&body["errors"][0]), "PERSISTED_QUERY_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_query_is_run_by_its_hash_once_registered() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let (query, hash) = COUNTRIES;
    not_found(&apq_post(&app, None, hash).await);
    let registered = apq_post(&app, Some(query), hash).await;
    assert_eq!(registered["data"]["countries"][0]["code"], "CHN");
    let by_hash = apq_post(&app, None, hash).await;
    assert_eq!(by_hash["data"], registered["data"]);
    // A hash that is not the query's is refused.
    let mismatch = apq_post(&app, Some(UNITED_STATES.0), hash).await;
    assert_eq!(code(&mismatch["errors"][0]), "BAD_REQUEST");
    assert_eq!(
        mismatch["errors"][0]["message"],
        "provided sha does not match query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_query_is_run_by_its_hash_over_get_too() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let (query, hash) = UNITED_STATES;
    not_found(&apq_get(&app, None, hash).await);
    let registered = apq_get(&app, Some(query), hash).await;
    assert_eq!(registered["data"]["country"]["name"], "United States");
    let by_hash = apq_get(&app, None, hash).await;
    assert_eq!(by_hash["data"], registered["data"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_mutation_cannot_be_run_by_its_hash_over_get() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let token = app.token("ops").await;
    let mutation = "mutation { triggerRefresh(source: \"baseline\") { id } }";
    let hash = "08401d6f0623dbdd98f1af735d93082ded0e9434cbfb6ccad9ba1fe25d254452";
    // Registered (and run) over POST, where mutations belong.
    let registered = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": mutation, "extensions": persisted(hash) }))
        .send()
        .await
        .expect("request");
    let registered: Value = registered.json().await.expect("json");
    assert!(
        registered["data"]["triggerRefresh"]["id"].is_string(),
        "{registered}"
    );
    // By its hash alone over GET: the document is known, and refused before it runs.
    let response = app
        .client()
        .get(app.url("/graphql"))
        .bearer_auth(&token)
        .query(&[("extensions", persisted(hash).to_string())])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.expect("json");
    assert_eq!(code(&body["errors"][0]), "METHOD_NOT_ALLOWED");
}
