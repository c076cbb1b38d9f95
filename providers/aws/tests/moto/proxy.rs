//! The fault-injecting proxy in front of moto (`iam_proxy.py`), for limits real
//! IAM enforces and moto does not: started per test on a free 127.0.0.1 port,
//! stopped when dropped or when the test process exits (its standard input is
//! the lifeline, as for moto).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Moto;

pub struct Proxy {
    pub endpoint: String,
    port: u16,
    lifeline: Option<ChildStdin>,
    child: Child,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }
}

impl Moto {
    /// A proxy in front of this moto.
    pub fn proxy(&self) -> Proxy {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("../../.venv/bin/python");
        let script = root.join("tests/moto/iam_proxy.py");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(self.endpoint())
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", script.display()));
        let lifeline = child.stdin.take().expect("piped stdin");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
                Ok(_) => break,
                Err(err)
                    if err.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline =>
                {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("the IAM proxy exited with {status}");
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(err) => panic!("the IAM proxy did not start on port {port}: {err}"),
            }
        }
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            lifeline: Some(lifeline),
            child,
        }
    }
}

impl Proxy {
    /// Calls the proxy's own control endpoint `path` (`/_proxy/…`).
    pub fn control(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = body.to_string();
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("proxy");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.0 200"), "{head}\n{body}");
        serde_json::from_str(body).expect("JSON")
    }

    /// Requests of `action` that reached the proxy so far, attempts included.
    pub fn calls(&self, action: &str) -> u64 {
        self.control("GET", "/_proxy/calls", &Value::Null)[action]
            .as_u64()
            .unwrap_or(0)
    }

    /// An IAM client that talks to moto through the proxy.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        Moto::iam_at(&self.endpoint)
    }
}
