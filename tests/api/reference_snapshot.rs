//! Reference tables (countries, metrics, sources, sectors…) are read once per data version and
//! shared by the requests of that version; PostgreSQL connections in steady use are not pinged
//! before each statement. Neither may serve stale data or a dead connection.

use crate::support::{Backend, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::time::Duration;
use techbalance_store::reference::ReferenceData;
use techbalance_store::{ConnectionSettings, Store};

crate::both_backends!(a_reference_change_in_another_process_is_served_on_the_next_requests);

/// Another process renames a country and adds a metric: once its change notice arrives, the
/// server answers with both, although it had read (and shared) the tables before.
async fn a_reference_change_in_another_process_is_served_on_the_next_requests(backend: Backend) {
    let app = TestApp::builder(backend)
        // Every answer is executed: the snapshot is what is under test, not the response cache.
        .with_vars(&[("TECHBALANCE_RESPONSE_CACHE_BYTES", "0")])
        .start()
        .await;
    let query = r#"{ country(code: "USA") { name } metrics { slug } }"#;
    let before = app.data(query).await;
    assert_eq!(before["country"]["name"], "United States");
    let slugs = |data: &serde_json::Value| -> Vec<String> {
        data["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["slug"].as_str().expect("slug").to_owned())
            .collect()
    };
    assert!(!slugs(&before).contains(&"quantum_patents".to_owned()));
    // Asked again: answered from the shared snapshot, unchanged.
    assert_eq!(app.data(query).await, before);

    let other = Store::connect(&ConnectionSettings {
        url: app.db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    })
    .await
    .expect("a second process's store");
    let mut usa = other
        .countries()
        .await
        .expect("countries")
        .into_iter()
        .find(|c| c.code == "USA")
        .expect("USA");
    usa.name = "United States of America".to_owned();
    let mut metric = other
        .metrics(None)
        .await
        .expect("metrics")
        .into_iter()
        .next()
        .expect("a metric");
    metric.slug = "quantum_patents".to_owned();
    metric.name = "Quantum patents".to_owned();
    other
        .upsert_reference_data(&ReferenceData {
            countries: vec![usa],
            metrics: vec![metric],
            ..ReferenceData::default()
        })
        .await
        .expect("the other process's change");

    // Change notices arrive asynchronously (SQLite's are polled).
    served_within_10_s(&app, query, "the other process's change", |after| {
        after["country"]["name"] == "United States of America"
            && slugs(after).contains(&"quantum_patents".to_owned())
    })
    .await;
    // And from then on, on every request.
    for _ in 0..3 {
        let after = app.data(query).await;
        assert_eq!(after["country"]["name"], "United States of America");
        assert!(slugs(&after).contains(&"quantum_patents".to_owned()));
    }

    // An edit by hand in SQL, announced as the README says: served too.
    let announce = match backend {
        Backend::Postgres => r#"SELECT pg_notify('techbalance_changes', '{"kind":"changed"}')"#,
        Backend::Sqlite => {
            r#"INSERT INTO change_notices (origin, notice) VALUES ('manual', '{"kind":"changed"}')"#
        }
    };
    for statement in [
        "UPDATE countries SET name = 'USA (edited by hand)' WHERE code = 'USA'",
        announce,
    ] {
        other
            .connection()
            .execute_unprepared(statement)
            .await
            .expect(statement);
    }
    served_within_10_s(&app, query, "the announced edit", |after| {
        after["country"]["name"] == "USA (edited by hand)"
    })
    .await;
}

/// Asks `query` until its data satisfies `served`; fails after 10 s naming `what`.
async fn served_within_10_s(
    app: &TestApp,
    query: &str,
    what: &str,
    served: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let after = app.data(query).await;
        if served(&after) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} was not served within 10 s: {after}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server's pooled PostgreSQL connections are closed by the server side (a restart, a
/// failover, an administrator's `pg_terminate_backend`): each is checked before use and
/// replaced, so no request gets an error, not even right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_the_database_closed_are_replaced_before_use() {
    let app = TestApp::builder(Backend::Postgres)
        .with_vars(&[
            ("TECHBALANCE_RESPONSE_CACHE_BYTES", "0"),
            ("TECHBALANCE_DB_MAX_CONNECTIONS", "4"),
        ])
        .start()
        .await;
    let query = |country: &str| {
        format!(
            r#"{{ metric(slug: "rd_intensity") {{ series(country: "{country}") {{ year }} }} }}"#
        )
    };
    // Open several pooled connections.
    let countries = ["USA", "CHN", "JPN", "DEU"];
    let app = &app;
    let ask_all = || {
        futures_util::future::join_all(countries.iter().map(|c| {
            let query = query(c);
            async move { app.post(&query, json!({})).await }
        }))
    };
    for body in ask_all().await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let killed: i64 = {
        let row = app
            .store
            .connection()
            .query_one(sea_orm::Statement::from_string(
                app.store.backend(),
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query NOT LIKE 'LISTEN%'",
            ))
            .await
            .expect("terminate the pool's connections")
            .expect("a row");
        row.try_get_by_index(0).expect("count")
    };
    assert!(killed >= 1, "no pooled connection was open");
    for round in 0..2 {
        for body in ask_all().await {
            assert!(body.get("errors").is_none(), "round {round}: {body}");
        }
    }
}
