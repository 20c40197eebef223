//! Every relation is batched: a whole-dashboard query costs the same number of SQL statements
//! whether there are 2 countries or 20.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use std::sync::atomic::Ordering;
use techbalance_store::entities::{company, country, source};
use techbalance_store::record::{Batch, Point, Scope};
use techbalance_store::reference::{CompanyEntry, HighlightEntry, ReferenceData};

pub(crate) const DASHBOARD: &str = r#"{
  countries { code name flag
    companies { name sectors { slug } country { code } }
    highlights { topic title } }
  metrics { slug name unit sources { id }
    latestByCountry { year value qualifier country { code name } source { id name } } }
  sectors { slug leader companies { name country { code } } }
}"#;

both_backends!(the_dashboard_query_costs_the_same_statements_for_9_or_27_countries);

async fn the_dashboard_query_costs_the_same_statements_for_9_or_27_countries(backend: Backend) {
    // The statements of an execution: no answer from the response cache.
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_RESPONSE_CACHE_BYTES", "0")])
        .counting_statements()
        .start()
        .await;
    let statements = app.statements();

    // The baseline's nine: the two compared, six peers and the EU.
    let with_nine = count(&app, statements).await;
    assert_eq!(
        app.data("{ countries { code } }").await["countries"]
            .as_array()
            .map(Vec::len),
        Some(9)
    );

    add_countries(&app, 18).await;
    let data = app.data(DASHBOARD).await;
    assert_eq!(data["countries"].as_array().map(Vec::len), Some(27));
    let with_more = count(&app, statements).await;

    eprintln!("{backend:?}: dashboard query issued {with_nine} statements with 9 countries, {with_more} with 27");
    assert_eq!(with_nine, with_more, "statement count grew with the data");
    assert!(
        with_nine <= 12,
        "{with_nine} statements for one dashboard query"
    );
}

/// The statements one dashboard query issues: the fewest of three runs, because the counter also
/// sees the server's background statements (the SQLite change poll, the PostgreSQL listener),
/// which may land inside any one run.
async fn count(app: &TestApp, statements: &std::sync::atomic::AtomicUsize) -> usize {
    let mut fewest = usize::MAX;
    for _ in 0..3 {
        statements.store(0, Ordering::SeqCst);
        let data = app.data(DASHBOARD).await;
        assert!(data["metrics"].as_array().is_some_and(|m| !m.is_empty()));
        fewest = fewest.min(statements.load(Ordering::SeqCst));
    }
    fewest
}

/// Adds `n` countries, each with a company, a highlight and a value for every baseline metric.
async fn add_countries(app: &TestApp, n: usize) {
    let metrics: Vec<String> = app
        .store
        .metrics(None)
        .await
        .expect("metrics")
        .into_iter()
        .map(|m| m.slug)
        .collect();
    let codes: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "Z{}{}",
                (b'A' + (i / 26) as u8) as char,
                (b'A' + (i % 26) as u8) as char
            )
        })
        .collect();
    let reference = ReferenceData {
        sources: vec![source::Model {
            id: "synthetic".into(),
            name: "Synthetic test source".into(),
            homepage: "https://example.org/".into(),
            terms: "test data".into(),
        }],
        countries: codes
            .iter()
            .map(|code| country::Model {
                code: code.clone(),
                iso2: code[1..].to_owned(),
                name: format!("Country {code}"),
                flag: "🏳".into(),
                kind: country::CountryKind::Country,
            })
            .collect(),
        companies: codes
            .iter()
            .map(|code| CompanyEntry {
                company: company::Model {
                    slug: format!("company-{}", code.to_lowercase()),
                    name: format!("Company {code}"),
                    country: code.clone(),
                    ownership: techbalance_store::entities::company::Ownership::Private,
                    founded: Some(2000),
                    headquarters: None,
                    description: None,
                    citation: None,
                    ownership_citation: None,
                    founded_citation: None,
                    headquarters_citation: None,
                },
                sectors: vec!["artificial-intelligence".into()],
            })
            .collect(),
        highlights: codes
            .iter()
            .map(|code| HighlightEntry {
                country: code.clone(),
                topic: "talent".into(),
                position: 1,
                title: format!("About {code}"),
                body: "Synthetic.".into(),
                citation: None,
            })
            .collect(),
        ..ReferenceData::default()
    };
    app.store
        .upsert_reference_data(&reference)
        .await
        .expect("reference data");
    let points = codes
        .iter()
        .flat_map(|code| {
            metrics.iter().map(move |metric| Point {
                metric: metric.clone(),
                country: code.clone(),
                year: 2023,
                value: 1.0,
                qualifier: None,
                citation: None,
            })
        })
        .collect();
    let batch = Batch {
        source: "synthetic".into(),
        release: None,
        scope: Scope {
            metrics,
            countries: Some(codes),
            years: None,
        },
        points,
    };
    app.store
        .record(&batch, techbalance_store::now())
        .await
        .expect("record");
}

