//! The PostgreSQL server the tests and benches create their databases on: the one
//! `TECHBALANCE_TEST_DATABASE_URL` names, or else a throwaway cluster this process starts on first
//! use and that disappears when the process ends.
//!
//! The throwaway cluster is made with the server's own programs (`initdb`, `pg_ctl`), found on the
//! `PATH` or under Debian's `/usr/lib/postgresql/<version>/bin` (the newest). It lives in a
//! temporary directory, listens on 127.0.0.1 only, on a free port, with password authentication
//! (a random password for the superuser `postgres`), and runs without `fsync` (nothing in it is
//! worth keeping). PostgreSQL refuses to run as root, so when the tests run as root it runs as the
//! `postgres` user (or `nobody` when there is none).
//!
//! One cluster serves every test of a process. Rust tests have no global teardown, so removal is
//! left to a watchdog process started beside the cluster: it waits for the end of a pipe whose
//! other end only this process holds, which closes when this process exits for any reason (even
//! `SIGKILL`), then stops the cluster and deletes its directory. It ignores the terminal's
//! signals, so Ctrl-C on `cargo test` does not stop it before it has cleaned up. Directories left
//! by a process whose watchdog died too are removed by the next start.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

/// The variable naming an existing server instead: a URL whose role may `CREATE DATABASE`.
pub const VARIABLE: &str = "TECHBALANCE_TEST_DATABASE_URL";

/// What to do when the server's programs are missing, in one line.
pub const INSTALL: &str =
    "PostgreSQL tests need the PostgreSQL server (initdb, pg_ctl): install it \
    (Debian: apt-get install postgresql), or set TECHBALANCE_TEST_DATABASE_URL to a server whose \
    role may create databases";

/// The prefix of the throwaway clusters' directories in the temporary directory.
const DIR_PREFIX: &str = "techbalance-pg-";

/// The admin URL tests create their databases through: `TECHBALANCE_TEST_DATABASE_URL` when set,
/// else the URL of this process's throwaway cluster (started on the first call).
///
/// # Errors
/// One line saying what is missing (see [`INSTALL`]) or why the cluster did not start.
pub fn admin_url() -> Result<String, String> {
    match std::env::var(VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => cluster().map(|cluster| cluster.url.clone()),
    }
}

/// This process's throwaway cluster, started on the first call; whatever
/// `TECHBALANCE_TEST_DATABASE_URL` says (for tests that need a superuser of their own).
///
/// # Errors
/// As [`admin_url`].
pub fn cluster() -> Result<&'static Cluster, String> {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(Cluster::start)
        .as_ref()
        .map_err(Clone::clone)
}

/// A running throwaway cluster: the shared one of [`cluster`], stopped and removed when the
/// process exits, or one of a test's own ([`Cluster::start`]), stopped and removed when dropped.
#[derive(Debug)]
pub struct Cluster {
    /// `postgres://postgres:<password>@127.0.0.1:<port>/postgres`.
    pub url: String,
    pub port: u16,
    /// The superuser's name (`postgres`) and password.
    pub superuser: String,
    pub password: String,
    /// Where `initdb`, `pg_ctl`, `psql`, `createdb` … of the server's version are.
    pub bin_dir: PathBuf,
    dir: PathBuf,
    owner: Owner,
    /// The watchdog, and the end of its pipe: closed when this value is dropped or this process
    /// exits, whichever comes first.
    _watchdog: (Child, ChildStdin),
}

