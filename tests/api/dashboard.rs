//! Every relation is batched: a whole-dashboard query costs the same number of SQL statements
//! whether there are 2 countries or 20.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use std::sync::atomic::Ordering;
use techbalance_store::entities::{company, country, source};
use techbalance_store::reference::{CompanyEntry, HighlightEntry, ReferenceData};
use techbalance_store::revisions::{Batch, Point, Scope};

const DASHBOARD: &str = r#"{
  countries { code name flag
    companies { name sectors { slug } country { code } }
    highlights { topic title } }
  metrics { slug name unit sources { id }
    latestByCountry { year value qualifier country { code name } source { id name } } }
  sectors { slug leader companies { name country { code } } }
}"#;

both_backends!(the_dashboard_query_costs_the_same_statements_for_2_or_20_countries);

async fn the_dashboard_query_costs_the_same_statements_for_2_or_20_countries(backend: Backend) {
    let (app, statements) = TestApp::spawn_counting_statements(backend).await;

    let with_two = count(&app, &statements).await;
    assert_eq!(
        app.data("{ countries { code } }").await["countries"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    add_countries(&app, 18).await;
    let data = app.data(DASHBOARD).await;
    assert_eq!(data["countries"].as_array().map(Vec::len), Some(20));
    let with_twenty = count(&app, &statements).await;

    eprintln!("{backend:?}: dashboard query issued {with_two} statements with 2 countries, {with_twenty} with 20");
    assert_eq!(with_two, with_twenty, "statement count grew with the data");
    assert!(
        with_two <= 12,
        "{with_two} statements for one dashboard query"
    );
}

async fn count(app: &TestApp, statements: &std::sync::atomic::AtomicUsize) -> usize {
    statements.store(0, Ordering::SeqCst);
    let data = app.data(DASHBOARD).await;
    assert!(data["metrics"].as_array().is_some_and(|m| !m.is_empty()));
    statements.load(Ordering::SeqCst)
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
            })
            .collect(),
        companies: codes
            .iter()
            .map(|code| CompanyEntry {
                company: company::Model {
                    slug: format!("company-{}", code.to_lowercase()),
                    name: format!("Company {code}"),
                    country: code.clone(),
                    ownership: "PRIVATE".into(),
                    founded: Some(2000),
                    headquarters: None,
                    description: None,
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
