//! A bounded fuzz run against the real server: a few thousand GraphQL documents and request
//! bodies, mutated from valid ones (byte flips, truncations, splices, nesting, odd values and
//! types) and sent over POST and GET with assorted headers. No answer may be a 5xx, every answer
//! must be JSON, and the server must answer a normal query afterwards.
//!
//! Deterministic by default; `FUZZ_SEED` and `FUZZ_INPUTS` change the seed and the count (see
//! FUZZING.md for the runs made and what they found).

use crate::support::{Backend, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DEFAULT_SEED: u64 = 0x7ec4_ba1a_2026;
const DEFAULT_INPUTS: usize = 3_000;
const TIME_LIMIT: Duration = Duration::from_secs(240);

/// Valid documents the mutations start from.
const CORPUS: &[&str] = &[
    r#"{ compare(metric: "rd_intensity", countries: ["USA", "CHN"]) { ratio leader { code } entries { country { code name } value yearUsed observation { source { id } citation recordedAt } } } }"#,
    r#"{ country(code: "cn") { name flag companies { name founded headquarters ownership sectors { name } } highlights(topic: "talent") { title body } } }"#,
    r#"{ metric(slug: "patent_applications") { name unit higherIsBetter series(country: "USA", from: 2000, to: 2025) { year value source { id } } latest(country: "CHN") { year value qualifier } sources { id name } } }"#,
    r#"{ observations(metric: "scientific_papers", countries: ["USA", "CHN"]) { country { code } year value qualifier source { id } recordedAt citation } }"#,
    r#"{ sectors(leader: CHINA) { slug name leader summary companies { name } } companies(country: "USA", first: 5) { totalCount edges { cursor node { name sectors { slug } } } pageInfo { hasNextPage endCursor } } }"#,
    r#"query Q($c: String!, $n: Int = 3) { country(code: $c) { ...C } companies(first: $n) { totalCount } } fragment C on Country { code name }"#,
    r#"query A { countries { code } } query B { __typename }"#,
    r#"{ a: countries { code } b: countries { name @include(if: true) } c: __typename @skip(if: false) }"#,
    r#"{ __schema { queryType { name } types { name kind fields(includeDeprecated: true) { name args { name type { name ofType { name } } } } } } }"#,
    r#"mutation { triggerRefresh(source: "baseline") { id status } }"#,
    r#"subscription { __typename }"#,
    r#"{ ... on Query { countries { ... on Country { code } } } }"#,
];

/// splitmix64: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "@",
    "$",
    "...",
    "!",
    "=",
    "|",
    "&",
    "\"",
    "\"\"\"",
    "#",
    "\n",
    ",",
    "on",
    "fragment",
    "query",
    "mutation",
    "subscription",
    "null",
    "true",
    "-0.5e9",
    "99999999999999999999999",
    "\\u0000",
    "\u{0}",
    "\u{feff}",
    "é",
    "🏃",
    "__typename",
    "__schema",
    "countries",
    "first: 1000000000",
    "first: -1",
    "after: \"xx\"",
    "@include(if: $x)",
];

/// One mutation of `text`.
fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let at = rng.below(bytes.len() + 1);
        match rng.below(9) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(at),
            2 => {
                let token = rng.pick(TOKENS).as_bytes().to_vec();
                bytes.splice(at..at, token);
            }
            3 if at < bytes.len() => {
                let end = (at + 1 + rng.below(20)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 if at < bytes.len() => {
                let end = (at + 1 + rng.below(40)).min(bytes.len());
                let span = bytes[at..end].to_vec();
                let times = 1 + rng.below(50);
                for _ in 0..times {
                    bytes.splice(at..at, span.iter().copied());
                }
            }
            5 => {
                let depth = 1 + rng.below(300);
                let open = rng
                    .pick(&["{ a ", "[", "(x: ", "{ ... on Q "])
                    .repeat(depth);
                bytes.splice(at..at, open.into_bytes());
            }
            6 => {
                let other = rng.pick(CORPUS).as_bytes();
                let from = rng.below(other.len());
                bytes.splice(at..at, other[from..].iter().copied());
            }
            7 => {
                let byte = rng.next() as u8;
                bytes.insert(at.min(bytes.len()), byte);
            }
            _ => {
                let token = rng.pick(TOKENS).repeat(1 + rng.below(500));
                bytes.splice(at..at, token.into_bytes());
            }
        }
    }
    bytes
}

/// A JSON value of a random type, sometimes deeply nested.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.next() as i64),
        2 => json!(f64::from(rng.next() as u32) / 7.0),
        3 => json!(rng.below(2) == 0),
        4 => json!("x".repeat(rng.below(5000))),
        5 => json!([1, "two", null, { "three": 3 }]),
        6 => json!({ "c": "us", "n": rng.below(200), "x": [[[]]] }),
        7 => {
            let depth = 1 + rng.below(400);
            let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
        _ => json!(rng.pick(CORPUS)),
    }
}