impl Cluster {
    /// Starts a cluster of the caller's own (for a test that stops it, say), removed when the
    /// value is dropped or the process exits.
    ///
    /// # Errors
    /// As [`admin_url`].
    pub fn start() -> Result<Cluster, String> {
        let bin_dir = server_programs(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
            .ok_or_else(|| INSTALL.to_owned())?;
        remove_stale_clusters(&bin_dir);
        let owner = Owner::for_this_process()?;
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            random_hex(4)?
        ));
        fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        owner.give(&dir)?;
        let watchdog = watchdog(&dir, &bin_dir, &owner)?;
        let password = random_hex(16)?;
        let pwfile = dir.join("pwfile");
        fs::write(&pwfile, &password).map_err(|e| format!("cannot write {e}"))?;
        owner.give(&pwfile)?;
        let data = dir.join("data");
        run(
            owner
                .command(&bin_dir.join("initdb"), &dir)
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=scram-sha-256", "--pwfile"])
                .arg(&pwfile)
                .args(["-E", "UTF8", "--no-locale", "--no-sync"]),
            "initdb",
        )?;
        let _ = fs::remove_file(&pwfile);
        append_settings(&data, &dir)?;
        let mut cluster = Cluster {
            url: String::new(),
            port: 0,
            superuser: "postgres".to_owned(),
            password,
            bin_dir,
            dir,
            owner,
            _watchdog: watchdog,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            cluster.port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map_err(|e| format!("cannot find a free port: {e}"))?
                .port();
            match cluster.resume() {
                Ok(()) => {
                    cluster.url = format!(
                        "postgres://postgres:{}@127.0.0.1:{}/postgres",
                        cluster.password, cluster.port
                    );
                    return Ok(cluster);
                }
                // Taken in between: try another.
                Err(error) if error.contains("could not bind") => last_error = error,
                Err(error) => return Err(error),
            }
        }
        Err(last_error)
    }

    /// Starts the server again (on its port) after [`stop`](Self::stop), and waits until it
    /// accepts connections.
    ///
    /// # Errors
    /// `pg_ctl start` failed: its message and the server log's last line.
    pub fn resume(&self) -> Result<(), String> {
        let log = self.dir.join("log");
        run(
            self.owner
                .command(&self.bin_dir.join("pg_ctl"), &self.dir)
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {}", self.port))
                .arg("start"),
            "pg_ctl start",
        )
        .map_err(|error| {
            let log = fs::read_to_string(&log).unwrap_or_default();
            let last = log.lines().rev().find(|l| !l.trim().is_empty());
            format!("{error}; {}", last.unwrap_or("no server log"))
        })
    }

    /// Stops the server: `mode` is `pg_ctl`'s (`fast` ends every session, rolling back their
    /// transactions; `immediate` is a crash).
    ///
    /// # Errors
    /// `pg_ctl stop` failed: its message.
    pub fn stop(&self, mode: &str) -> Result<(), String> {
        run(
            self.owner
                .command(&self.bin_dir.join("pg_ctl"), &self.dir)
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", mode, "-w", "-t", "60", "stop"]),
            "pg_ctl stop",
        )
    }

    /// A client program of the server's version (`psql`, `createdb`, …) that connects to this
    /// cluster's `postgres` database as its superuser (`PG*` variables set).
    pub fn client(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", &self.superuser)
            .env("PGPASSWORD", &self.password)
            .env("PGDATABASE", "postgres");
        command
    }

    /// The cluster's directory (data, log, socket), removed when the process exits.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The directory holding `initdb` and `pg_ctl`: the `PATH`'s, or the newest version's under
