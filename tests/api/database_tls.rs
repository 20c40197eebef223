//! TLS to PostgreSQL follows the URL's standard `sslmode` parameter (see the README).

use crate::support::{Backend, TestDb};
use sea_orm::{ConnectionTrait, Statement};
use std::time::Duration;
use techbalance_store::{ConnectionSettings, Store};

/// Whether the store's connection to `url` is encrypted, as the server sees it.
async fn uses_tls(url: String) -> bool {
    let store = Store::connect(&ConnectionSettings {
        url,
        max_connections: 1,
        acquire_timeout: Duration::from_secs(10),
    })
    .await
    .expect("connect");
    let row = store
        .connection()
        .query_one(Statement::from_string(
            store.backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .expect("pg_stat_ssl")
        .expect("a row for this backend");
    row.try_get_by_index(0).expect("ssl column")
}

#[tokio::test]
async fn sslmode_in_the_database_url_decides_whether_postgres_connections_use_tls() {
    let db = TestDb::empty(Backend::Postgres).await;
    let with = |mode: &str| {
        let separator = if db.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}sslmode={mode}", db.url)
    };
    assert!(!uses_tls(with("disable")).await, "sslmode=disable used TLS");
    let loopback = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|host| db.url.contains(&format!("@{host}")));
    assert!(
        loopback,
        "the test database is expected on this host: {}",
        db.url
    );
    assert!(
        !uses_tls(db.url.clone()).await,
        "a loopback server without sslmode was reached with TLS"
    );
    // `prefer` (libpq's default, kept for other hosts) uses TLS exactly when the server offers it.
    let offered = {
        let store = Store::connect(&ConnectionSettings {
            url: with("disable"),
            max_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        })
        .await
        .expect("connect");
        let row = store
            .connection()
            .query_one(Statement::from_string(store.backend(), "SHOW ssl"))
            .await
            .expect("SHOW ssl")
            .expect("a row");
        row.try_get_by_index::<String>(0).expect("ssl setting") == "on"
    };
    assert_eq!(uses_tls(with("prefer")).await, offered, "sslmode=prefer");
    if offered {
        assert!(
            uses_tls(with("require")).await,
            "sslmode=require without TLS"
        );
    }
}
