//! Hostile input, and the limits that answer it: each input gets its own status and
//! `extensions.code`, the server keeps answering, and its memory stays bounded (measured on the
//! real binary's process).

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const NORMAL: &str = "{ countries { code } }";

/// The server over SQLite with these settings (rate limiting off unless set).
async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
    // The first value of a variable wins: these come before the default.
    TestApp::builder(Backend::Sqlite)
        .with_vars(vars)
        .with_vars(&[("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0")])
        .start()
        .await
}

/// POSTs `body` as JSON asking for `application/graphql-response+json`; the status and body.
async fn post(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = app
        .client()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", GRAPHQL_RESPONSE)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

async fn post_query(app: &TestApp, query: &str) -> (u16, Value) {
    post(app, json!({ "query": query }).to_string()).await
}

/// The one error of a refused request: no `data`, and the code expected.
fn refusal<'a>(body: &'a Value, expected: &str) -> &'a Value {
    assert!(
        body.get("data").is_none(),
        "a refused request has no data: {body}"
    );
    let error = &body["errors"][0];
    assert_eq!(code(error), expected, "{body}");
    error
}

fn message(error: &Value) -> &str {
    error["message"].as_str().expect("message")
}

async fn still_answers(app: &TestApp) {
    let data = app.data(NORMAL).await;
    assert_eq!(data["countries"][0]["code"], "CHN");
}

