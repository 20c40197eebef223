//! The HTTP transport: GraphQL over POST and GET, GraphiQL, health, and what bad requests get.

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::Value;

both_backends!(
    a_browser_asking_for_html_gets_graphiql,
    a_get_with_a_query_string_executes_the_query,
    health_and_readiness_answer,
    malformed_json_gets_a_400_with_a_plain_message,
    a_post_without_json_content_type_is_refused,
    an_oversized_body_is_refused_with_413,
    graphql_response_json_is_answered_when_asked_for,
    a_syntax_error_is_reported_without_data,
    database_failures_do_not_leak_sql,
);

async fn a_browser_asking_for_html_gets_graphiql(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .client()
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/html")));
    let page = response.text().await.expect("body");
    assert!(page.contains("graphiql"), "not a GraphiQL page");
}

async fn a_get_with_a_query_string_executes_the_query(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .client()
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query One($c: String!) { country(code: $c) { name } }",
            ),
            ("variables", r#"{"c":"us"}"#),
        ])
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["country"]["name"], "United States");
}

async fn health_and_readiness_answer(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let health = app
        .client()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = app
        .client()
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["ready"], true);
    assert_eq!(body["migrations"], "current");
}

async fn malformed_json_gets_a_400_with_a_plain_message(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for body in [
        r#"{"query": "{ countries { code } }""#,
        "not json",
        r#"{"query": 42}"#,
        r#"{"query": "{ countries { code } }", "variables": "x"}"#,
    ] {
        let response = app
            .client()
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.expect("json error body");
        let message = json["errors"][0]["message"].as_str().expect("message");
        assert!(!message.contains("Error("), "debug text leaked: {message}");
        assert!(json.get("data").is_none());
    }
}

async fn a_post_without_json_content_type_is_refused(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .client()
        .post(app.url("/graphql"))
        .body(r#"{"query":"{ countries { code } }"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 415);
}

async fn an_oversized_body_is_refused_with_413(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let padding = " ".repeat(app.config.http.max_body_bytes + 1);
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query":"{{ countries {{ code }} }}{padding}"}}"#
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    // The server is still there.
    assert_eq!(
        app.data("{ countries { code } }").await["countries"][0]["code"],
        "CHN"
    );
}

async fn graphql_response_json_is_answered_when_asked_for(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&serde_json::json!({ "query": "{ countries { code } }" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json"
    );
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("accept", "application/json")
        .json(&serde_json::json!({ "query": "{ countries { code } }" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["content-type"], "application/json");
}

async fn a_syntax_error_is_reported_without_data(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&serde_json::json!({ "query": "{ countries { code " }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("data").is_none() || body["data"].is_null());
    assert!(body["errors"][0]["message"].is_string());
}

async fn database_failures_do_not_leak_sql(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    app.store
        .connection()
        .execute_unprepared("DROP TABLE highlights")
        .await
        .expect("drop table");
    let body = app
        .post(
            r#"{ countries { code highlights { title } } }"#,
            Value::Null,
        )
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(code(error), "INTERNAL_SERVER_ERROR");
        assert_eq!(error["message"], "internal error");
    }
    let text = body.to_string().to_lowercase();
    for leak in [
        "select ",
        "no such table",
        "does not exist",
        "sqlx",
        "sea_orm",
        "database error",
    ] {
        assert!(!text.contains(leak), "response leaks {leak:?}: {body}");
    }
    // The rest of the API still answers.
    assert!(app.data("{ countries { code } }").await["countries"]
        .as_array()
        .is_some_and(|countries| countries.iter().any(|c| c["code"] == "USA")));
}

crate::both_backends!(an_answer_lists_every_objects_members_in_one_order);

/// The same request gives the same bytes: each object's members in the order of their names,
/// at every level, whatever order the fields finished in (here the selection names them in
/// the reverse order, and the first request after a start reads the reference tables).
async fn an_answer_lists_every_objects_members_in_one_order(backend: Backend) {
    let app = TestApp::builder(backend)
        // Every answer is computed: no cached bytes.
        .with_vars(&[("TECHBALANCE_RESPONSE_CACHE_BYTES", "0")])
        .start()
        .await;
    let query = r#"{ metric(slug: "rd_intensity") { unit slug name } countries { name code } }"#;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let body = app
            .client()
            .post(app.url("/graphql"))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        bodies.push(body);
    }
    let first = &bodies[0];
    assert!(
        first.starts_with(r#"{"data":{"countries":[{"code":"#),
        "members out of order: {first}"
    );
    let metric = first
        .find(r#""metric":{"name":"#)
        .expect("metric, then its name");
    let slug = first[metric..].find(r#","slug":"#).expect("slug");
    let unit = first[metric..].find(r#","unit":"#).expect("unit");
    assert!(slug < unit, "slug before unit: {first}");
    assert!(bodies.iter().all(|b| b == first), "{bodies:?}");
}