/// `debian` (`/usr/lib/postgresql/<version>/bin`).
fn server_programs(path: Option<std::ffi::OsString>, debian: &Path) -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = path.and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("initdb"))
            .filter(|initdb| initdb.is_file())
            // Debian links them from elsewhere: use the real directory, where pg_ctl is too.
            .filter_map(|initdb| fs::canonicalize(initdb).ok())
            .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
            .find(|dir| has_both(dir))
    });
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(debian)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, bin)| has_both(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// Who runs the cluster: this process's user, or an unprivileged one when that is root.
#[derive(Debug)]
struct Owner {
    /// `(uid, gid)` to switch to, when running as root.
    switch_to: Option<(u32, u32)>,
}

impl Owner {
    fn for_this_process() -> Result<Owner, String> {
        let euid = fs::metadata("/proc/self")
            .map(|m| m.uid())
            .map_err(|e| format!("cannot tell which user runs the tests (/proc/self: {e})"))?;
        if euid != 0 {
            return Ok(Owner { switch_to: None });
        }
        for user in ["postgres", "nobody"] {
            if let (Some(uid), Some(gid)) = (id(user, "-u"), id(user, "-g")) {
                return Ok(Owner {
                    switch_to: Some((uid, gid)),
                });
            }
        }
        Err(
            "PostgreSQL refuses to run as root, and there is neither a `postgres` nor a `nobody` \
             user to run it as: create one (Debian: apt-get install postgresql)"
                .to_owned(),
        )
    }

    /// Hands `path` over to the user the cluster runs as.
    fn give(&self, path: &Path) -> Result<(), String> {
        match self.switch_to {
            Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to uid {uid}: {e}", path.display())),
            None => Ok(()),
        }
    }

    /// `program`, to be run as the cluster's user, in `dir`.
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut command = match self.switch_to {
            Some((uid, gid)) => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .args(["--clear-groups", "--"])
                    .arg(program);
                command
            }
            None => Command::new(program),
        };
        command.current_dir(dir);
        command
    }
}

/// `id <flag> <user>`: the user's uid or gid, if the user exists.
fn id(user: &str, flag: &str) -> Option<u32> {
    let output = Command::new("id").args([flag, user]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

/// Starts the process that stops the cluster and removes `dir` once this process has exited.
fn watchdog(dir: &Path, bin_dir: &Path, owner: &Owner) -> Result<(Child, ChildStdin), String> {
    // `cat` returns at the end of its input: when the last holder of the pipe's other end, this
    // process, is gone (Rust opens every descriptor close-on-exec, so no child inherits it).
    const SCRIPT: &str = r#"trap '' INT TERM HUP
cat >/dev/null
dir=$1; shift
if [ -f "$dir/data/postmaster.pid" ]; then "$@" -D "$dir/data" stop -m immediate -w >/dev/null 2>&1; fi
rm -rf "$dir""#;
    let stop = owner.command(&bin_dir.join("pg_ctl"), dir);
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "techbalance-pg-watchdog"])
        .arg(dir)
        .arg(stop.get_program())
        .args(stop.get_args())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group: Ctrl-C reaches the tests, not their cleanup.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog (sh): {e}"))?;
    let stdin = child
        .stdin
        .take()
        .ok_or("the cluster's watchdog has no input pipe")?;
    Ok((child, stdin))
}

/// Settings for a disposable cluster serving a test suite.
fn append_settings(data: &Path, dir: &Path) -> Result<(), String> {
    use std::io::Write;
    let settings = format!(
        "\n# techbalance tests: a throwaway cluster\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{}'\n\
         max_connections = 300\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n",
        dir.display()
    );
    fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut file| file.write_all(settings.as_bytes()))
        .map_err(|e| format!("cannot configure the test cluster: {e}"))
}

/// Runs `command`; a failure is one line: what ran and the last line it printed.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err(format!(
        "{what} failed ({}): {}",
        output.status,
        last.unwrap_or("no message")
    ))
}