/// `{ a { a … { a } … } }`, `depth` braces deep.
fn nested(depth: usize) -> String {
    format!("{{ {}a{}", "a { ".repeat(depth - 1), " }".repeat(depth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_nested_a_hundred_deep_is_refused_before_it_is_parsed() {
    let app = spawn_with(&[]).await;
    let (status, body) = post_query(&app, &nested(100)).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "QUERY_TOO_DEEP");
    assert!(message(error).contains("100 deep"), "{body}");
    // Within the bracket limit but past the depth limit (15): async-graphql's own check.
    let (status, body) = post_query(&app, &nested(20)).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "QUERY_TOO_DEEP");
    assert!(message(error).contains("15 levels"), "{body}");
    // Far past what the parser could recurse into: refused just the same.
    let (status, body) = post_query(&app, &"[".repeat(200_000)).await;
    assert_eq!(status, 400);
    refusal(&body, "QUERY_TOO_DEEP");
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_aliases_are_refused() {
    let app = spawn_with(&[]).await;
    let fields: String = (0..10_000).map(|i| format!("a{i}:__typename ")).collect();
    let (status, body) = post_query(&app, &format!("{{ {fields}}}")).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "TOO_MANY_ALIASES");
    assert_eq!(
        message(error),
        "the query has 10000 aliases; at most 50 are allowed"
    );
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_directives_are_refused() {
    let app = spawn_with(&[]).await;
    let directives = "@include(if: true) ".repeat(10_000);
    let (status, body) = post_query(&app, &format!("{{ __typename {directives}}}")).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "TOO_MANY_DIRECTIVES");
    assert_eq!(
        message(error),
        "the query has 10000 directives; at most 50 are allowed"
    );
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_of_too_many_tokens_is_refused() {
    let app = spawn_with(&[]).await;
    let (status, body) = post_query(&app, &format!("{{ {}}}", "__typename ".repeat(6_000))).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "TOO_MANY_TOKENS");
    assert_eq!(
        message(error),
        "the query has 6002 tokens; at most 5000 are allowed"
    );
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_operations_in_a_batch_are_refused() {
    let operations = || Value::Array(vec![json!({ "query": NORMAL }); 1000]).to_string();
    // Batching is off by default.
    let app = spawn_with(&[]).await;
    let (status, body) = post(&app, operations()).await;
    assert_eq!(status, 400);
    refusal(&body, "BATCHING_DISABLED");
    still_answers(&app).await;
    // When it is on, batches are capped.
    let app = spawn_with(&[("TECHBALANCE_MAX_BATCH", "10")]).await;
    let (status, body) = post(&app, operations()).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "BATCH_TOO_LARGE");
    assert_eq!(
        message(error),
        "the batch has 1000 operations; at most 10 are accepted"
    );
    let small = json!([
        { "query": NORMAL },
        { "query": "{ country(code: \"us\") { name } }" },
        { "query": "{ nope }" },
    ]);
    let (status, body) = post(&app, small.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["data"]["countries"][0]["code"], "CHN");
    assert_eq!(body[1]["data"]["country"]["name"], "United States");
    refusal(&body[2], "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyclic_and_exponential_fragments_are_refused_quickly() {
    let app = spawn_with(&[]).await;
    let cyclic = "{ ...A } fragment A on Query { ...B } \
                  fragment B on Query { __typename ...A }";
    let (status, body) = post_query(&app, cyclic).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(
        message(error),
        "fragment cycle: \"A\" spreads \"B\" spreads \"A\"; a fragment cannot spread itself"
    );
    // Each fragment spreads the next twice: 2^40 selections once expanded, in 40 lines.
    let mut doubling = String::from("{ ...F0 }");
    for i in 0..40 {
        doubling.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    doubling.push_str(" fragment F40 on Query { __typename }");
    let started = Instant::now();
    let (status, body) = post_query(&app, &doubling).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 400);
    refusal(&body, "QUERY_TOO_COMPLEX");
    still_answers(&app).await;
}

/// The issue's 182-byte query: twelve alternating list levels.
const AMPLIFIER: &str = "{sectors{slug companies{name sectors{slug companies{name sectors{slug \
    companies{name sectors{slug companies{name sectors{slug companies{name sectors{slug \
    companies{name }}}}}}}}}}}}}";

/// `levels` alternating `sectors { companies { … } }` lists, `sectors` first.
fn alternating(levels: usize) -> String {
    let mut query = String::from("{ __typename }");
    for level in (0..levels).rev() {
        let field = if level % 2 == 0 {
            "sectors"
        } else {
            "companies"
        };
        query = format!("{{ {field} {query} }}");
    }
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_that_multiply_lists_are_refused_before_they_run() {
    let app = spawn_with(&[]).await;
    let chain: String = (0..6)
        .map(|i| {
            format!(
                " fragment S{i} on Sector {{ slug companies {{ ...C{i} }} }} \
                 fragment C{i} on Company {{ name sectors {{ ...S{} }} }}",
                i + 1
            )
        })
        .collect::<String>()
        + " fragment S6 on Sector { slug }";
    let wide: String = (0..40)
        .map(|i| format!("a{i}: sectors {{ companies {{ sectors {{ slug }} }} }} "))
        .collect();
    let hostile = [
        ("the issue's query", AMPLIFIER.to_owned()),
        ("deeper", alternating(14)),
        ("four levels", alternating(4)),
        ("wider, with aliases", format!("{{ {wide}}}")),
        ("named fragments", format!("{{ sectors {{ ...S0 }} }}{chain}")),
        (
            "inline fragments",
            "{ sectors { ... on Sector { companies { ... { sectors { ... on Sector { \
             companies { ... on Company { sectors { companies { name } } } } } } } } } } }"
                .to_owned(),
        ),
        (
            "through single objects",
            format!(
                "{{ countries {{ {}code{} }} }}",
                "companies { country { ".repeat(6),
                " } }".repeat(6)
            ),
        ),
        (
            "every year of every version",
            "{ metrics { latestByCountry { history { country { companies { sectors { slug } } } } } } }"
                .to_owned(),
        ),
        (
            "connection pages",
            "{ companies(first: 100) { edges { node { sectors { companies { sectors { \
             companies { name } } } } } } } }"
                .to_owned(),
        ),
    ];
    for (what, query) in &hostile {
        let started = Instant::now();
        let (status, body) = post_query(&app, query).await;
        assert_eq!(status, 400, "{what}: {body}");
        let error = refusal(&body, "QUERY_TOO_COSTLY");
        assert!(
            message(error).contains("at most 50000 are allowed"),
            "{what}: {body}"
        );
        eprintln!(
            "{what}: refused in {:?}: {}",
            started.elapsed(),
            message(error)
        );
    }
    // The page size counts wherever it comes from: the query, a variable, or its default.
    let paged = "query($n: Int!) { companies(first: $n) { edges { node { \
                 sectors { companies { sectors { companies { name } } } } } } } }";
    let (status, body) = post(
        &app,
        json!({ "query": paged, "variables": { "n": 100 } }).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    refusal(&body, "QUERY_TOO_COSTLY");
    let (status, body) = post(
        &app,
        json!({ "query": paged, "variables": { "n": 1 } }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let defaulted = "query($n: Int! = 100) { companies(first: $n) { edges { node { \
                     sectors { companies { sectors { companies { name } } } } } } } }";
    let (status, body) = post_query(&app, defaulted).await;
    assert_eq!(status, 400, "{body}");
    refusal(&body, "QUERY_TOO_COSTLY");
    // Narrow year ranges are cheap; the same selection over every year is not.
    let series = |range: &str| {
        format!(
            "{{ metrics {{ series(country: \"USA\"{range}) {{ year history {{ country {{ \
             companies {{ name }} }} }} }} }} }}"
        )
    };
    let (status, body) = post_query(&app, &series(", from: 2020, to: 2020")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_query(&app, &series("")).await;
    assert_eq!(status, 400, "{body}");
    refusal(&body, "QUERY_TOO_COSTLY");
    // Legitimate queries of every shape still run: two levels of lists, a page.
    for query in [
        alternating(2),
        alternating(3),
        "{ companies(country: \"USA\", first: 5) { totalCount edges { cursor node { name sectors { slug } } } } }".to_owned(),
    ] {
        let (status, body) = post_query(&app, &query).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_response_size_limit_is_refused_not_sent() {
    let app = spawn_with(&[("TECHBALANCE_MAX_RESPONSE_BYTES", "2048")]).await;
    let big = "{ countries { code name companies { name description headquarters } } }";
    let (status, body) = post_query(&app, big).await;
    assert_eq!(status, 400, "{body}");
    let error = refusal(&body, "RESPONSE_TOO_LARGE");
    assert!(
        message(error).starts_with("the answer is larger than 2048 bytes"),
        "{body}"
    );
    // Legacy clients get the refusal with 200, as for the other limits.
    let response = app
        .client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": big }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(code(&body["errors"][0]), "RESPONSE_TOO_LARGE", "{body}");
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_limit_is_configurable() {
    let strict = spawn_with(&[("TECHBALANCE_MAX_NODES", "10")]).await;
    let (status, body) = post_query(&strict, "{ countries { code } }").await;
    assert_eq!(status, 400, "{body}");
    let error = refusal(&body, "QUERY_TOO_COSTLY");
    assert!(
        message(error).starts_with("the query could return about 50 items; at most 10 are allowed"),
        "{body}"
    );
    assert_eq!(
        strict.data("{ country(code: \"US\") { name } }").await["country"]["name"],
        "United States"
    );
    let generous = spawn_with(&[("TECHBALANCE_MAX_NODES", "100000000")]).await;
    let (status, body) = post_query(&generous, &alternating(5)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_mib_body_streamed_without_a_length_is_cut_off_with_413() {
    let app = spawn_with(&[]).await;
    let (status, body, sent) = exchange(app.addr, "POST", Framing::Chunked, 50 << 20).await;
    assert_eq!(status, Some(413), "{body}");
    assert!(body.contains("PAYLOAD_TOO_LARGE"), "{body}");
    assert!(
        sent < 50 << 20,
        "the server read the whole body ({sent} bytes)"
    );
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mib_strings_in_variables_are_refused_with_413() {
    let app = spawn_with(&[]).await;
    // Declared up front: refused before a byte of it is read.
    let (status, body, sent) = exchange(app.addr, "POST", Framing::Length, 10 << 20).await;
    assert_eq!(status, Some(413), "{body}");
    assert!(body.contains("PAYLOAD_TOO_LARGE"), "{body}");
    assert!(
        sent < 10 << 20,
        "the server read the whole body ({sent} bytes)"
    );
    // The rest of the body is never read: the connection cannot carry another request.
    let closes = |answer: &str| {
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n")
    };
    assert!(closes(&body), "{body}");
    // Streamed: cut off at the limit.
    let (status, body, _) = exchange(app.addr, "POST", Framing::Chunked, 10 << 20).await;
    assert_eq!(status, Some(413), "{body}");
    assert!(closes(&body), "{body}");
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_utf8_is_refused() {
    let app = spawn_with(&[]).await;
    let (status, body) = post(&app, b"{\"query\": \"{ \xff\xfe }\"}".to_vec()).await;
    assert_eq!(status, 400);
    let error = refusal(&body, "BAD_REQUEST");
    assert_eq!(message(error), "the request body is not valid UTF-8");
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_of_the_wrong_json_type_are_refused_by_name() {
    let app = spawn_with(&[]).await;
    for (request, expected) in [
        (json!({ "query": 42 }), "\"query\" must be a string"),
        (json!({ "query": ["{ a }"] }), "\"query\" must be a string"),
        (
            json!({ "query": NORMAL, "variables": "{}" }),
            "\"variables\" must be an object",
        ),
        (
            json!({ "query": NORMAL, "variables": [1] }),
            "\"variables\" must be an object",
        ),
        (
            json!({ "query": NORMAL, "operationName": 1 }),
            "\"operationName\" must be a string",
        ),
        (
            json!({ "query": NORMAL, "operationName": {} }),
            "\"operationName\" must be a string",
        ),
        (
            json!({ "query": NORMAL, "extensions": true }),
            "\"extensions\" must be an object",
        ),
        (
            json!("{ countries { code } }"),
            "a GraphQL request must be a JSON object",
        ),
        (json!({ "qeury": NORMAL }), "the request has no \"query\""),
    ] {
        let (status, body) = post(&app, request.to_string()).await;
        assert_eq!(status, 400, "{request}");
        let error = refusal(&body, "BAD_REQUEST");
        assert!(message(error).starts_with(expected), "{request}: {body}");
    }
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_billion_is_refused() {
    let app = spawn_with(&[]).await;
    let error = app
        .error("{ companies(first: 1000000000) { totalCount } }")
        .await;
    assert_eq!(code(&error), "BAD_USER_INPUT");
    assert_eq!(
        message(&error),
        "first must be between 0 and 100 (default 20), got 1000000000"
    );
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_that_runs_too_long_is_cut_off_with_504() {
    let app = spawn_with(&[
        ("TECHBALANCE_REQUEST_TIMEOUT_MS", "300"),
        ("TECHBALANCE_DB_MAX_CONNECTIONS", "1"),
    ])
    .await;
    // Hold the only database connection: the query waits for it past the timeout.
    let held = sea_orm::TransactionTrait::begin(app.store.connection())
        .await
        .expect("hold the connection");
    let started = Instant::now();
    let (status, body) = post_query(&app, NORMAL).await;
    assert_eq!(status, 504, "{body}");
    let error = refusal(&body, "TIMEOUT");
    // The request's deadline, or the operation's (the same limit), whichever fires first.
    assert!(
        message(error).ends_with("did not finish within 300 ms"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_field_suggestions_can_be_switched_off() {
    let on = spawn_with(&[]).await;
    let (status, body) = post_query(&on, "{ __schema { queryType { name } } }").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let (_, body) = post_query(&on, "{ countrie { code } }").await;
    assert!(body.to_string().contains("Did you mean"), "{body}");

    let off = spawn_with(&[
        ("TECHBALANCE_INTROSPECTION", "false"),
        ("TECHBALANCE_FIELD_SUGGESTIONS", "false"),
    ])
    .await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Country\") { name } }",
        "{ ...I } fragment I on Query { __schema { types { name } } }",
    ] {
        let (status, body) = post_query(&off, query).await;
        assert_eq!(status, 400, "{query}");
        let error = refusal(&body, "INTROSPECTION_DISABLED");
        assert_eq!(message(error), "introspection is disabled on this server");
    }
    let (status, body) = post_query(&off, "{ countrie { code } }").await;
    assert_eq!(status, 400);
    refusal(&body, "GRAPHQL_VALIDATION_FAILED");
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    // __typename is not introspection.
    assert_eq!(off.data("{ __typename }").await["__typename"], "Query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_are_rate_limited_and_operators_are_not() {
    let app = spawn_with(&[
        ("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0.2"),
        ("TECHBALANCE_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let token = app.token("ops").await;
    for _ in 0..3 {
        assert_eq!(post_query(&app, NORMAL).await.0, 200);
    }
    let response = app
        .client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": NORMAL }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    // One token every five seconds.
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(code(&body["errors"][0]), "RATE_LIMITED");
    // A bogus token is anonymous traffic.
    let response = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth("tb_not_a_token")
        .json(&json!({ "query": NORMAL }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    // An operator is not limited.
    for _ in 0..10 {
        let body = app.post_as(&token, NORMAL).await;
        assert_eq!(body["data"]["countries"][0]["code"], "CHN");
    }
    // Health checks are not limited either.
    let health = app
        .client()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_gets_are_refused_unless_preflighted_or_allowed_by_cors() {
    let app = spawn_with(&[("TECHBALANCE_CORS_ORIGINS", "https://app.example")]).await;
    let get = |headers: &'static [(&'static str, &'static str)]| {
        let mut request = app
            .client()
            .get(app.url("/graphql"))
            .query(&[("query", NORMAL)]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let forged = get(&[
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ])
    .await
    .expect("request");
    assert_eq!(forged.status(), 403);
    let body: Value = forged.json().await.expect("json");
    assert_eq!(code(&body["errors"][0]), "CSRF_REJECTED");
    for headers in [
        &[("sec-fetch-site", "cross-site"), ("x-graphql-csrf", "1")][..],
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example"),
        ][..],
        &[("sec-fetch-site", "same-origin")][..],
        &[][..],
    ] {
        let response = get(headers).await.expect("request");
        assert_eq!(response.status(), 200, "{headers:?}");
    }
    // A simple (form) POST never runs.
    let form = app
        .client()
        .post(app.url("/graphql"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=mutation%7BtriggerRefresh(source%3A%22baseline%22)%7Bid%7D%7D")
        .send()
        .await
        .expect("request");
    assert_eq!(form.status(), 415);
    // GraphiQL is still served to a browser.
    let page = app
        .client()
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_origins_get_cors_headers() {
    let app = spawn_with(&[("TECHBALANCE_CORS_ORIGINS", "https://app.example")]).await;
    let preflight = |origin: &'static str| {
        app.client()
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.expect("preflight");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let refused = preflight("https://evil.example").await.expect("preflight");
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    // With nothing configured, no origin is allowed.
    let closed = spawn_with(&[]).await;
    let response = closed
        .client()
        .post(closed.url("/graphql"))
        .header("origin", "https://app.example")
        .json(&json!({ "query": NORMAL }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[test]
fn a_bad_limit_setting_names_its_variable() {
    let db_url = "sqlite://unused.db";
    for (variable, value) in [
        ("TECHBALANCE_MAX_ALIASES", "many"),
        ("TECHBALANCE_MAX_TOKENS", "0"),
        ("TECHBALANCE_MAX_RECURSION", "100000"),
        ("TECHBALANCE_REQUEST_TIMEOUT_MS", "-1"),
        ("TECHBALANCE_INTROSPECTION", "maybe"),
        ("TECHBALANCE_RATE_LIMIT_PER_SECOND", "fast"),
        ("TECHBALANCE_MAX_BATCH", "100000"),
        ("TECHBALANCE_CORS_ORIGINS", "example.org"),
        ("TECHBALANCE_CSRF_PREVENTION", "perhaps"),
        ("TECHBALANCE_PERSISTED_QUERIES", "lots"),
        ("TECHBALANCE_MAX_NODES", "0"),
        ("TECHBALANCE_MAX_RESPONSE_BYTES", "100"),
        ("TECHBALANCE_HEADER_TIMEOUT_MS", "1"),
        ("TECHBALANCE_IDLE_TIMEOUT_MS", "soon"),
        ("TECHBALANCE_MAX_CONNECTIONS", "0"),
    ] {
        let err = techbalance::config::Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some(db_url.to_owned()),
            name if name == variable => Some(value.to_owned()),
            _ => None,
        })
        .expect_err(variable);
        assert_eq!(err.variable, variable);
        assert!(err.to_string().starts_with(variable), "{err}");
    }
}

/// How a raw request's body is framed.
enum Framing {
    /// `transfer-encoding: chunked`, no length given.
    Chunked,
    /// `content-length`, declared up front.
    Length,
}

/// Sends `method /graphql` with a body of `total` bytes (a JSON request whose query string is
/// padded), as fast as the server takes it, while reading the answer: a client that reads the
/// early answer to an oversized body, as an HTTP client should. The status, the answer and the
/// bytes of body sent before the server stopped reading.
async fn exchange(
    addr: SocketAddr,
    method: &str,
    framing: Framing,
    total: usize,
) -> (Option<u16>, String, usize) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let framing_header = match framing {
        Framing::Chunked => "transfer-encoding: chunked".to_owned(),
        Framing::Length => format!("content-length: {total}"),
    };
    let head = format!(
        "{method} /graphql?query=%7B__typename%7D HTTP/1.1\r\nhost: {addr}\r\n\
         content-type: application/json\r\naccept: {GRAPHQL_RESPONSE}\r\n\
         {framing_header}\r\nconnection: close\r\n\r\n"
    );
    let send = async move {
        let mut sent = 0;
        if writer.write_all(head.as_bytes()).await.is_err() {
            return sent;
        }
        let opening = br#"{"query": "{ __typename }", "variables": {"x": ""#;
        let mut chunk = vec![b'x'; 64 * 1024];
        chunk[..opening.len()].copy_from_slice(opening);
        while sent < total {
            let size = chunk.len().min(total - sent);
            let piece = &chunk[..size];
            let written = match framing {
                Framing::Chunked => {
                    let framed = [format!("{size:x}\r\n").as_bytes(), piece, b"\r\n"].concat();
                    writer.write_all(&framed).await
                }
                Framing::Length => writer.write_all(piece).await,
            };
            if written.is_err() {
                return sent;
            }
            chunk[..opening.len()].fill(b'x');
            sent += size;
        }
        if let Framing::Chunked = framing {
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        sent
    };
    let receive = async move {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        // Until the server closes (or resets) the connection.
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(20), reader.read(&mut buffer)).await
        {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    };
    let (sent, answer) = tokio::join!(send, receive);
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    (status, answer, sent)
}

/// The real binary, serving a scratch SQLite database; killed when dropped.
struct Process {
    child: std::process::Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Process {
    async fn start() -> Self {
        Self::spawn(None).await
    }

    /// The server started by a shell that lowered its soft open file limit to `soft` first.
    async fn start_with_soft_fd_limit(soft: u32) -> Self {
        Self::spawn(Some(soft)).await
    }

    async fn spawn(soft_fd_limit: Option<u32>) -> Self {
        // One directory per server: tests of one process start servers concurrently, and one
        // must not delete another's database file while it starts.
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tb-hostile-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let binary = env!("CARGO_BIN_EXE_techbalance");
        let mut command = match soft_fd_limit {
            None => Command::new(binary),
            Some(soft) => {
                let mut shell = Command::new("sh");
                shell.args([
                    "-c",
                    &format!("ulimit -Sn {soft} && exec \"$0\" \"$@\""),
                    binary,
                ]);
                shell
            }
        };
        for (name, _) in std::env::vars() {
            if name.starts_with("TECHBALANCE_") || name == "DATABASE_URL" {
                command.env_remove(name);
            }
        }
        let child = command
            .current_dir(&dir)
            .env("TECHBALANCE_LOG", "warn")
            .env("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0")
            .env("TECHBALANCE_MAX_BATCH", "100")
            .args(["serve", "--bind", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server");
        let process = Process { child, addr, dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        process
    }

    /// Peak resident memory so far (the high-water mark), in KiB, from /proc.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    async fn post(&self, client: &reqwest::Client, body: String) -> u16 {
        client
            .post(format!("http://{}/graphql", self.addr))
            .header("content-type", "application/json")
            .header("accept", GRAPHQL_RESPONSE)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_memory_stays_bounded_under_every_hostile_input() {
    let server = Process::start().await;
    let client = reqwest::Client::new();
    let normal = json!({ "query": NORMAL }).to_string();
    for _ in 0..20 {
        assert_eq!(server.post(&client, normal.clone()).await, 200);
    }
    let before = server.peak_rss_kib();
    let query = |text: String| json!({ "query": text }).to_string();
    let aliases: String = (0..10_000).map(|i| format!("a{i}:__typename ")).collect();
    let directives = "@skip(if: false) ".repeat(10_000);
    let batch = Value::Array(vec![json!({ "query": NORMAL }); 1000]).to_string();
    let hostile = [
        ("depth 100", query(nested(100)), 400),
        ("200,000 brackets", query("{".repeat(200_000)), 400),
        ("10,000 aliases", query(format!("{{ {aliases}}}")), 400),
        (
            "10,000 directives",
            query(format!("{{ __typename {directives}}}")),
            400,
        ),
        ("1,000 operations", batch, 400),
        (
            "the issue's list amplifier",
            query(AMPLIFIER.to_owned()),
            400,
        ),
        ("sixteen list levels", query(alternating(14)), 400),
    ];
    for round in 0..3 {
        for (what, body, expected) in &hostile {
            assert_eq!(
                server.post(&client, body.clone()).await,
                *expected,
                "{what}, round {round}"
            );
        }
        for (method, framing, size, expected) in [
            ("POST", Framing::Length, 10 << 20, 413),
            ("POST", Framing::Chunked, 10 << 20, 413),
            ("POST", Framing::Chunked, 50 << 20, 413),
            ("GET", Framing::Chunked, 50 << 20, 200),
        ] {
            let (status, answer, _) = exchange(server.addr, method, framing, size).await;
            assert_eq!(status, Some(expected), "{method} of {size} bytes: {answer}");
        }
    }
    let after = server.peak_rss_kib();
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!("server peak resident memory: {before} KiB before, {after} KiB after");
    assert!(
        grown_mib < 48,
        "peak resident memory grew by {grown_mib} MiB ({before} KiB to {after} KiB)"
    );
    assert_eq!(server.post(&client, normal).await, 200);
}

both_backends!(a_flood_of_made_up_tokens_is_refused_without_looking_them_up);

/// Over the limit, a request with an `Authorization` header is refused as cheaply as an
/// anonymous one: the tokens are read at most once per second, not once per request.
async fn a_flood_of_made_up_tokens_is_refused_without_looking_them_up(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_vars(&[
            ("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0.01"),
            ("TECHBALANCE_RATE_LIMIT_BURST", "1"),
        ])
        .counting_statements()
        .start()
        .await;
    let statements = app.statements();
    let token = app.token("ops").await;
    assert_eq!(post_query(&app, NORMAL).await.0, 200);
    let before = statements.load(std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    for i in 0..100 {
        let response = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(format!("tb_{i:064x}"))
            .json(&json!({ "query": NORMAL }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 429);
    }
    let lookups = statements.load(std::sync::atomic::Ordering::SeqCst) - before;
    let seconds = started.elapsed().as_secs() as usize;
    assert!(
        lookups <= seconds + 1,
        "{lookups} statements for 100 refused requests in {seconds} s"
    );
    // An operator over the same address's limit is still served.
    let body = app.post_as(&token, NORMAL).await;
    assert_eq!(body["data"]["countries"][0]["code"], "CHN");
}

both_backends!(the_bearer_scheme_is_accepted_in_any_case);

async fn the_bearer_scheme_is_accepted_in_any_case(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let token = app.token("ops").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = app
            .client()
            .post(app.url("/graphql"))
            .header("authorization", format!("{scheme} {token}"))
            .json(&json!({ "query": "{ auditLog { totalCount } }" }))
            .send()
            .await
            .expect("request");
        let body: Value = response.json().await.expect("json");
        assert!(body["errors"].is_null(), "{scheme}: {body}");
        assert!(
            body["data"]["auditLog"]["totalCount"].is_number(),
            "{scheme}: {body}"
        );
    }
    let body = app.post_as("tb_wrong", "{ auditLog { totalCount } }").await;
    assert!(!body["errors"].is_null(), "{body}");
}

/// How a hostile connection misbehaves.
#[derive(Clone, Copy, Debug)]
enum Stall {
    /// Connects and sends nothing (for 5 s, longer than the test's timeouts).
    Idle,
    /// Sends a header line a byte at a time, never finishing the headers.
    SlowHeader,
    /// Sends complete headers for a large body, then the body a byte at a time.
    SlowBody,
}

/// Opens a connection that stalls as `how`, trickling a byte every 200 ms (an idle one sends a
/// line end after 5 s), until the server closes it; what the server answered (its first line),
/// if anything.
async fn stall(addr: SocketAddr, how: Stall) -> String {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return "connect failed".to_owned();
    };
    let (mut reader, mut writer) = stream.into_split();
    let head = match how {
        Stall::Idle => String::new(),
        Stall::SlowHeader => "POST /graphql HTTP/1.1\r\nhost: x\r\n".to_owned(),
        Stall::SlowBody => format!(
            "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: 100000\r\n\r\n{{\"query\":\""
        ),
    };
    let started = Instant::now();
    let trickle = async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let byte: &[u8] = match how {
                // Past every timeout, one line end: a connection the kernel's accept queue
                // dropped without telling the client (under load) reaches the server this way.
                Stall::Idle if started.elapsed() < Duration::from_secs(5) => continue,
                Stall::Idle => b"\r\n",
                Stall::SlowHeader => b"x",
                Stall::SlowBody => b" ",
            };
            if writer.write_all(byte).await.is_err() {
                return;
            }
        }
    };
    let answer = async move {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::select! {
        answer = answer => answer,
        () = trickle => "closed while writing".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_client_is_answered_while_thousands_of_connections_stall() {
    let app = spawn_with(&[
        ("TECHBALANCE_MAX_CONNECTIONS", "300"),
        ("TECHBALANCE_HEADER_TIMEOUT_MS", "1000"),
        ("TECHBALANCE_IDLE_TIMEOUT_MS", "3000"),
        ("TECHBALANCE_REQUEST_TIMEOUT_MS", "1500"),
    ])
    .await;
    let mut stalled = tokio::task::JoinSet::new();
    for i in 0..2000 {
        // In waves, so that the kernel's accept queue does not overflow: a connection dropped
        // there looks open to an idle client that never sends a byte.
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let how = [Stall::Idle, Stall::SlowHeader, Stall::SlowBody][i % 3];
        let addr = app.addr;
        stalled.spawn(async move { (how, stall(addr, how).await) });
    }
    // Let the stalled connections fill every slot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A normal client, on fresh connections, is answered at once every time: at the limit its
    // connection takes the slot of the oldest connection that has not been answered.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut answered = Value::Null;
    for attempt in 0..20 {
        let response = client
            .post(app.url("/graphql"))
            .json(&json!({ "query": NORMAL }))
            .send()
            .await
            .expect("the server answers while connections stall");
        let status = response.status().as_u16();
        answered = response.json().await.expect("json");
        assert_eq!(
            status, 200,
            "request {attempt} while connections stall: {answered}"
        );
    }
    assert_eq!(answered["data"]["countries"][0]["code"], "CHN");
    // Every stalled connection ends: refused at once, or cut off by its timeout.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    loop {
        let joined = match tokio::time::timeout(Duration::from_secs(60), stalled.join_next()).await
        {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(_) => panic!(
                "{} stalled connections still open a minute later; ended: {seen:?}",
                stalled.len()
            ),
        };
        let (how, answer) = joined.expect("stalled connection task");
        let first_line = answer.lines().next().unwrap_or("").to_owned();
        let outcome = if first_line.is_empty() {
            format!("{how:?}: closed")
        } else {
            format!("{how:?}: {first_line}")
        };
        *seen.entry(outcome).or_default() += 1;
    }
    eprintln!("stalled connections: {seen:?}");
    // 2,000 against 300 slots: each is closed to make room for a newer one, or cut off by its
    // timeout; none was answered with anything but a refusal or a timeout.
    for outcome in seen.keys() {
        assert!(
            outcome.ends_with("closed")
                || outcome.ends_with("504 Gateway Timeout")
                || outcome.ends_with("closed while writing")
                || outcome.ends_with("408 Request Timeout"),
            "{seen:?}"
        );
    }
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_limit_of_answered_connections_a_new_one_is_refused_with_503() {
    let app = spawn_with(&[("TECHBALANCE_MAX_CONNECTIONS", "4")]).await;
    // Four kept-alive connections, each answered once: none of them may be evicted.
    let mut kept = Vec::new();
    for _ in 0..4 {
        let mut stream = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        let body = json!({ "query": NORMAL }).to_string();
        let request = format!(
            "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            app.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = vec![0u8; 4096];
        let n = stream.read(&mut answer).await.expect("read");
        let head = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        kept.push(stream);
    }
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .json(&json!({ "query": NORMAL }))
        .send()
        .await
        .expect("a refusal, not a hang");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("json");
    assert_eq!(code(&body["errors"][0]), "TOO_MANY_CONNECTIONS", "{body}");
    drop(kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_raises_its_open_file_limit_to_the_hard_limit() {
    // Started with a low soft limit, as a default shell or service manager would.
    let server = Process::start_with_soft_fd_limit(1024).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id()))
        .expect("/proc limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_eq!(numbers[0], numbers[1], "soft limit not raised: {line}");
    assert_ne!(numbers[0], "1024", "{line}");
}
