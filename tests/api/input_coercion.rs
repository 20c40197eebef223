//! Input coercion: a variable whose value cannot be coerced to its declared type is a request
//! error (400 `BAD_VARIABLE_VALUE` for `application/graphql-response+json`, no `data`), and a
//! literal of the wrong kind is a validation error (`GRAPHQL_VALIDATION_FAILED`), for every kind
//! of input the schema takes: Int range, Float, DateTime, ID, enums, lists, non-null, directives.
//! `application/json` clients get the same body with 200, as GraphQL over HTTP asks.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use serde_json::{json, Value};

both_backends!(
    variables_that_cannot_be_coerced_are_request_errors,
    literals_that_cannot_be_coerced_are_validation_errors,
    values_that_coerce_still_run,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const BAD_VARIABLE_VALUE: &str = "BAD_VARIABLE_VALUE";
const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

const COMPANIES: &str = "query($n: Int) { companies(first: $n) { totalCount } }";
const COMPARE_YEAR: &str =
    r#"query($y: Int) { compare(metric: "rd_intensity", year: $y) { ratio } }"#;
const AS_OF: &str =
    r#"query($t: DateTime) { observations(metric: "rd_intensity", asOf: $t) { year } }"#;
const RUN: &str = "query($id: ID!) { refreshRun(id: $id) { id } }";
const LEADER: &str = "query($l: SectorLeader) { sectors(leader: $l) { slug } }";
const COUNTRIES: &str =
    r#"query($c: [String!]) { observations(metric: "rd_intensity", countries: $c) { year } }"#;
const COUNTRY: &str = "query($c: String!) { country(code: $c) { name } }";
const INCLUDE: &str = "query($b: Boolean!) { countries @include(if: $b) { code } }";
const FLOAT: &str = "query($f: Float) { countries { code } }";

/// (query, variables, what the message must mention)
fn bad_variables() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (COMPANIES, json!({ "n": 2147483648i64 }), "2147483647"),
        (COMPANIES, json!({ "n": -2147483649i64 }), "-2147483648"),
        (COMPANIES, json!({ "n": 1.5 }), "$n"),
        (COMPANIES, json!({ "n": "5" }), "$n"),
        (COMPARE_YEAR, json!({ "y": true }), "$y"),
        (COMPARE_YEAR, json!({ "y": [2020] }), "$y"),
        (FLOAT, json!({ "f": "1.5" }), "$f"),
        (FLOAT, json!({ "f": { "value": 1 } }), "$f"),
        (AS_OF, json!({ "t": "2026-13-01T00:00:00Z" }), "$t"),
        (AS_OF, json!({ "t": "yesterday" }), "$t"),
        (AS_OF, json!({ "t": 1767225600 }), "$t"),
        (RUN, json!({ "id": true }), "$id"),
        (RUN, json!({ "id": 1.5 }), "$id"),
        (RUN, json!({ "id": { "id": 1 } }), "$id"),
        (RUN, json!({}), "was not provided"),
        (RUN, json!({ "id": null }), "must not be null"),
        (LEADER, json!({ "l": "NOBODY" }), "NOBODY"),
        (LEADER, json!({ "l": 1 }), "$l"),
        (COUNTRIES, json!({ "c": ["USA", null] }), "$c[1]"),
        (COUNTRIES, json!({ "c": ["USA", 1] }), "$c[1]"),
        (COUNTRIES, json!({ "c": [["USA"]] }), "$c[0]"),
        (COUNTRY, json!({}), "was not provided"),
        (COUNTRY, json!({ "c": 840 }), "$c"),
        (INCLUDE, json!({ "b": "yes" }), "$b"),
    ]
}

