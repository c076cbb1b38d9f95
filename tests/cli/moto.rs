//! A moto server (a real IAM and Secrets Manager emulator) for the CLI tests, one
//! for each test, from the aws provider's launcher (`server`), and the ways the
//! tests talk to it: `nhi` and boto3.

#[path = "../../providers/aws/tests/moto/server.rs"]
mod server;

use std::process::Command;

use crate::harness::{Run, Workspace, repo};

/// A server for one test, stopped when it is dropped.
pub struct Moto(server::Server);

/// Starts moto, or returns `None` (skip) when it is not installed outside CI.
pub fn start() -> Option<Moto> {
    server::start(&repo()).map(Moto)
}

impl Moto {
    /// Environment for `nhi` and boto3: static test credentials and the endpoint.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.0.endpoint.clone()),
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
