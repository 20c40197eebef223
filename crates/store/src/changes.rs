//! Change notifications, fanned out to every process.
//!
//! Writers announce what changed with ids only ([`Notice`]): on PostgreSQL as `pg_notify` inside
//! the transaction that made the change, so nothing is announced that was not committed; on
//! SQLite as a row of `change_notices` (written in that transaction too), and straight to the
//! local hub after the commit. Each PostgreSQL process holds one `LISTEN` connection; a SQLite
//! server watches `PRAGMA data_version` on a connection of its own and reads the notices other
//! processes wrote (a `techbalance seed` on the same file reaches its subscribers within a
//! second). Each hub resolves every notice once (a few statements per notice, not per
//! subscriber) into a [`Change`] and broadcasts it to local subscribers. When the listener loses
//! its connection it reconnects and broadcasts [`Change::Resync`], so that subscribers learn they
//! may have missed something instead of going silent.

use crate::entities::{country, metric, observation, refresh_run, sector_verdict, source};
use crate::sql::statement;
use crate::{DatabaseBackend, Store, StoreError, Transaction};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The PostgreSQL channel.
pub const CHANNEL: &str = "techbalance_changes";
/// Changes a slow subscriber may fall behind by before it is told it lagged.
const CAPACITY: usize = 1024;
/// How often a SQLite server looks for changes other processes made.
const SQLITE_POLL: Duration = Duration::from_millis(250);
/// Notices kept in SQLite's `change_notices` (older ones are pruned now and then).
const SQLITE_NOTICES_KEPT: i64 = 1000;

/// What is announced: ids only, always far below NOTIFY's 8,000-byte limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A run committed new versions.
    Recorded { run: i64 },
    /// A run changed status or progress.
    Run { run: i64 },
    /// A run revised the editorial verdict of these sectors (slugs).
    Verdicts { run: i64, sectors: Vec<String> },
    /// Something else readers see changed (an operation, reference data, a recorded batch
    /// outside a run): nothing to tell subscribers, but cached answers are stale.
    Changed,
}

/// One revision as subscribers see it: the new version, the one it replaced, and what they
/// refer to, resolved once for every subscriber of the process.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionEvent {
    pub current: observation::Model,
    pub previous: observation::Model,
    pub metric: metric::Model,
    pub country: country::Model,
    pub source: source::Model,
    pub run: Option<refresh_run::Model>,
}

/// What subscribers receive.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A run recorded versions: its revisions, and every metric it touched.
    Recorded {
        run: i64,
        revisions: Vec<RevisionEvent>,
        metrics: Vec<String>,
        data_version: i64,
        /// When the run's versions became valid (knowledge time); as of an instant before it,
        /// the data are as they were before the run.
        recorded_at: Option<crate::Timestamp>,
    },
    /// A run's status or progress changed.
    Run(Box<refresh_run::Model>),
    /// Changes may have been missed (the listener reconnected): refetch.
    Resync { data_version: i64 },
    /// A run revised sectors' editorial verdicts: each revision as (version replaced, new one).
    Verdicts {
        run: i64,
        revisions: Vec<(sector_verdict::Model, sector_verdict::Model)>,
    },
}

/// The process-wide fan-out of resolved changes.
#[derive(Clone, Debug)]
pub struct ChangeHub {
    sender: broadcast::Sender<Arc<Change>>,
    connected: Arc<AtomicBool>,
    /// Names this hub in the notices it writes (SQLite), so that it skips its own.
    origin: Arc<str>,
    /// How many changes this process has made, been told of, or may have missed.
    generation: Arc<AtomicU64>,
}

impl Default for ChangeHub {
    fn default() -> Self {
        static HUBS: AtomicUsize = AtomicUsize::new(0);
        let origin = format!(
            "{}:{}",
            std::process::id(),
            HUBS.fetch_add(1, Ordering::SeqCst)
        );
        Self {
            sender: broadcast::channel(CAPACITY).0,
            connected: Arc::new(AtomicBool::new(false)),
            origin: origin.into(),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }
}

#[derive(FromQueryResult)]
struct Version {
    version: i64,
}

impl Store {
    /// A receiver of every change from now on.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Arc<Change>> {
        self.hub.sender.subscribe()
    }

    /// How many receivers of changes this process has now (one for each running subscription
    /// execution, however many subscribers share it).
    pub fn change_receivers(&self) -> usize {
        self.hub.sender.receiver_count()
    }

    /// Whether changes reach this process: always on SQLite; on PostgreSQL while the listener
    /// is connected.
    pub fn change_listener_connected(&self) -> bool {
        self.backend() != DatabaseBackend::Postgres || self.hub.connected.load(Ordering::SeqCst)
    }

    /// The change generation: grows with every change this process commits and announces,
    /// every notice it receives from other processes (PostgreSQL `NOTIFY`, SQLite's
    /// `change_notices`) and every reconnection of the listener (changes may have been missed).
    /// Answers read before it grew may be stale; cached answers are keyed on it.
    pub fn change_generation(&self) -> u64 {
        self.hub.generation.load(Ordering::SeqCst)
    }

