//! The one PostgreSQL launcher, shared by this crate's tests and the root crate's
//! CLI tests, which include this file. It creates a throwaway cluster with
//! `initdb` in a temporary directory (SCRAM authentication, a superuser `nhi`
//! whose password is in a file) and starts it on a free 127.0.0.1 port; the
//! server stops when its [`Server`] is dropped or the test process exits.
//!
//! `initdb` and `postgres` refuse to run as root, and CI runs tests as root: then
//! both run as `nobody` (through `setpriv`), in a directory that user owns.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const MISSING: &str = "PostgreSQL is not installed: run scripts/postgres-install";

/// The superuser of a test cluster.
pub const SUPERUSER: &str = "nhi";
/// Its password (the file `superuser.password` in the cluster's directory holds it).
pub const SUPERUSER_PASSWORD: &str = "test-superuser-password";

/// A running throwaway cluster.
pub struct Server {
    pub port: u16,
    /// Holds the data directory, the socket and `superuser.password`.
    pub dir: tempfile::TempDir,
    /// Where `psql` and the server binaries are.
    pub bin: PathBuf,
    lifeline: Option<ChildStdin>,
    wrapper: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.wrapper.wait();
    }
}

/// The directory holding `initdb`: on `PATH`, else the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
    });
    if let Some(dir) = on_path {
        return Some(
            std::fs::canonicalize(dir.join("initdb"))
                .ok()?
                .parent()?
                .to_path_buf(),
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `psql` beside the server, else on `PATH`.
pub fn psql(server: &Server) -> PathBuf {
    let beside = server.bin.join("psql");
    if beside.is_file() {
        beside
    } else {
        PathBuf::from("psql")
    }
}

/// The command that runs `program` as the cluster's owner: itself, or as
/// `nobody` when the tests run as root.
fn as_owner(program: &Path, root: bool) -> Command {
    if root {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Starts a cluster, or returns `None` (skip) when PostgreSQL is not installed
/// outside CI.
#[allow(clippy::print_stderr)]
pub fn start() -> Option<Server> {
    let Some(bin) = bin_dir() else {
        assert!(std::env::var_os("CI").is_none(), "{MISSING}");
        eprintln!("skipping: {MISSING}");
        return None;
    };
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("nhi-pg-")
        .tempdir()
        .expect("a temporary directory");
    let data = dir.path().join("data");
    let pwfile = dir.path().join("superuser.password");
    std::fs::write(&pwfile, format!("{SUPERUSER_PASSWORD}\n")).expect("write the password file");
    if root {
        let owner = |path: &Path| {
            let status = Command::new("chown")
                .args(["nobody:nogroup"])
                .arg(path)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {}", path.display());
        };
        owner(dir.path());
        owner(&pwfile);
    }
    let output = as_owner(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            "--no-sync",
            "--no-instructions",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .env("LC_ALL", "C")
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = dir.path().join("server.log");
    // The wrapper shell stops the server when its stdin closes: when the Server
    // is dropped, or when the test process exits however it exits.
    let postgres = as_owner(&bin.join("postgres"), root);
    let program = postgres.get_program().to_owned();
    let args: Vec<_> = postgres.get_args().map(ToOwned::to_owned).collect();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"log="$1"; shift; "$@" >"$log" 2>&1 & pid=$!; read _ignored; kill -INT "$pid"; wait "$pid""#)
        .arg("sh")
        .arg(&log)
        .arg(&program)
        .args(&args)
        .arg("-D")
        .arg(&data)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
        .arg(dir.path())
        .args(["-c", "fsync=off", "-c", "log_statement=all"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
    let lifeline = child.stdin.take().expect("piped stdin");
    drop(postgres);
    // The port opens before the server accepts sessions ("the database system is
    // starting up"): wait until `pg_isready` says it does.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-d",
                "postgres",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "postgres exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "postgres did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Server {
        port,
        dir,
        bin,
        lifeline: Some(lifeline),
        wrapper: child,
    })
}

impl Server {
    /// Runs SQL through `psql` as the superuser, as a person would by hand, and
    /// returns what it printed (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(psql(self))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql failed on `{sql}`: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("psql prints UTF-8")
    }

    /// The server's log (every statement, `log_statement = all`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}