/// (query, what the message must mention)
fn bad_literals() -> Vec<(&'static str, &'static str)> {
    vec![
        ("{ companies(first: 2147483648) { totalCount } }", "first"),
        ("{ companies(first: -2147483649) { totalCount } }", "first"),
        (
            r#"{ compare(metric: "rd_intensity", year: 2020.5) { ratio } }"#,
            "year",
        ),
        (
            r#"{ observations(metric: "rd_intensity", asOf: "2026-02-30T00:00:00Z") { year } }"#,
            "asOf",
        ),
        ("{ refreshRun(id: 1.5) { id } }", "id"),
        (r#"{ sectors(leader: "CHINA") { slug } }"#, "leader"),
        ("{ sectors(leader: NOBODY) { slug } }", "leader"),
        (
            r#"{ observations(metric: "rd_intensity", countries: ["USA", 1]) { year } }"#,
            "countries",
        ),
        (r#"{ countries @include(if: "yes") { code } }"#, "if"),
        (
            "query($n: Int = 2147483648) { companies(first: $n) { totalCount } }",
            "$n",
        ),
        (
            "{ ...F } fragment F on Query { companies(first: 99999999999) { totalCount } }",
            "first",
        ),
        (
            "{ countries { ... on Country { highlights(topic: 7) { title } } } }",
            "topic",
        ),
    ]
}

async fn send(app: &TestApp, accept: &str, query: &str, variables: &Value) -> (u16, String, Value) {
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("accept", accept)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_owned();
    (
        status,
        content_type,
        response.json().await.expect("JSON body"),
    )
}

/// Asserts a request error with `code` whose message mentions `mention`, for both media types.
async fn assert_request_error(
    app: &TestApp,
    query: &str,
    variables: &Value,
    code: &str,
    mention: &str,
) {
    let case = format!("{query} with {variables}");
    let (status, content_type, body) = send(app, GRAPHQL_RESPONSE, query, variables).await;
    assert_eq!(status, 400, "{case}: {body}");
    assert_eq!(content_type, GRAPHQL_RESPONSE, "{case}");
    assert!(body.get("data").is_none(), "{case}: data in {body}");
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], code, "{case}: {body}");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.contains(mention),
        "{case}: {message:?} should mention {mention:?}"
    );

    let (status, content_type, legacy) = send(app, "application/json", query, variables).await;
    assert_eq!(status, 200, "{case} (application/json): {legacy}");
    assert_eq!(content_type, "application/json", "{case}");
    assert!(legacy.get("data").is_none(), "{case}: data in {legacy}");
    assert_eq!(legacy["errors"][0]["extensions"]["code"], code, "{case}");
}

async fn variables_that_cannot_be_coerced_are_request_errors(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for (query, variables, mention) in bad_variables() {
        assert_request_error(&app, query, &variables, BAD_VARIABLE_VALUE, mention).await;
    }
}

async fn literals_that_cannot_be_coerced_are_validation_errors(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for (query, mention) in bad_literals() {
        assert_request_error(&app, query, &json!({}), VALIDATION_FAILED, mention).await;
    }
}

async fn values_that_coerce_still_run(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    // (query, variables, a path into `data` that must be present and not null)
    let cases = [
        (COMPANIES, json!({ "n": 2 }), "/companies/totalCount"),
        (COMPANIES, json!({}), "/companies/totalCount"),
        (COMPARE_YEAR, json!({ "y": 2020 }), "/compare"),
        (COMPARE_YEAR, json!({ "y": null }), "/compare"),
        (
            AS_OF,
            json!({ "t": "2100-01-01T00:00:00+08:00" }),
            "/observations",
        ),
        (LEADER, json!({ "l": "CHINA" }), "/sectors/0/slug"),
        (COUNTRIES, json!({ "c": "USA" }), "/observations/0/year"),
        (
            COUNTRIES,
            json!({ "c": ["USA", "CHN"] }),
            "/observations/0/year",
        ),
        (COUNTRY, json!({ "c": "cn" }), "/country/name"),
        (INCLUDE, json!({ "b": true }), "/countries/0/code"),
        (
            "{ ...F } fragment F on Query { companies(first: 3) { totalCount } }",
            json!({}),
            "/companies/totalCount",
        ),
        (
            "{ sectors(leader: CHINA) { slug } }",
            json!({}),
            "/sectors/0/slug",
        ),
    ];
    for (query, variables, path) in cases {
        let (status, _, body) = send(&app, GRAPHQL_RESPONSE, query, &variables).await;
        assert_eq!(status, 200, "{query} with {variables}: {body}");
        assert!(
            body.get("errors").is_none(),
            "{query} with {variables}: {body}"
        );
        let value = body["data"].pointer(path);
        assert!(
            value.is_some_and(|v| !v.is_null()),
            "{query} with {variables}: nothing at {path} in {body}"
        );
    }
    // An ID given as a number is coerced (to the string "123456"): the run is just not found.
    let (status, _, body) = send(&app, GRAPHQL_RESPONSE, RUN, &json!({ "id": 123456 })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
}
