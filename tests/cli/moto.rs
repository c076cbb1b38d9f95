//! A moto server (a real IAM and Secrets Manager emulator) for the CLI tests:
//! started on a free 127.0.0.1 port, stopped when the test process exits.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Run, Workspace, repo};

const MISSING: &str = "moto is not installed: run scripts/moto-install";

pub struct Moto {
    pub endpoint: String,
    /// moto's wrapper shell kills it when this pipe closes, however the test ends.
    lifeline: Option<ChildStdin>,
    wrapper: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.wrapper.wait();
    }
}

/// Starts moto, or returns `None` (skip) when it is not installed outside CI.
#[allow(clippy::print_stderr)]
pub fn start() -> Option<Moto> {
    let server = repo().join(".venv/bin/moto_server");
    if !server.exists() {
        assert!(std::env::var_os("CI").is_none(), "{MISSING}");
        eprintln!("skipping: {MISSING}");
        return None;
    }
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read _ignored; kill "$pid""#)
        .arg(&server)
        .arg(port.to_string())
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let lifeline = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        lifeline: Some(lifeline),
        wrapper: child,
    })
}

impl Moto {
    /// Environment for `nhi` and boto3: static test credentials and the endpoint.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Runs `nhi` against this server with the real clock.
    pub fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run {
        let now = crate::team::now();
        let owned = self.env();
        let mut pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.push(("NHI_NOW", &now));
        ws.run_env(args, &pairs)
    }

    /// Out-of-band changes, made with boto3 as an operator would.
    pub fn boto(&self, code: &str) -> String {
        let python = repo().join(".venv/bin/python");
        let script = format!(
            "import boto3, json\niam = boto3.client('iam')\nsm = boto3.client('secretsmanager')\n{code}\n"
        );
        let mut cmd = Command::new(python);
        cmd.arg("-c").arg(script);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "boto3 failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