both_backends!(latest_values_agree_with_the_newest_year_of_each_series);

/// `latestByCountry`, `latest` and `compare` (answered from the latest-value index) give, for
/// every metric and country, the newest year of `series` (answered from every current version):
/// the newest year wins, then the preferred source; revised, withdrawn and unlisted-source
/// values are handled the same way.
async fn latest_values_agree_with_the_newest_year_of_each_series(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    add_countries(&app, 3).await;
    let metric = "rd_intensity";
    let batch = |source: &str, points: &[(&str, i32, f64)], countries: &[&str]| Batch {
        source: source.into(),
        release: None,
        scope: Scope {
            metrics: vec![metric.into()],
            countries: Some(countries.iter().map(|c| c.to_string()).collect()),
            years: None,
        },
        points: points
            .iter()
            .map(|(country, year, value)| Point {
                metric: metric.into(),
                country: country.to_string(),
                year: *year,
                value: *value,
                qualifier: None,
                citation: None,
            })
            .collect(),
    };
    let all = ["ZAA", "ZAB", "ZAC"];
    // ZAA: the World Bank has 2024, newer than the synthetic 2023. ZAB: the OECD and the World
    // Bank both have 2024 (the OECD is preferred). ZAC: the World Bank's 2025 is withdrawn below.
    let worldbank = [
        ("ZAA", 2022, 1.0),
        ("ZAA", 2024, 2.0),
        ("ZAB", 2024, 3.0),
        ("ZAC", 2025, 4.0),
    ];
    for (source, points) in [
        ("worldbank", &worldbank[..]),
        ("oecd-msti", &[("ZAB", 2024, 5.0), ("ZAB", 2020, 6.0)][..]),
        // A revision: only the current version counts.
        (
            "worldbank",
            &[
                ("ZAA", 2022, 1.0),
                ("ZAA", 2024, 7.0),
                ("ZAB", 2024, 3.0),
                ("ZAC", 2025, 4.0),
            ][..],
        ),
        // A withdrawal of ZAC's 2025.
        (
            "worldbank",
            &[("ZAA", 2022, 1.0), ("ZAA", 2024, 7.0), ("ZAB", 2024, 3.0)][..],
        ),
    ] {
        app.store
            .record(&batch(source, points, &all), techbalance_store::now())
            .await
            .expect("record");
    }

    let codes = ["USA", "CHN", "ZAA", "ZAB", "ZAC"];
    let series: String = codes
        .iter()
        .map(|c| {
            format!(
                "s{c}: series(country: \"{c}\") {{ year value source {{ id }} }} \
                 l{c}: latest(country: \"{c}\") {{ year value source {{ id }} }} "
            )
        })
        .collect();
    let compares: String = codes
        .windows(2)
        .map(|pair| {
            format!(
                "c{a}{b}: compare(metric: \"{metric}\", countries: [\"{a}\", \"{b}\"]) \
                 {{ entries {{ country {{ code }} value yearUsed observation {{ source {{ id }} }} }} }} ",
                a = pair[0],
                b = pair[1]
            )
        })
        .collect();
    let data = app
        .data(&format!(
            "{{ metric(slug: \"{metric}\") {{ {series} \
             latestByCountry {{ country {{ code }} year value source {{ id }} }} }} {compares} }}"
        ))
        .await;
    let m = &data["metric"];
    let newest = |code: &str| -> serde_json::Value {
        m[format!("s{code}")]
            .as_array()
            .and_then(|s| s.last().cloned())
            .unwrap_or(serde_json::Value::Null)
    };
    let expected = [
        ("ZAA", 2024, 7.0, "worldbank"),
        ("ZAB", 2024, 5.0, "oecd-msti"),
        ("ZAC", 2023, 1.0, "synthetic"),
    ];
    for (code, year, value, source) in expected {
        assert_eq!(
            newest(code),
            serde_json::json!({ "year": year, "value": value, "source": { "id": source } }),
            "{code}"
        );
    }
    let by_country = m["latestByCountry"].as_array().expect("latestByCountry");
    for code in codes {
        let want = newest(code);
        assert_eq!(m[format!("l{code}")], want, "latest of {code}");
        let listed = by_country
            .iter()
            .find(|o| o["country"]["code"] == code)
            .map(|o| serde_json::json!({ "year": o["year"], "value": o["value"], "source": o["source"] }))
            .unwrap_or(serde_json::Value::Null);
        assert_eq!(listed, want, "latestByCountry of {code}");
    }
    for pair in codes.windows(2) {
        let entries = data[format!("c{}{}", pair[0], pair[1])]["entries"]
            .as_array()
            .expect("entries")
            .clone();
        for (entry, code) in entries.iter().zip(pair) {
            let want = newest(code);
            assert_eq!(entry["country"]["code"], *code);
            assert_eq!(entry["value"], want["value"], "compare value of {code}");
            assert_eq!(entry["yearUsed"], want["year"], "compare year of {code}");
            assert_eq!(
                entry["observation"]["source"], want["source"],
                "compare source of {code}"
            );
        }
    }
}

