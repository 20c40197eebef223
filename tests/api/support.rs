//! Test harness: a throwaway database per test (a PostgreSQL database, or a SQLite file) copied
//! from a template migrated and seeded once per process, or empty for tests of migrating and
//! seeding; the real HTTP server over it on a free port ([`TestApp::builder`]); and the pinned
//! Node.js clients of `tests/node`, installed on first use.

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
mod template;
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

/// The configuration of a server over the database at `url`, with these variables set (the
/// first value of a variable wins).
fn config_for(url: &str, vars: &[(&str, &str)]) -> Config {
    let url = url.to_owned();
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
    /// An empty database (no tables), for tests of what migrating, seeding or a first start do.
    pub async fn empty(backend: Backend) -> Self {
        Self::create_from(backend, false).await
    }

    /// A migrated database holding the bundled baseline and the default schedules, as a first
    /// start leaves it: a copy of this process's template (see `support/template.rs`).
    pub async fn seeded(backend: Backend) -> Self {
        Self::create_from(backend, true).await
    }

    /// `TestDb::empty(backend)`.
    #[allow(dead_code, reason = "the former name, for tests written against it")]
    pub async fn create(backend: Backend) -> Self {
        Self::empty(backend).await
    }

    async fn create_from(backend: Backend, seeded: bool) -> Self {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                if seeded {
                    let template = template::sqlite().await.unwrap_or_else(|e| panic!("{e}"));
                    tokio::fs::copy(template, &path)
                        .await
                        .expect("copy the template database");
                }
                TestDb {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Some(Cleanup::File(path)),
                }
            }
            Backend::Postgres => {
                let admin_url =
                    techbalance_test_postgres::admin_url().unwrap_or_else(|e| panic!("{e}"));
                let create = if seeded {
                    let template = template::postgres(&admin_url)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    format!("CREATE DATABASE {name} TEMPLATE {template}")
                } else {
                    format!("CREATE DATABASE {name}")
                };
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "the test PostgreSQL server does not connect (check {POSTGRES_VARIABLE} if set): {e}"
                    )
                });
                admin
                    .execute_unprepared(&create)
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

    pub fn config_with(&self, vars: &[(&str, &str)]) -> Config {
        config_for(&self.url, vars)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.cleanup.take() {
            Some(Cleanup::File(path)) => template::remove_sqlite_files(&path),
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

/// The real HTTP server over a throwaway database; made by [`TestApp::builder`].
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub config: Config,
    pub db: TestDb,
    /// The server's WebSocket connections and subscriptions.
    pub live: techbalance_api::Live,
    statements: Option<Arc<AtomicUsize>>,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

/// How a [`TestApp`] starts: `TestApp::builder(backend)`, any of the settings below, `.start()`.
///
/// By default the server runs over a copy of the seeded template database, as after a first
/// start. A test that names its own baseline (`TECHBALANCE_BASELINE`) starts from an empty
/// database instead, seeded from that baseline, as does one built `.with_empty_database()`.
#[must_use = "a builder does nothing until `.start()`"]
pub struct TestAppBuilder {
    backend: Backend,
    vars: Vec<(String, String)>,
    empty_database: bool,
    counting_statements: bool,
}

impl TestAppBuilder {
    /// Sets configuration variables (the first value given for a variable wins).
    pub fn with_vars(mut self, vars: &[(&str, &str)]) -> Self {
        self.vars
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Starts from an empty database that the server migrates and seeds itself, as on a first
    /// start: for tests of migrating or seeding.
    pub fn with_empty_database(mut self) -> Self {
        self.empty_database = true;
        self
    }

    /// Counts every SQL statement the server issues once started (read with
    /// [`TestApp::statements`]).
    pub fn counting_statements(mut self) -> Self {
        self.counting_statements = true;
        self
    }

    /// Creates the database, opens the store (migrating an empty database) and serves it on a
    /// free port of 127.0.0.1; returns once subscribers would hear of changes.
    pub async fn start(self) -> TestApp {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let own_baseline = vars.iter().any(|(k, _)| *k == "TECHBALANCE_BASELINE");
        let db = if self.empty_database || own_baseline {
            TestDb::empty(self.backend).await
        } else {
            TestDb::seeded(self.backend).await
        };
        let config = db.config_with(&vars);
        let store = techbalance::open_store(&config).await.expect("open store");
        if !self.counting_statements {
            return TestApp::serve(db, config, store, None).await;
        }
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
        let store = Store::from_connection(connection);
        TestApp::serve(db, config, store, Some(statements)).await
    }
}

impl TestApp {
    /// A builder for a server over `backend`; see [`TestAppBuilder`].
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            vars: Vec::new(),
            empty_database: false,
            counting_statements: false,
        }
    }

    /// The default server over `backend`: `TestApp::builder(backend).start()`.
    #[allow(dead_code, reason = "the short form, for tests written against it")]
    pub async fn spawn(backend: Backend) -> Self {
        Self::builder(backend).start().await
    }

    /// `TestApp::builder(backend).with_vars(vars).start()`.
    #[allow(dead_code, reason = "the short form, for tests written against it")]
    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> Self {
        Self::builder(backend).with_vars(vars).start().await
    }

    /// The SQL statements the server issued since it started (or since a test reset the count).
    ///
    /// # Panics
    /// When the app was not built `.counting_statements()`.
    pub fn statements(&self) -> &Arc<AtomicUsize> {
        self.statements
            .as_ref()
            .expect("build the app with .counting_statements() to count statements")
    }

    async fn serve(
        db: TestDb,
        config: Config,
        store: Store,
        statements: Option<Arc<AtomicUsize>>,
    ) -> Self {
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
        if let Some(statements) = &statements {
            statements.store(0, Ordering::SeqCst);
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
            statements,
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