    fn bump_generation(&self) {
        self.hub.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The data version: grows with every version recorded.
    pub async fn data_version(&self) -> Result<i64, StoreError> {
        let stmt = statement(
            self.backend(),
            "SELECT COALESCE(MAX(id), 0) AS version FROM observations",
            Vec::new(),
        );
        Ok(Version::find_by_statement(stmt)
            .one(&self.db)
            .await?
            .map_or(0, |v| v.version))
    }

    /// Commits `txn` and announces `notices`: on PostgreSQL inside the transaction (delivered on
    /// commit), on SQLite to the local hub once committed.
    pub async fn commit_and_announce(
        &self,
        txn: Transaction,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        if self.backend() == DatabaseBackend::Postgres {
            for notice in notices {
                notify(&txn, notice).await?;
            }
            Store::commit(txn).await?;
            // This process's own readers must not wait for the notice to come back.
            self.bump_generation();
            Ok(())
        } else {
            for notice in notices {
                write_notice(&txn, &self.hub.origin, notice).await?;
            }
            Store::commit(txn).await?;
            self.bump_generation();
            for notice in notices {
                self.dispatch(notice).await;
            }
            Ok(())
        }
    }

    /// Announces `notice` on its own (outside any transaction).
    pub async fn announce(&self, notice: Notice) {
        self.bump_generation();
        if self.backend() == DatabaseBackend::Postgres {
            if let Err(e) = notify(&self.db, &notice).await {
                tracing::warn!(error = %e, ?notice, "could not announce a change");
            }
        } else {
            if let Err(e) = write_notice(&self.db, &self.hub.origin, &notice).await {
                tracing::warn!(error = %e, ?notice, "could not announce a change to other processes");
            }
            self.dispatch(&notice).await;
        }
    }

    /// Tells subscribers that changes may have been missed.
    async fn resync(&self) {
        self.bump_generation();
        let data_version = self.data_version().await.unwrap_or(0);
        let _ = self
            .hub
            .sender
            .send(Arc::new(Change::Resync { data_version }));
    }

    /// Dispatches a notice another process wrote, as JSON.
    async fn dispatch_payload(&self, payload: &str) {
        match serde_json::from_str::<Notice>(payload) {
            Ok(notice) => self.dispatch(&notice).await,
            Err(e) => tracing::warn!(error = %e, payload, "unreadable notice"),
        }
    }

    /// Resolves a notice and broadcasts it to this process's subscribers.
    async fn dispatch(&self, notice: &Notice) {
        self.bump_generation();
        if self.hub.sender.receiver_count() == 0 {
            return;
        }
        match self.resolve(notice).await {
            Ok(Some(change)) => {
                let _ = self.hub.sender.send(Arc::new(change));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, ?notice, "could not resolve a change"),
        }
    }

    async fn resolve(&self, notice: &Notice) -> Result<Option<Change>, StoreError> {
        use observation::Column as C;
        match *notice {
            Notice::Run { run } => Ok(self.run(run).await?.map(|r| Change::Run(Box::new(r)))),
            Notice::Verdicts { run, ref sectors } => {
                let revisions = self.verdict_revisions(run, sectors).await?;
                Ok(Some(Change::Verdicts { run, revisions }))
            }
            Notice::Changed => Ok(None),
            Notice::Recorded { run } => {
                let written = observation::Entity::find()
                    .filter(C::RunId.eq(run))
                    .order_by_asc(C::Id)
                    .all(&self.db)
                    .await?;
                let previous_ids: Vec<i64> = written.iter().filter_map(|o| o.supersedes).collect();
                let previous = if previous_ids.is_empty() {
                    Vec::new()
                } else {
                    observation::Entity::find()
                        .filter(C::Id.is_in(previous_ids))
                        .all(&self.db)
                        .await?
                };
                let mut metrics: Vec<String> = written.iter().map(|o| o.metric.clone()).collect();
                metrics.sort();
                metrics.dedup();
                let data_version = written.iter().map(|o| o.id).max().unwrap_or(0);
                let recorded_at = written.iter().map(|o| o.recorded_from).min();
                let run_model = self.run(run).await?;
                let (metrics_rows, countries, sources) = if previous.is_empty() {
                    (Vec::new(), Vec::new(), Vec::new())
                } else {
                    (
                        self.metrics(None).await?,
                        self.countries().await?,
                        self.sources().await?,
                    )
                };
                let revisions = written
                    .into_iter()
                    .filter_map(|current| {
                        let old = previous
                            .iter()
                            .find(|p| Some(p.id) == current.supersedes)?
                            .clone();
                        Some(RevisionEvent {
                            metric: metrics_rows
                                .iter()
                                .find(|m| m.slug == current.metric)?
                                .clone(),
                            country: countries
                                .iter()
                                .find(|c| c.code == current.country)?
                                .clone(),
                            source: sources.iter().find(|s| s.id == current.source)?.clone(),
                            run: run_model.clone(),
                            previous: old,
                            current,
                        })
                    })
                    .collect();
                Ok(Some(Change::Recorded {
                    run,
                    revisions,
                    metrics,
                    data_version,
                    recorded_at,
                }))
            }
        }
    }

    /// Holds this process's `LISTEN` connection (PostgreSQL), or watches the SQLite file for
    /// other processes' notices, reconnecting with backoff until the process ends.
    pub async fn listen_for_changes(self) {
        match self.backend() {
            DatabaseBackend::Postgres => {}
            DatabaseBackend::Sqlite => return self.watch_sqlite().await,
            _ => return,
        }
        let pool = self.db.get_postgres_connection_pool().clone();
        let mut first = true;
        let mut backoff = Duration::from_millis(200);
        loop {
            let listener = async {
                let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await?;
                listener.listen(CHANNEL).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            }
            .await;
            let mut listener = match listener {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "change listener cannot connect; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if !first {
                // Before anyone may trust the generation again: whatever was read or cached
                // while the listener was down may predate a change it missed.
                self.bump_generation();
            }
            self.hub.connected.store(true, Ordering::SeqCst);
            backoff = Duration::from_millis(200);
            if !first {
                tracing::info!("change listener reconnected; telling subscribers to resync");
                self.resync().await;
            }
            first = false;
            // `None` or an error: the connection is gone, and notices may have been missed.
            while let Ok(Some(notification)) = listener.try_recv().await {
                self.dispatch_payload(notification.payload()).await;
            }
            self.hub.connected.store(false, Ordering::SeqCst);
            tracing::warn!("change listener lost its connection; reconnecting");
        }
    }
}

impl Store {
    /// Polls `PRAGMA data_version` on a connection of its own (it changes when another
    /// connection commits) and dispatches the notices other processes wrote since the last look.
    async fn watch_sqlite(self) {
        use sea_orm::sqlx::{self, Row};
        let pool = self.db.get_sqlite_connection_pool().clone();
        let mut first = true;
        loop {
            let opened = async {
                let mut connection = pool.acquire().await?.detach();
                let last: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM change_notices")
                        .fetch_one(&mut connection)
                        .await?;
                Ok::<_, sqlx::Error>((connection, last))
            }
            .await;
            let (mut connection, mut last) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the database for other processes' changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if !first {
                self.resync().await;
            }
            first = false;
            let mut seen: Option<i64> = None;
            loop {
                let version = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                    .fetch_one(&mut connection)
                    .await;
                let version = match version {
                    Ok(version) => version,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the connection watching for changes; reconnecting");
                        break;
                    }
                };
                if seen != Some(version) {
                    seen = Some(version);
                    let rows = sqlx::query(
                        "SELECT id, origin, notice FROM change_notices WHERE id > ?1 ORDER BY id",
                    )
                    .bind(last)
                    .fetch_all(&mut connection)
                    .await;
                    let rows = match rows {
                        Ok(rows) => rows,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read change notices; reconnecting");
                            break;
                        }
                    };
                    for row in rows {
                        let (id, origin, payload): (i64, String, String) =
                            match (row.try_get(0), row.try_get(1), row.try_get(2)) {
                                (Ok(id), Ok(origin), Ok(payload)) => (id, origin, payload),
                                _ => continue,
                            };
                        last = last.max(id);
                        if origin != *self.hub.origin {
                            self.dispatch_payload(&payload).await;
                        }
                    }
                }
                tokio::time::sleep(SQLITE_POLL).await;
            }
        }
    }
}

/// Writes `notice` for other processes on this SQLite file; prunes old notices now and then.
async fn write_notice(
    db: &impl ConnectionTrait,
    origin: &str,
    notice: &Notice,
) -> Result<(), StoreError> {
    let payload = serde_json::to_string(notice).map_err(|e| StoreError::Internal(e.to_string()))?;
    let written = db
        .execute(statement(
            DatabaseBackend::Sqlite,
            "INSERT INTO change_notices (origin, notice) VALUES ($1, $2)",
            vec![origin.into(), payload.into()],
        ))
        .await?;
    let id = i64::try_from(written.last_insert_id()).unwrap_or(0);
    if id % 256 == 0 {
        db.execute(statement(
            DatabaseBackend::Sqlite,
            "DELETE FROM change_notices WHERE id <= $1",
            vec![(id - SQLITE_NOTICES_KEPT).into()],
        ))
        .await?;
    }
    Ok(())
}

async fn notify(db: &impl ConnectionTrait, notice: &Notice) -> Result<(), StoreError> {
    let payload = serde_json::to_string(notice).map_err(|e| StoreError::Internal(e.to_string()))?;
    db.execute(statement(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        vec![CHANNEL.into(), payload.into()],
    ))
    .await?;
    Ok(())
}
