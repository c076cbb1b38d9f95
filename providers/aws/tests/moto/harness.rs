//! One moto server per test binary, on a free 127.0.0.1 port, stopped when the
//! binary exits, and SDK clients that talk to it.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use nhi_provider_aws::AwsProvider;
use nhi_provider_sdk::ProviderContext;
use serde_json::{Value, json};

const MISSING: &str = "moto is not installed: run scripts/moto-install";

pub struct Moto {
    pub endpoint: String,
    /// The server's wrapper shell stops moto when this pipe closes, which the OS
    /// does when the test binary exits, however it exits.
    _lifeline: Mutex<ChildStdin>,
}

static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

/// The shared server, or `None` (skip) when moto is not installed outside CI.
pub fn moto() -> Option<&'static Moto> {
    MOTO.get_or_init(start).as_ref()
}

#[allow(clippy::print_stderr)]
fn start() -> Option<Moto> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
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
    Some(Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _lifeline: Mutex::new(lifeline),
    })
}

impl Moto {
    /// A provider for the IAM path `prefix`, with `extra` settings on top.
    pub fn provider(&self, prefix: &str, extra: &Value) -> AwsProvider {
        let mut settings = json!({
            "path_prefix": prefix,
            "endpoint_url": self.endpoint,
            "region": "us-east-1",
            "max_attempts": 1,
        });
        for (k, v) in extra.as_object().expect("extra settings are a mapping") {
            settings[k] = v.clone();
        }
        AwsProvider::new(ProviderContext {
            name: "test".into(),
            settings,
            base_dir: std::env::temp_dir(),
        })
        .expect("valid settings")
        .with_static_credentials("testing", "testing")
    }

    fn credentials() -> Credentials {
        Credentials::new("testing", "testing", None, None, "moto")
    }

    /// An IAM client for changes made out of band.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Self::credentials())
                .build(),
        )
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Self::credentials())
                .build(),
        )
    }
}
