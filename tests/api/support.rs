//! Test harness: a throwaway database per test (a fresh PostgreSQL database, or a fresh SQLite
//! file), migrated and seeded, behind the real HTTP server on a free port; and the pinned Node.js
//! clients of `tests/node`, installed on first use.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use techbalance::config::Config;
use techbalance_store::Store;

#[path = "../shared/database_url.rs"]
mod database_url;
use database_url::replace_database;

/// Names an existing PostgreSQL server for the tests (a URL whose role may `CREATE DATABASE`);
/// without it they start a throwaway cluster of their own (`techbalance_test_postgres`).
pub const POSTGRES_VARIABLE: &str = techbalance_test_postgres::VARIABLE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name, body_fn);` makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "tb_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    pub url: String,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                TestDb {
                    url: format!("sqlite://{}?mode=rwc", path.display()),

                    cleanup: Some(Cleanup::File(path)),
                }
            }
            Backend::Postgres => {
                let admin_url =
                    techbalance_test_postgres::admin_url().unwrap_or_else(|e| panic!("{e}"));
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "the test PostgreSQL server does not connect (check {POSTGRES_VARIABLE} if set): {e}"
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDb {
                    url: replace_database(&admin_url, &name),

                    cleanup: Some(Cleanup::Database { admin_url, name }),
                }
            }
        }
    }

    pub fn config(&self) -> Config {
        self.config_with(&[])
    }

    pub fn config_with(&self, vars: &[(&str, &str)]) -> Config {
        let url = self.url.clone();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |name| {
            if name == "DATABASE_URL" {
                return Some(url.clone());
            }
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .expect("test configuration")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.cleanup.take() {
            Some(Cleanup::File(path)) => {
                for suffix in ["", "-wal", "-shm", ".seen"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Some(Cleanup::Database { admin_url, name }) => {
                // Drop runs inside the test's runtime: do the async work on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                        }
                    });
                    Ok::<_, std::io::Error>(())
                })
                .join();
            }
            None => {}
        }
    }
}

/// The real HTTP server over a seeded throwaway database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub config: Config,
    pub db: TestDb,
    /// The server's WebSocket connections and subscriptions.
    pub live: techbalance_api::Live,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let db = TestDb::create(backend).await;
        let config = db.config();
        let store = techbalance::open_store(&config).await.expect("open store");
        Self::serve(db, config, store).await
    }

    /// Like `spawn`, with configuration variables set.
    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> Self {
        let db = TestDb::create(backend).await;
        let config = db.config_with(vars);
        let store = techbalance::open_store(&config).await.expect("open store");
        Self::serve(db, config, store).await
    }

    /// Like `spawn_with`, counting every SQL statement the server issues from now on.
    pub async fn spawn_counting_statements_with(
        backend: Backend,
        vars: &[(&str, &str)],
    ) -> (Self, Arc<AtomicUsize>) {
        let db = TestDb::create(backend).await;
        let config = db.config_with(vars);
        techbalance::open_store(&config).await.expect("migrate");
        let mut connection: DatabaseConnection = Database::connect(&db.url).await.expect("connect");
        let statements = Arc::new(AtomicUsize::new(0));
        let counter = statements.clone();
        connection.set_metric_callback(move |info| {
            if std::env::var_os("TB_PRINT_SQL").is_some() {
                eprintln!(
                    "SQL: {}",
                    &info.statement.sql[..info.statement.sql.len().min(150)]
                );
            }
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let app = Self::serve(db, config, Store::from_connection(connection)).await;
        statements.store(0, Ordering::SeqCst);
        (app, statements)
    }

    pub async fn serve(db: TestDb, config: Config, store: Store) -> Self {
        techbalance::seed_if_empty(&store, &config)
            .await
            .expect("seed");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let live = techbalance_api::Live::new(config.http.ws);
        let server = tokio::spawn({
            let store = store.clone();
            let config = config.clone();
            let live = live.clone();
            async move {
                techbalance::serve_live(store, &config, listener, std::future::pending(), live)
                    .await
                    .expect("server");
            }
        });
        // Subscribers only hear of changes once the change listener is connected (PostgreSQL).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !store.change_listener_connected() {
            assert!(
                std::time::Instant::now() < deadline,
                "the change listener did not connect"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        TestApp {
            addr,
            store,
            config,
            db,
            live,
            client,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// POSTs a query; returns the whole response body (`data` and `errors`).
    pub async fn post(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "status of {query}");
        response.json().await.expect("JSON body")
    }

    /// POSTs a query with `Authorization: Bearer <token>`; returns the whole response body.
    pub async fn post_as(&self, token: &str, query: &str) -> Value {
        let response = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "status of {query}");
        response.json().await.expect("JSON body")
    }

    /// Creates an operator token.
    pub async fn token(&self, name: &str) -> String {
        techbalance_api::auth::create_token(&self.store, name)
            .await
            .expect("token")
    }

    /// POSTs a query that must succeed; returns `data`.
    pub async fn data(&self, query: &str) -> Value {
        let body = self.post(query, json!({})).await;
        assert!(
            body.get("errors").is_none(),
            "unexpected errors for {query}: {body}"
        );
        body["data"].clone()
    }

    /// POSTs a query that must fail; returns its first error.
    pub async fn error(&self, query: &str) -> Value {
        let body = self.post(query, json!({})).await;
        body["errors"][0].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The `extensions.code` of a GraphQL error.
/// Polls `observe` every 20 ms until it returns `expected`; fails after 10 s naming `what`.
pub async fn wait_until<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: T,
    observe: impl Fn() -> T,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let observed = observe();
        if observed == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {observed:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn code(error: &Value) -> &str {
    error["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no extensions.code in {error}"))
}

/// The directory of the pinned Node.js clients (`tests/node`), installed with `npm ci` on first
/// use (again whenever `package-lock.json` pins other versions), under a file lock so that test
/// processes running side by side install once. Panics with one line saying what to install when Node.js
/// or npm is missing.
pub fn node_clients() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(install_node_clients)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn install_node_clients() -> Result<PathBuf, String> {
    const NODE: &str =
        "these tests need Node.js 20 or later: install it (Debian: apt-get install nodejs npm)";
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map_err(|_| NODE.to_owned())?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    if major.is_none_or(|major| major < 20) {
        return Err(format!("{NODE} (`node --version` says {version:?})"));
    }
    let installed = || node_clients_installed(&dir);
    if installed() {
        return Ok(dir);
    }
    let guard = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-ci.lock"))
        .map_err(|e| format!("cannot create the npm install lock: {e}"))?;
    guard
        .lock()
        .map_err(|e| format!("cannot take the npm install lock: {e}"))?;
    if installed() {
        return Ok(dir);
    }
    let output = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output()
        .map_err(|_| {
            "these tests need npm to install their Node.js clients: install it (Debian: apt-get install npm)"
                .to_owned()
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "`npm ci` in tests/node failed (it needs the npm registry): {}",
            last.unwrap_or("no message")
        ));
    }
    if !installed() {
        return Err(
            "`npm ci` in tests/node did not install what package-lock.json pins".to_owned(),
        );
    }
    Ok(dir)
}

/// Whether `node_modules` holds every package `package-lock.json` pins, at its version (as npm
/// recorded what it installed, in `node_modules/.package-lock.json`); optional packages aside.
fn node_clients_installed(dir: &Path) -> bool {
    let packages = |path: PathBuf| {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .map(|lock| lock["packages"].clone())
    };
    let (Some(pinned), Some(installed)) = (
        packages(dir.join("package-lock.json")),
        packages(dir.join("node_modules/.package-lock.json")),
    ) else {
        return false;
    };
    pinned.as_object().is_some_and(|pinned| {
        pinned
            .iter()
            .filter(|(path, package)| !path.is_empty() && package["optional"] != true)
            .all(|(path, package)| installed[path]["version"] == package["version"])
    })
}