enum Input {
    Post {
        content_type: &'static str,
        body: Vec<u8>,
    },
    Get {
        query: Vec<(String, String)>,
    },
}

fn generate(rng: &mut Rng) -> (Input, &'static str) {
    let accept = *rng.pick(&[
        "application/json",
        "application/graphql-response+json",
        "application/graphql-response+json, application/json;q=0.9",
        "*/*",
        "text/html",
        "",
    ]);
    let seed = *rng.pick(CORPUS);
    let document = String::from_utf8_lossy(&mutate(rng, seed)).into_owned();
    let input = match rng.below(8) {
        // A mutated document in a well-formed body.
        0..=2 => Input::Post {
            content_type: "application/json",
            body: json!({ "query": document, "variables": { "c": "us", "n": 2 } })
                .to_string()
                .into_bytes(),
        },
        // Parameters of odd types.
        3 => {
            let mut object = serde_json::Map::new();
            for name in ["query", "operationName", "variables", "extensions"] {
                if rng.below(3) > 0 {
                    let value = match (name, rng.below(2)) {
                        ("query", 0) => json!(document),
                        _ => odd_value(rng),
                    };
                    object.insert(name.to_owned(), value);
                }
            }
            let body = if rng.below(5) == 0 {
                Value::Array(vec![Value::Object(object); 1 + rng.below(3)])
            } else {
                Value::Object(object)
            };
            Input::Post {
                content_type: "application/json",
                body: body.to_string().into_bytes(),
            }
        }
        // A mutated body (broken JSON, invalid UTF-8).
        4 | 5 => {
            let body = json!({ "query": seed, "operationName": "Q", "variables": { "c": "cn" } })
                .to_string();
            Input::Post {
                content_type: rng.pick::<&str>(&[
                    "application/json",
                    "application/json; charset=utf-8",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                ]),
                body: mutate(rng, &body),
            }
        }
        // Over GET.
        _ => {
            let mut query = vec![("query".to_owned(), document)];
            if rng.below(2) == 0 {
                let variables = mutate(rng, r#"{"c":"us","n":2}"#);
                query.push((
                    "variables".to_owned(),
                    String::from_utf8_lossy(&variables).into_owned(),
                ));
            }
            if rng.below(4) == 0 {
                query.push(("operationName".to_owned(), "Q".to_owned()));
            }
            Input::Get { query }
        }
    };
    (input, accept)
}

fn describe(input: &Input) -> String {
    let text = match input {
        Input::Post { content_type, body } => {
            format!("POST ({content_type}) {}", String::from_utf8_lossy(body))
        }
        Input::Get { query } => format!("GET {query:?}"),
    };
    text.chars().take(600).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_mutated_requests_get_no_server_error_and_no_crash() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let inputs = std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_INPUTS);
    let app = TestApp::builder(Backend::Sqlite)
        .with_vars(&[
            ("TECHBALANCE_RATE_LIMIT_PER_SECOND", "0"),
            ("TECHBALANCE_MAX_BATCH", "5"),
        ])
        .start()
        .await;
    let mut rng = Rng(seed);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let started = Instant::now();
    let mut sent = 0;
    while sent < inputs && started.elapsed() < TIME_LIMIT {
        let (input, accept) = generate(&mut rng);
        let request = match &input {
            Input::Post { content_type, body } => app
                .client()
                .post(app.url("/graphql"))
                .header("content-type", *content_type)
                .body(body.clone()),
            Input::Get { query } => app.client().get(app.url("/graphql")).query(query),
        };
        let request = if accept.is_empty() {
            request
        } else {
            request.header("accept", accept)
        };
        let response = request.send().await.unwrap_or_else(|e| {
            panic!(
                "input {sent} (seed {seed}) got no answer: {e}\n{}",
                describe(&input)
            )
        });
        let status = response.status().as_u16();
        let html = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
        let body = response.text().await.expect("body");
        assert!(
            status < 500,
            "input {sent} (seed {seed}) got {status}: {body}\n{}",
            describe(&input)
        );
        assert!(
            html || serde_json::from_str::<Value>(&body).is_ok(),
            "input {sent} (seed {seed}) got a body that is not JSON: {body}\n{}",
            describe(&input)
        );
        *statuses.entry(status).or_default() += 1;
        sent += 1;
    }
    eprintln!(
        "fuzz: seed {seed}, {sent} inputs in {:.1} s, statuses {statuses:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        sent >= inputs.min(1_000),
        "only {sent} inputs within {TIME_LIMIT:?}"
    );
    assert_eq!(
        app.data("{ countries { code } }").await["countries"][0]["code"],
        "CHN"
    );
}
