//! Entities, queries and versioned writes: the only place in techbalance that speaks SQL.
//!
//! Observations are stored as versions in knowledge time (see [`record`]); everything else is
//! reference data that the baseline describes (see [`reference`]).

pub mod audit;
pub mod changes;
pub mod entities;
mod error;
mod file_watch;
pub mod history;
pub mod operations;
pub mod queries;
pub mod queue;
pub mod record;
pub mod reference;
pub mod runs;
pub mod schedules;
mod sql;
mod tls;
pub mod tokens;
pub mod verdicts;

pub use error::StoreError;
pub use sea_orm::{DatabaseBackend, DatabaseConnection, DatabaseTransaction as Transaction};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, TransactionTrait};
use std::sync::Arc;
use std::time::Duration;
use techbalance_migrations::{Migrator, MigratorTrait};

/// Rows SQLite's worker thread may hand over before the reading task takes them.
const SQLITE_ROW_BUFFER: usize = 1024;

/// Timestamps as the store keeps them: UTC, microsecond precision (what PostgreSQL stores).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The current instant at the store's precision.
pub fn now() -> Timestamp {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// A handle on the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    hub: changes::ChangeHub,
    /// The SQLite file opened, watched (see [`file_watch`]).
    file: Option<Arc<file_watch::FileWatch>>,
    /// Set when this start found a new, empty SQLite database where one had been before.
    lost_before_start: Arc<std::sync::OnceLock<String>>,
    /// Source ids, most preferred first (see [`Store::with_source_preference`]).
    source_preference: Arc<[String]>,
}

/// Next to a SQLite file: says a database was opened there, so that a missing file is noticed.
const MARKER_SUFFIX: &str = ".seen";

impl Store {
    /// Connects to PostgreSQL (`postgres://`) or SQLite (`sqlite:`), creating the SQLite file if needed.
    /// TLS to PostgreSQL follows the URL's `sslmode`; without one, a server on this host is reached
    /// without TLS (see the `tls` module).
    pub async fn connect(settings: &ConnectionSettings) -> Result<Self, StoreError> {
        if settings.url.starts_with("postgres") {
            probe_postgres(settings).await?;
        }
        let sqlite_file = file_watch::sqlite_path(&settings.url);
        let mut options = ConnectOptions::new(settings.url.clone());
        options
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .connect_timeout(settings.acquire_timeout)
            .sqlx_logging(false)
            // SQLite hands rows from its worker thread over a channel, 50 at a time by default:
            // reading the current versions of a 20,000-row batch waited on it row by row.
            .map_sqlx_sqlite_opts(|o| o.row_buffer_size(SQLITE_ROW_BUFFER));
        if !settings.url.starts_with("postgres") {
            // A connection to a local file does not hang up: no ping before each use. A
            // PostgreSQL connection is pinged (sqlx's default): one the server closed (a
            // restart, a failover, `pg_terminate_backend`) is replaced, never handed to a request.
            options.test_before_acquire(false);
        }
        if tls::loopback_without_sslmode(&settings.url, std::env::var_os("PGSSLMODE").is_some()) {
            options.map_sqlx_postgres_opts(|o| {
                o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
            });
        }
        let db = Database::connect(options).await?;
        if db.get_database_backend() == DatabaseBackend::Sqlite {
            // Persistent in the file: readers no longer wait for the writer.
            db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
        }
        let mut store = Self::from_connection(db);
        if let Some(path) = sqlite_file {
            store.watch(&path);
        }
        Ok(store)
    }

    /// Starts watching the SQLite file at `path`, which the store has just opened.
    fn watch(&mut self, path: &std::path::Path) {
        match file_watch::FileWatch::open(path) {
            Ok(watch) => self.file = Some(Arc::new(watch)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch the database file")
            }
        }
    }

    /// Called before migrating a database that has no migration applied yet (`fresh`) or after
    /// migrating: a fresh SQLite database where the marker next to it says a database was
    /// opened before is reported loudly; then the marker is (re)written.
    fn mark_database(&self, fresh: bool) {
        let Some(watch) = &self.file else {
            return;
        };
        let path = watch.path();
        let mut marker = path.as_os_str().to_owned();
        marker.push(MARKER_SUFFIX);
        let marker = std::path::PathBuf::from(marker);
        if fresh && marker.exists() {
            let message = format!(
                "the database file {} held no database, so a NEW EMPTY database was created; but \
                 {} says a database was opened here before: its data is not in this one (restore \
                 it from a backup, or delete the marker to accept the new database)",
                path.display(),
                marker.display()
            );
            tracing::warn!(path = %path.display(), marker = %marker.display(), "{message}");
            let _ = self.lost_before_start.set(message);
        }
        let note = format!(
            "techbalance opened a database at {} ({}); if this file remains without it, the \
             database was lost\n",
            path.display(),
            now().to_rfc3339()
        );
        if let Err(e) = std::fs::write(&marker, note) {
            tracing::warn!(marker = %marker.display(), error = %e, "cannot write the database marker");
        }
    }

