//! The template databases: one per backend and test process, migrated and seeded once, that
//! every test wanting seeded data gets a copy of (`CREATE DATABASE … TEMPLATE` on PostgreSQL, a
//! file copy on SQLite) instead of migrating and seeding a database of its own.
//!
//! PostgreSQL copies a template only while no session is connected to it: the pool that seeded
//! it is closed before the first copy, and nothing connects to it afterwards. Each process names
//! its own template (`tb_template_<id>`), so processes sharing a server never copy one another's
//! or wait on one another. Rust tests have no global teardown, so each process holds a session
//! advisory lock on its id for as long as it lives; whoever creates a template next drops the
//! templates whose lock is free (their process is gone). SQLite templates are named after their
//! process id and removed likewise once that process is gone.

use super::{config_for, replace_database};
use sea_orm::sqlx::{self, Connection, PgConnection};
use sea_orm::ConnectionTrait;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use tokio::sync::OnceCell;

const PREFIX: &str = "tb_template_";

/// The first key of the advisory locks that say a template's process is alive ("tbtp").
const LOCK_CLASS: i32 = 0x7462_7470;

/// The name of this process's PostgreSQL template on the server of `admin_url`, created, migrated
/// and seeded on the first call.
///
/// # Errors
/// One line saying which step failed and why.
pub(super) async fn postgres(admin_url: &str) -> Result<&'static str, String> {
    static TEMPLATE: OnceCell<Result<String, String>> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| create_postgres(admin_url.to_owned()))
        .await
        .as_deref()
        .map_err(Clone::clone)
}

/// The file of this process's SQLite template, created, migrated and seeded on the first call.
///
/// # Errors
/// As [`postgres`].
pub(super) async fn sqlite() -> Result<&'static Path, String> {
    static TEMPLATE: OnceCell<Result<PathBuf, String>> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(create_sqlite)
        .await
        .as_deref()
        .map_err(Clone::clone)
}

async fn create_postgres(admin_url: String) -> Result<String, String> {
    let id = hold_liveness_lock(admin_url.clone()).await?;
    let name = format!("{PREFIX}{id}");
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .map_err(|e| format!("the test PostgreSQL server does not connect: {e}"))?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("cannot create the template database {name}: {e}"))?;
    let _ = admin.close().await;
    migrate_and_seed(&replace_database(&admin_url, &name)).await?;
    Ok(name)
}

async fn create_sqlite() -> Result<PathBuf, String> {
    remove_stale_sqlite_templates();
    let path = std::env::temp_dir().join(format!("{PREFIX}{}.db", std::process::id()));
    remove_sqlite_files(&path);
    migrate_and_seed(&format!("sqlite://{}?mode=rwc", path.display())).await?;
    // The marker that says a database was opened here is the template's, not its copies'.
    remove_sqlite_sidecar(&path, ".seen");
    Ok(path)
}

/// Migrates and seeds the database at `url` as a first start does, then closes every connection
/// to it (a SQLite file is whole without its write-ahead log).
async fn migrate_and_seed(url: &str) -> Result<(), String> {
    let config = config_for(url, &[]);
    let store = techbalance::open_store(&config)
        .await
        .map_err(|e| format!("cannot migrate the template database: {e:#}"))?;
    techbalance::seed_if_empty(&store, &config)
        .await
        .map_err(|e| format!("cannot seed the template database: {e:#}"))?;
    let connection = store.connection().clone();
    if url.starts_with("sqlite:") {
        connection
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .map_err(|e| format!("cannot checkpoint the template database: {e}"))?;
    }
    connection
        .close()
        .await
        .map_err(|e| format!("cannot close the template database: {e}"))
}

/// Takes this process's liveness lock on a session that lives as long as the process (on a
/// thread of its own: each test has its own runtime), drops the templates of processes that are
/// gone, and returns this process's id.
async fn hold_liveness_lock(admin_url: String) -> Result<i32, String> {
    let (ready, locked) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("template-liveness".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready.send(Err(format!("cannot start a runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match lock_and_sweep(&admin_url).await {
                    Ok((session, id)) => {
                        let _ = ready.send(Ok(id));
                        // The lock lasts as long as the session: keep it until the process ends.
                        let _session = session;
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| format!("cannot start the template liveness thread: {e}"))?;
    locked
        .await
        .map_err(|_| "the template liveness thread ended early".to_owned())?
}

async fn lock_and_sweep(admin_url: &str) -> Result<(PgConnection, i32), String> {
    let failed = |what: &str, e: sqlx::Error| format!("cannot {what}: {e}");
    let mut session = PgConnection::connect(admin_url)
        .await
        .map_err(|e| failed("connect to the test PostgreSQL server", e))?;
    let id = random_id();
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(id)
        .execute(&mut session)
        .await
        .map_err(|e| failed("take the template liveness lock", e))?;
    let templates: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut session)
            .await
            .map_err(|e| failed("list template databases", e))?;
    for name in templates {
        let Some(owner) = name
            .strip_prefix(PREFIX)
            .and_then(|owner| owner.parse::<i32>().ok())
            .filter(|owner| *owner != id)
        else {
            continue;
        };
        let gone: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(owner)
            .fetch_one(&mut session)
            .await
            .map_err(|e| failed("probe a template's liveness lock", e))?;
        if gone {
            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut session)
                .await;
            let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(owner)
                .execute(&mut session)
                .await;
        }
    }
    Ok((session, id))
}

/// A random positive `i32` (std's hasher keys are random per process).
fn random_id() -> i32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    (hasher.finish() & 0x7fff_ffff) as i32
}

/// Removes the SQLite templates of processes that are gone.
fn remove_stale_sqlite_templates() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PREFIX))
            .and_then(|rest| rest.strip_suffix(".db"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            remove_sqlite_files(&entry.path());
        }
    }
}

/// Removes a SQLite file and the files SQLite and the store keep beside it.
pub(super) fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".seen"] {
        remove_sqlite_sidecar(path, suffix);
    }
}

fn remove_sqlite_sidecar(path: &Path, suffix: &str) {
    let mut file = path.as_os_str().to_owned();
    file.push(suffix);
    let _ = std::fs::remove_file(file);
}
