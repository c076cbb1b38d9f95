//! The one moto launcher, shared by the two test binaries that talk to moto: this
//! crate's `moto` tests and the root crate's CLI tests, which include this file.
//! It starts a moto server (a real IAM and Secrets Manager emulator) on a free
//! 127.0.0.1 port, stopped when its [`Server`] is dropped or the test process
//! exits.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const MISSING: &str = "moto is not installed: run scripts/moto-install";

/// A running moto server.
pub struct Server {
    pub endpoint: String,
    /// The server's wrapper shell stops moto when this pipe closes: when the
    /// server is dropped, or when the OS closes it as the test process exits,
    /// however it exits.
    lifeline: Option<ChildStdin>,
    wrapper: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.wrapper.wait();
    }
}

/// Starts the moto of the repository at `root` (installed in its `.venv`), or
/// returns `None` (skip) when it is not installed outside CI.
#[allow(clippy::print_stderr)]
pub fn start(root: &Path) -> Option<Server> {
    let server = root.join(".venv/bin/moto_server");
    if !server.exists() {
        assert!(std::env::var_os("CI").is_none(), "{MISSING}");
        eprintln!("skipping: {MISSING}");
        return None;
    }
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = std::env::temp_dir().join(format!("nhi-moto-{port}.log"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; read _ignored; kill "$pid""#)
        .arg(&server)
        .arg(port.to_string())
        .arg(&log)
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start moto ({}): {err}", server.display()));
    let lifeline = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            Ok(_) => break,
            Err(err) if err.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("moto exited with {status}; see {}", log.display());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!(
                "moto did not start on port {port}: {err}; see {}",
                log.display()
            ),
        }
    }
    Some(Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        lifeline: Some(lifeline),
        wrapper: child,
    })
}
