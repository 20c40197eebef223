//! String escapes of the October 2021 GraphQL specification: surrogate pairs
//! (`\uD83C\uDDE8`) and braced escapes (`\u{1F1E8}`) mean the same text as the raw characters,
//! over POST, GET and automatic persisted queries; a lone surrogate is a parse error that says
//! where and why.

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

both_backends!(
    escaped_and_raw_characters_give_the_same_answer,
    a_lone_surrogate_is_a_parse_error_that_says_where,
    a_persisted_query_with_new_escapes_runs_by_its_hash,
);

/// The same argument, written raw and with each escape form.
const CHINA_FLAG: [&str; 5] = [
    "🇨🇳",
    r"\uD83C\uDDE8\uD83C\uDDF3",
    r"\ud83c\udde8\ud83c\uddf3",
    r"\u{1F1E8}\u{1F1F3}",
    r"\u{1f1e8}\uD83C\uDDF3",
];
const USA: [&str; 4] = ["USA", r"\u0055SA", r"\u{55}SA", r"\u{0055}\u{53}\u{000041}"];

async fn escaped_and_raw_characters_give_the_same_answer(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let raw = app
        .post(r#"{ country(code: "USA") { name flag } }"#, json!({}))
        .await;
    assert_eq!(raw["data"]["country"]["name"], "United States", "{raw}");
    for written in USA {
        let query = format!(r#"{{ country(code: "{written}") {{ name flag }} }}"#);
        assert_eq!(app.post(&query, json!({})).await, raw, "{query}");
        let by_get = get(&app, &query).await;
        assert_eq!(by_get, raw, "GET {query}");
    }
    // An unknown code comes back in the error as the server read it: the flag itself.
    let mut answers = Vec::new();
    for written in CHINA_FLAG {
        let query = format!(r#"{{ country(code: "{written}") {{ name }} }}"#);
        let body = app.post(&query, json!({})).await;
        let error = &body["errors"][0];
        assert_eq!(code(error), "NOT_FOUND", "{query}: {body}");
        assert_eq!(error["extensions"]["value"], "🇨🇳", "{query}: {body}");
        answers.push(error["message"].clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // Escapes that stand for a quote, a backslash or a newline keep meaning those characters.
    let body = app
        .post(
            r#"{ country(code: "\u{22}\u{5C}\u{A}") { name } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["value"], "\"\\\n", "{body}");
    // A block string is left as written: `\u{55}` is six characters there.
    let body = app
        .post(r#"{ country(code: """\u{55}SA""") { name } }"#, json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["value"], r"\u{55}SA",
        "{body}"
    );
}

async fn a_lone_surrogate_is_a_parse_error_that_says_where(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for (written, says) in [
        (r"\uD83C", "leading surrogate"),
        (r"\uD83Cx", "leading surrogate"),
        (r"\uDDE8", "trailing surrogate"),
        (r"\u{D83C}", "surrogate"),
        (r"\u{110000}", "10FFFF"),
    ] {
        let query = format!("{{\n  country(code: \"{written}\") {{ name }} }}");
        let response = app
            .client()
            .post(app.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("json");
        assert!(body.get("data").is_none(), "{body}");
        let error = &body["errors"][0];
        assert_eq!(code(error), "GRAPHQL_PARSE_FAILED", "{body}");
        let message = error["message"].as_str().expect("message");
        assert!(message.contains(says), "{query}: {message}");
        assert!(message.contains("line 2, column 18"), "{query}: {message}");
        assert_eq!(
            error["locations"],
            json!([{ "line": 2, "column": 18 }]),
            "{body}"
        );
    }
}

async fn a_persisted_query_with_new_escapes_runs_by_its_hash(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let query = r#"{ country(code: "\u{55}S\u0041") { name } }"#;
    let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let registered = post(&app, json!({ "query": query, "extensions": extensions })).await;
    assert_eq!(
        registered["data"]["country"]["name"], "United States",
        "{registered}"
    );
    let by_hash = post(&app, json!({ "extensions": extensions })).await;
    assert_eq!(by_hash, registered);
}

async fn post(app: &TestApp, body: Value) -> Value {
    app.client()
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

async fn get(app: &TestApp, query: &str) -> Value {
    app.client()
        .get(app.url("/graphql"))
        .query(&[("query", query)])
        .header("accept", "application/json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}