    /// When this start created a new, empty SQLite database where one had been before: what to
    /// tell the operator.
    pub fn lost_before_start(&self) -> Option<&str> {
        self.lost_before_start.get().map(String::as_str)
    }

    /// Whether the SQLite file opened is still the one at its path (always true on PostgreSQL).
    pub fn check_file(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(watch) => watch.check(),
            None => Ok(()),
        }
    }

    /// Refuses a write when the database file was deleted or replaced.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        self.check_file()
    }

    /// Checks the SQLite file every `every`, logging once when it is deleted or replaced; for
    /// PostgreSQL it returns at once.
    pub async fn watch_file(self, every: Duration) {
        let Some(watch) = self.file.clone() else {
            return;
        };
        let mut reported = false;
        loop {
            tokio::time::sleep(every).await;
            match watch.check() {
                Err(e) if !reported => {
                    tracing::error!(path = %watch.path().display(), error = %e, "database file lost");
                    reported = true;
                }
                Ok(()) => reported = false,
                Err(_) => {}
            }
        }
    }

    /// Wraps an existing connection (tests use this to observe the statements issued).
    pub fn from_connection(db: DatabaseConnection) -> Self {
        Self {
            db,
            hub: changes::ChangeHub::default(),
            file: None,
            lost_before_start: Arc::default(),
            source_preference: Arc::from([]),
        }
    }

    /// This store with `order` as the default order of preference between sources that publish
    /// a figure for the same year (source ids, most preferred first; the worker's source registry
    /// declares it). Without one, every source ranks equal and ties go by id.
    pub fn with_source_preference(mut self, order: Vec<String>) -> Self {
        self.source_preference = order.into();
        self
    }

    /// The default order of preference between sources, most preferred first.
    pub fn source_preference(&self) -> &[String] {
        &self.source_preference
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// Opens a transaction; the free functions of [`record`] and [`runs`] write inside it.
    ///
    /// On SQLite the transaction takes the write lock at once (as `BEGIN IMMEDIATE` would): a
    /// deferred transaction that reads first cannot upgrade once another connection has written
    /// meanwhile (a lease renewal, a progress update) and fails with SQLITE_BUSY_SNAPSHOT instead
    /// of waiting its turn.
    pub async fn begin(&self) -> Result<Transaction, StoreError> {
        self.writable()?;
        let txn = self.db.begin().await?;
        if self.backend() == DatabaseBackend::Sqlite {
            txn.execute_unprepared("UPDATE refresh_runs SET id = id WHERE 0 = 1")
                .await?;
        }
        Ok(txn)
    }

    /// Commits `txn`, mapping its failure like any other store error.
    pub async fn commit(txn: Transaction) -> Result<(), StoreError> {
        Ok(txn.commit().await?)
    }

    /// Applies every pending migration.
    /// Applies every pending migration. A SQLite database that had none applied yet is checked
    /// against the marker of a database opened before (see [`Store::lost_before_start`]).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let fresh = if self.file.is_some() {
            Migrator::get_applied_migrations(&self.db).await?.is_empty()
        } else {
            false
        };
        Migrator::up(&self.db, None).await?;
        self.mark_database(fresh);
        Ok(())
    }

    /// Names of migrations not yet applied (empty when the schema is current).
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let pending = Migrator::get_pending_migrations(&self.db).await?;
        Ok(pending.iter().map(|m| m.name().to_owned()).collect())
    }

    /// Whether the database answers at all.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }
}

/// One direct connection before the pool is built. The pool retries a connection that fails
/// until its acquire timeout, then says only that it timed out; a direct attempt says why at once
/// (connection refused, authentication failed, no such database). A probe that outlasts the
/// timeout is left to the pool to report.
async fn probe_postgres(settings: &ConnectionSettings) -> Result<(), StoreError> {
    use sea_orm::sqlx::{Connection, PgConnection};
    use sea_orm::{DbErr, RuntimeErr};
    let attempt = PgConnection::connect(&settings.url);
    match tokio::time::timeout(settings.acquire_timeout, attempt).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(StoreError::Unavailable(DbErr::Conn(RuntimeErr::SqlxError(
            e,
        )))),
        Err(_) => Ok(()),
    }
}