both_backends!(a_request_queues_for_a_busy_pool_until_its_acquire_timeout);

/// With every pooled connection busy, a request waits for one (and is answered) instead of being
/// refused at once; it is refused with `SERVICE_UNAVAILABLE` only when none frees up within
/// `TECHBALANCE_DB_TIMEOUT_SECS`.
async fn a_request_queues_for_a_busy_pool_until_its_acquire_timeout(backend: Backend) {
    // On PostgreSQL the change listener keeps one pooled connection for itself: one is left
    // for requests on both backends.
    let pool = match backend {
        Backend::Postgres => "2",
        Backend::Sqlite => "1",
    };
    let app = TestApp::builder(backend)
        .with_vars(&[
            ("TECHBALANCE_DB_MAX_CONNECTIONS", pool),
            ("TECHBALANCE_DB_TIMEOUT_SECS", "2"),
            // Each ask must reach the pool, not the response cache.
            ("TECHBALANCE_RESPONSE_CACHE_BYTES", "0"),
        ])
        .start()
        .await;
    if let Backend::Postgres = backend {
        crate::support::wait_until("the change listener", true, || {
            app.store.change_listener_connected()
        })
        .await;
    }
    let hold_all = || async { app.store.begin().await.expect("hold the free connection") };
    let release = |held: sea_orm::DatabaseTransaction| async move {
        held.rollback().await.expect("release");
    };
    // A series is read from the database on every request (reference tables such as the
    // countries are shared between requests of one data version).
    let query = r#"{ metric(slug: "rd_intensity") { series(country: "USA") { year } } }"#;
    let ask = || async {
        app.client()
            .post(app.url("/graphql"))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("request")
    };

    // Every connection is busy for half the timeout: the request waits, then is answered.
    let busy = hold_all().await;
    let (response, ()) = tokio::join!(ask(), async {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        release(busy).await;
    });
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(
        body.get("errors").is_none(),
        "queued request failed: {body}"
    );
    let years = body["data"]["metric"]["series"].as_array().map(Vec::len);
    assert!(years.is_some_and(|n| n > 0), "a series: {body}");

    // Busy for longer than the timeout: refused, and the next request is answered again.
    let busy = hold_all().await;
    let response = ask().await;
    release(busy).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(
        crate::support::code(&body["errors"][0]),
        "SERVICE_UNAVAILABLE"
    );
    assert!(app.data(query).await["metric"]["series"].is_array());
}