/// Stops and removes clusters left by processes that are gone (their watchdog was killed too).
fn remove_stale_clusters(bin_dir: &Path) {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let dir = entry.path();
        if dir.join("data/postmaster.pid").is_file() {
            if let Ok(owner) = Owner::for_this_process() {
                let _ = owner
                    .command(&bin_dir.join("pg_ctl"), &dir)
                    .arg("-D")
                    .arg(dir.join("data"))
                    .args(["stop", "-m", "immediate", "-w"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// `bytes` random bytes from the kernel, in hex.
fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buffer = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut buffer))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throwaway_cluster_accepts_its_superuser_over_tcp_with_the_password_only() {
        let cluster = cluster().unwrap_or_else(|e| panic!("{e}"));
        let psql = |password: &str| {
            Command::new(cluster.bin_dir.join("psql"))
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tA"])
                .args(["-c", "SELECT current_setting('fsync')"])
                .arg("-p")
                .arg(cluster.port.to_string())
                .env("PGPASSWORD", password)
                .env("PGCONNECT_TIMEOUT", "10")
                .output()
                .expect("run psql")
        };
        let right = psql(&cluster.password);
        assert!(
            right.status.success(),
            "{}",
            String::from_utf8_lossy(&right.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&right.stdout).trim(), "off");
        let wrong = psql("not-the-password");
        assert!(!wrong.status.success());
        assert!(
            String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"),
            "{}",
            String::from_utf8_lossy(&wrong.stderr)
        );
        assert!(cluster
            .url
            .ends_with(&format!(":{}/postgres", cluster.port)));
    }

    #[test]
    fn a_tests_own_cluster_stops_resumes_on_its_port_and_is_removed_when_dropped() {
        let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        let select = || {
            cluster
                .client("psql")
                .args(["-tA", "-c", "SELECT 1"])
                .env("PGCONNECT_TIMEOUT", "5")
                .output()
                .expect("run psql")
                .status
                .success()
        };
        assert!(select(), "the cluster answers");
        cluster.stop("fast").expect("stop");
        assert!(!select(), "a stopped cluster does not answer");
        cluster.resume().expect("resume");
        assert!(select(), "the cluster answers again on its port");
        let dir = cluster.dir().to_path_buf();
        drop(cluster);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while dir.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} outlived its cluster",
                dir.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    #[test]
    fn the_server_programs_are_those_on_the_path_or_else_the_newest_debian_versions() {
        let root = std::env::temp_dir().join(format!(
            "techbalance-pgsearch-{}",
            random_hex(4).expect("random")
        ));
        for version in ["9", "15", "16"] {
            let bin = root.join(version).join("bin");
            fs::create_dir_all(&bin).expect("bin");
            fs::write(bin.join("initdb"), "").expect("initdb");
            if version != "16" {
                fs::write(bin.join("pg_ctl"), "").expect("pg_ctl");
            }
        }
        let nowhere = Some(std::ffi::OsString::from("/nonexistent"));
        // 16 lacks pg_ctl; 15 is newer than 9, though not in the order of their names.
        assert_eq!(
            server_programs(nowhere.clone(), &root),
            Some(root.join("15/bin"))
        );
        let path = std::env::join_paths([root.join("9/bin")]).expect("PATH");
        assert_eq!(
            server_programs(Some(path), &root),
            fs::canonicalize(root.join("9/bin")).ok()
        );
        assert_eq!(server_programs(nowhere, &root.join("absent")), None);
        fs::remove_dir_all(&root).expect("clean up");
        assert!(INSTALL.contains("apt-get install postgresql") && !INSTALL.contains('\n'));
    }

    #[test]
    fn the_cluster_and_its_directory_are_gone_once_the_process_that_started_it_exits() {
        // This test binary, re-run as a child that starts a cluster, prints where, and exits.
        if std::env::var_os("TECHBALANCE_TEST_POSTGRES_CHILD").is_some() {
            let cluster = cluster().unwrap_or_else(|e| panic!("{e}"));
            println!("cluster {} {}", cluster.port, cluster.dir().display());
            return;
        }
        let output = Command::new(std::env::current_exe().expect("this test binary"))
            .args([
                "tests::the_cluster_and_its_directory_are_gone_once_the_process_that_started_it_exits",
                "--exact",
                "--nocapture",
            ])
            .env("TECHBALANCE_TEST_POSTGRES_CHILD", "1")
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("cluster "))
            .unwrap_or_else(|| panic!("the child printed no cluster: {stdout}"));
        let (port, dir) = line.split_once(' ').expect("port and directory");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while Path::new(dir).exists()
            || std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port")))
                .is_ok()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the cluster at port {port} ({dir}) outlived its process"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
