//! The Google Cloud IAM stand-in (`providers/gcp/standin/server.py`) for the CLI
//! tests: started on a free 127.0.0.1 port, stopped when the test ends.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::repo;

/// The project the stand-in serves by default.
pub const PROJECT: &str = "nhi-standin";

pub struct Standin {
    pub endpoint: String,
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the stand-in (it needs only `python3` and its standard library).
pub fn start() -> Standin {
    start_with(&[])
}

/// Starts the stand-in with more of its options, e.g. `--user-key-validity-hours`.
pub fn start_with(options: &[&str]) -> Standin {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let child = Command::new("python3")
        .arg(repo().join("providers/gcp/standin/server.py"))
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 runs the GCP stand-in");
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok())
        {
            break port;
        }
        assert!(Instant::now() < deadline, "the GCP stand-in did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    Standin {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
        child,
        _dir: dir,
    }
}

impl Standin {
    /// One HTTP call to the stand-in (its Google-shaped API or its `/_standin/`
    /// control plane), as an out-of-band operator or a fault injector; returns
    /// the status and the JSON body.
    pub fn call(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap();
        let body = if body.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
        };
        (status, body)
    }

    /// Like [`Standin::call`], asserting a 2xx answer.
    pub fn ok(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let (status, body) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    /// `projects/<PROJECT>/serviceAccounts/<id>@…` as a URL path.
    pub fn account_path(id: &str) -> String {
        format!("/v1/projects/{PROJECT}/serviceAccounts/{id}@{PROJECT}.iam.gserviceaccount.com")
    }

    /// The project's IAM policy at version 3.
    pub fn policy(&self) -> serde_json::Value {
        self.ok(
            "POST",
            &format!("/v3/projects/{PROJECT}:getIamPolicy"),
            r#"{"options": {"requestedPolicyVersion": 3}}"#,
        )
    }

    /// The roles `member` holds (with `?condition-title` for conditional ones).
    pub fn roles_of(&self, member: &str) -> Vec<String> {
        let policy = self.policy();
        let mut roles: Vec<String> = policy["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["members"].as_array().unwrap().iter().any(|m| m == member))
            .map(|b| match b["condition"]["title"].as_str() {
                Some(title) => format!("{}?{title}", b["role"].as_str().unwrap()),
                None => b["role"].as_str().unwrap().to_owned(),
            })
            .collect();
        roles.sort();
        roles
    }
}
