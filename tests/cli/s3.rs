//! Shared state on S3 (moto's S3, which implements conditional writes): the
//! receipt log and the scope leases in a bucket, contention, renewal, expiry
//! and `nhi unlock`, fencing of a paused holder, a race of 16 appliers of
//! which exactly one wins, the probe that refuses a store ignoring
//! conditional writes, and `nhi audit verify s3://…`.

use std::io::{Read as _, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Run, Workspace, repo};
use crate::moto::Moto;
use crate::team::{OPEN_TRUST, ok, team};

const BUCKET: &str = "nhi-shared";
const PREFIX: &str = "teams/platform";

/// moto, a bucket, and optionally the fault-injecting proxy in front of it.
struct Shared {
    moto: Moto,
    proxy: Option<Proxy>,
}

/// `tests/cli/s3proxy.py`, stopped when its standard input closes.
struct Proxy {
    endpoint: String,
    lifeline: Option<ChildStdin>,
    child: Child,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }
}

impl Shared {
    fn start(proxy: Option<&str>) -> Option<Self> {
        let moto = crate::moto::start()?;
        let shared = Self { moto, proxy: None };
        shared.python(&format!("s3.create_bucket(Bucket='{BUCKET}')"));
        let proxy = proxy.map(|mode| {
            let mut child = Command::new(repo().join(".venv/bin/python"))
                .arg(repo().join("tests/cli/s3proxy.py"))
                .arg(shared.moto_endpoint())
                .arg(mode)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let mut port = String::new();
            let mut out = child.stdout.take().unwrap();
            let mut byte = [0u8; 1];
            while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
                port.push(byte[0] as char);
            }
            Proxy {
                endpoint: format!("http://127.0.0.1:{}", port.trim()),
                lifeline: child.stdin.take(),
                child,
            }
        });
        Some(Self { proxy, ..shared })
    }

    fn moto_endpoint(&self) -> String {
        self.moto
            .env()
            .into_iter()
            .find(|(k, _)| *k == "AWS_ENDPOINT_URL")
            .unwrap()
            .1
    }

    /// Where nhi talks to S3: the proxy when there is one.
    fn endpoint(&self) -> String {
        self.proxy
            .as_ref()
            .map_or_else(|| self.moto_endpoint(), |p| p.endpoint.clone())
    }

    /// A trust policy keeping the log and the locks in the bucket.
    fn trust(&self, lease: &str) -> String {
        format!(
            "{OPEN_TRUST}backend:\n  s3:\n    bucket: {BUCKET}\n    prefix: {PREFIX}/\n    region: us-east-1\n    endpoint_url: {}\n    lease: {lease}\n",
            self.endpoint()
        )
    }

    fn command(&self, ws: &Workspace, args: &[&str]) -> Command {
        let mut cmd = ws.command();
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd.env("NHI_NOW", crate::team::now()).args(args);
        cmd
    }

    fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run {
        Run::from(self.command(ws, args).output().unwrap())
    }

    /// boto3 against moto itself (never through the proxy), as an operator.
    fn python(&self, code: &str) -> String {
        let script = format!(
            "import boto3, json\nfrom botocore.config import Config\ns3 = boto3.client('s3', endpoint_url='{}', config=Config(s3={{'addressing_style': 'path'}}))\n{code}\n",
            self.moto_endpoint()
        );
        let mut cmd = Command::new(repo().join(".venv/bin/python"));
        cmd.arg("-c").arg(script);
        for (k, v) in self.moto.env() {
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

    /// The keys under the prefix, relative to it.
    fn keys(&self) -> Vec<String> {
        let listed = self.python(&format!(
            "r = s3.list_objects_v2(Bucket='{BUCKET}', Prefix='{PREFIX}/')\nprint(json.dumps([o['Key'] for o in r.get('Contents', [])]))"
        ));
        let keys: Vec<String> = serde_json::from_str(listed.trim()).unwrap();
        keys.into_iter()
            .map(|k| k.strip_prefix(&format!("{PREFIX}/")).unwrap().to_owned())
            .collect()
    }

    fn get(&self, key: &str) -> Option<String> {
        let got = self.python(&format!(
            "try:\n    print(s3.get_object(Bucket='{BUCKET}', Key='{PREFIX}/{key}')['Body'].read().decode(), end='')\nexcept s3.exceptions.NoSuchKey:\n    print('<none>', end='')"
        ));
        (got != "<none>").then_some(got)
    }

    fn lock(&self, name: &str) -> Option<serde_json::Value> {
        self.get(&format!("locks/{name}.json"))
            .map(|t| serde_json::from_str(&t).unwrap())
    }

    fn put(&self, key: &str, text: &str) {
        self.python(&format!(
            "s3.put_object(Bucket='{BUCKET}', Key='{PREFIX}/{key}', Body={text:?}.encode())"
        ));
    }
}

fn refused_with(run: &Run, code: &str) {
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains(code), "{code}:\n{}", run.stderr);
}

fn joined(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The quickstart team with its log and locks in the bucket.
fn workspace(shared: &Shared, lease: &str) -> Workspace {
    let ws = team();
    ws.write("trust.yaml", &shared.trust(lease));
    ws
}

/// A workspace whose only change mints a key delivered to stdout, so that an
/// apply whose stdout is a full pipe blocks there, holding its leases.
fn blocking(shared: &Shared, lease: &str) -> Workspace {
    let ws = workspace(shared, lease);
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: one.json}\nidentities:\n  - name: ci\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: primary\n        rotate_after: 30d\n        sink: stdout\n",
    );
    ok(&shared.nhi(&ws, &["plan", "-o", "p.plan"]));
    ws
}

/// Starts `nhi apply p.plan` with its stdout a full pipe: it blocks delivering
/// the secret, after its leases were taken and fenced.
fn apply_blocked(shared: &Shared, ws: &Workspace) -> (Child, std::io::PipeReader) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    writer.write_all(&vec![b'#'; 65_536]).unwrap();
    let child = shared
        .command(
            ws,
            &[
                "apply",
                "p.plan",
                "--trust",
                "trust.yaml",
                "--key",
                "carol.key",
                "--allow-secrets-on-stdout",
            ],
        )
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, reader)
}

fn apply(shared: &Shared, ws: &Workspace, plan: &str) -> Run {
    shared.nhi(
        ws,
        &["apply", plan, "--trust", "trust.yaml", "--key", "carol.key"],
    )
}

fn verify(shared: &Shared, ws: &Workspace) -> Run {
    let url = format!("s3://{BUCKET}/{PREFIX}");
    shared.nhi(ws, &["audit", "verify", &url, "--trust", "trust.yaml"])
}

/// `nhi unlock --lock-id ID --reason REASON --key KEY` with the workspace's trust policy.
fn unlock(shared: &Shared, ws: &Workspace, lock_id: &str, reason: &str, key: &str) -> Run {
    shared.nhi(
        ws,
        &[
            "unlock",
            "--lock-id",
            lock_id,
            "--reason",
            reason,
            "--key",
            key,
            "--trust",
            "trust.yaml",
        ],
    )
}

fn held(lock: &serde_json::Value) -> bool {
    lock.get("released_at").is_none()
}

#[test]
fn every_apply_appends_to_the_log_in_s3_and_audit_verify_names_a_tampered_receipt() {
    let Some(shared) = Shared::start(None) else {
        return;
    };
    let ws = workspace(&shared, "60s");
    ok(&shared.nhi(&ws, &["plan", "-o", "p1.plan"]));
    ok(&apply(&shared, &ws, "p1.plan"));
    let mut config = ws.read("nhi.yaml");
    config.push_str("  - name: extra\n    provider: demo\n    owner: a@example.com\n");
    ws.write("nhi.yaml", &config);
    // Plan with `--trust` reads which keys nhi minted from the log in S3.
    ok(&shared.nhi(&ws, &["plan", "-o", "p2.plan", "--trust", "trust.yaml"]));
    ok(&apply(&shared, &ws, "p2.plan"));
    let keys = shared.keys();
    for key in [
        "log/00000001.receipt.json",
        "log/00000002.receipt.json",
        "log/checkpoint.json",
        "locks/local.demo.json",
        "locks/receipt-log.json",
        "probe.json",
    ] {
        assert!(keys.contains(&key.to_owned()), "{key} in {keys:?}");
    }
    assert_eq!(keys.len(), 6, "{keys:?}");
    // Released, not deleted: a lock object says who held it last.
    let lock = shared.lock("local.demo").unwrap();
    assert!(!held(&lock), "{lock}");
    assert_eq!(lock["holder"], "carol@example.com", "{lock}");
    let verified = verify(&shared, &ws);
    ok(&verified);
    assert!(
        verified.stdout.contains("receipts: 2 "),
        "{}",
        verified.stdout
    );
    // A receipt edited in the bucket is the first break.
    let first = shared.get("log/00000001.receipt.json").unwrap();
    let edited = first.replacen("succeeded", "failed", 1);
    assert_ne!(first, edited);
    shared.put("log/00000001.receipt.json", &edited);
    let broken = verify(&shared, &ws);
    refused_with(&broken, "nhi::log::broken");
    assert!(
        joined(&broken.stderr).contains(&format!(
            "the receipt log `s3://{BUCKET}/{PREFIX}` is broken: `00000001.receipt.json`"
        )),
        "{}",
        broken.stderr
    );
    // And apply refuses to append to a broken log.
    config.push_str("  - name: extra-2\n    provider: demo\n    owner: a@example.com\n");
    ws.write("nhi.yaml", &config);
    ok(&shared.nhi(&ws, &["plan", "-o", "p3.plan"]));
    refused_with(&apply(&shared, &ws, "p3.plan"), "nhi::log::unusable");
}

#[test]
fn a_second_apply_is_refused_while_the_first_renews_its_lease() {
    let Some(shared) = Shared::start(None) else {
        return;
    };
    let ws = blocking(&shared, "2s");
    let (mut first, mut reader) = apply_blocked(&shared, &ws);
    wait_for("the first apply's lease", || {
        shared.lock("local.demo").is_some_and(|l| held(&l))
            && shared.lock("receipt-log").is_some_and(|l| held(&l))
    });
    let taken = shared.lock("local.demo").unwrap();
    let lock_id = taken["lock_id"].as_str().unwrap().to_owned();
    // Twice the lease later the lock is still live: its holder renews it.
    std::thread::sleep(Duration::from_secs(4));
    let renewed = shared.lock("local.demo").unwrap();
    assert!(held(&renewed), "{renewed}");
    assert_eq!(renewed["lock_id"], lock_id.as_str());
    assert_ne!(renewed["lease_until"], taken["lease_until"], "renewed");
    let second = apply(&shared, &ws, "p.plan");
    refused_with(&second, "nhi::lock::held");
    let message = joined(&second.stderr);
    assert!(
        message.contains(&format!(
            "the lock `local.demo` is held by `carol@example.com` (lock id `{lock_id}`, plan `{}`) until",
            renewed["plan"].as_str().unwrap()
        )),
        "{}",
        second.stderr
    );
    // A live lease is never taken over.
    let unlock = unlock(&shared, &ws, &lock_id, "test", "carol.key");
    refused_with(&unlock, "nhi::lock::live");
    let mut drained = Vec::new();
    reader.read_to_end(&mut drained).unwrap();
    let status = first.wait().unwrap();
    assert!(status.success(), "the first apply completes");
    assert!(!held(&shared.lock("local.demo").unwrap()));
    assert!(!held(&shared.lock("receipt-log").unwrap()));
    let verified = verify(&shared, &ws);
    ok(&verified);
    assert!(
        verified.stdout.contains("receipts: 1 "),
        "{}",
        verified.stdout
    );
}

#[test]
fn an_expired_lease_is_taken_over_only_by_unlock_and_its_paused_holder_cannot_append() {
    let Some(shared) = Shared::start(None) else {
        return;
    };
    let ws = blocking(&shared, "1s");
    let (mut first, mut reader) = apply_blocked(&shared, &ws);
    wait_for("the first apply's lease", || {
        shared.lock("receipt-log").is_some_and(|l| held(&l))
    });
    // Paused: its renewals stop with it, and its lease runs out.
    let pid = first.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(2500));
    let second = apply(&shared, &ws, "p.plan");
    refused_with(&second, "nhi::lock::expired");
    let lock_id = shared.lock("local.demo").unwrap()["lock_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = joined(&second.stderr);
    assert!(
        message.contains(&format!("(lock id `{lock_id}`, plan `sha256:"))
            && message.contains(&format!("nhi unlock --lock-id {lock_id} --reason TEXT")),
        "{}",
        second.stderr
    );
    let unlock = unlock(
        &shared,
        &ws,
        &lock_id,
        "the CI runner died mid-apply",
        "bob.key",
    );
    ok(&unlock);
    assert!(
        joined(&unlock.stderr).contains("took over the lock `local.demo` of `carol@example.com`"),
        "{}",
        unlock.stderr
    );
    for name in ["local.demo", "receipt-log"] {
        let lock = shared.lock(name).unwrap();
        assert!(!held(&lock), "{lock}");
        assert_eq!(lock["holder"], "nhi unlock by bob@example.com", "{lock}");
    }
    // The paused holder wakes, finishes its change, and is fenced off the log.
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut drained = Vec::new();
    reader.read_to_end(&mut drained).unwrap();
    let mut stderr = String::new();
    first
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(1), "{stderr}");
    assert!(stderr.contains("nhi::lock::lost"), "{stderr}");
    // The log holds the unlock record, signed, and nothing of the paused apply.
    let keys = shared.keys();
    assert!(keys.contains(&"log/00000001.receipt.json".to_owned()));
    assert!(
        !keys.contains(&"log/00000002.receipt.json".to_owned()),
        "{keys:?}"
    );
    let record = shared.get("log/00000001.receipt.json").unwrap();
    assert!(record.contains("\"nhi_unlock\""), "{record}");
    assert!(record.contains("the CI runner died mid-apply"), "{record}");
    ok(&verify(&shared, &ws));
}

#[test]
fn sixteen_appliers_race_and_exactly_one_wins_each_round() {
    let Some(shared) = Shared::start(Some("serialize")) else {
        return;
    };
    let ws = workspace(&shared, "60s");
    let mut config = ws.read("nhi.yaml");
    for round in 1..=3 {
        config.push_str(&format!(
            "  - name: race-{round}\n    provider: demo\n    owner: a@example.com\n"
        ));
        ws.write("nhi.yaml", &config);
        let plan = format!("r{round}.plan");
        ok(&shared.nhi(&ws, &["plan", "-o", &plan]));
        let racers: Vec<Child> = (0..16)
            .map(|_| {
                shared
                    .command(
                        &ws,
                        &[
                            "apply",
                            &plan,
                            "--trust",
                            "trust.yaml",
                            "--key",
                            "carol.key",
                        ],
                    )
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut won = 0;
        for racer in racers {
            let out = racer.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                won += 1;
            } else {
                // Refused at the lock, or (having taken it once the winner let
                // go) as stale: never anything else.
                assert!(
                    stderr.contains("nhi::lock::held") || stderr.contains("nhi::apply::stale"),
                    "{stderr}"
                );
            }
        }
        assert_eq!(won, 1, "round {round}");
        let verified = verify(&shared, &ws);
        ok(&verified);
        let want = format!("receipts: {round} ");
        assert!(verified.stdout.contains(&want), "{}", verified.stdout);
    }
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused() {
    let Some(shared) = Shared::start(Some("strip")) else {
        return;
    };
    let ws = workspace(&shared, "60s");
    let estate = ws.read("estate.json");
    ok(&shared.nhi(&ws, &["plan", "-o", "p.plan"]));
    let refused = apply(&shared, &ws, "p.plan");
    refused_with(&refused, "nhi::log::unconditional_store");
    assert!(
        joined(&refused.stderr).contains(&format!(
            "the store `s3://{BUCKET}/{PREFIX}` ignores conditional writes: a second create of `s3://{BUCKET}/{PREFIX}/probe.json` with `If-None-Match: *` succeeded"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.read("estate.json"), estate, "nothing changed");
    assert_eq!(shared.keys(), vec!["probe.json".to_owned()]);
}

#[test]
fn a_revocation_is_appended_to_the_log_in_s3_and_later_applies_honour_it() {
    let Some(shared) = Shared::start(None) else {
        return;
    };
    let ws = workspace(&shared, "60s");
    let mut trust = ws.read("trust.yaml");
    trust.push_str("revoke:\n  required: 1\n  signers: [carol@example.com]\n");
    ws.write("trust.yaml", &trust);
    let key = "local.demo/identity/ci-deployer/key/primary";
    let revoked = shared.nhi(
        &ws,
        &[
            "revoke",
            key,
            "--reason",
            "key leaked",
            "--key",
            "carol.key",
            "--trust",
            "trust.yaml",
        ],
    );
    ok(&revoked);
    assert!(
        joined(&revoked.stderr).contains(&format!(
            "and in the receipt log as `s3://{BUCKET}/{PREFIX}/log/00000001.receipt.json`"
        )),
        "{}",
        revoked.stderr
    );
    let entry = shared.get("log/00000001.receipt.json").unwrap();
    assert!(entry.contains("\"nhi_revocation\""), "{entry}");
    assert!(!held(&shared.lock("local.demo").unwrap()));
    // The record beside the configuration is gone; the log in S3 still holds it.
    std::fs::remove_dir_all(ws.path().join(".nhi")).unwrap();
    ok(&shared.nhi(&ws, &["plan", "-o", "after.plan"]));
    refused_with(&apply(&shared, &ws, "after.plan"), "nhi::plan::revoked");
    // Without a trust policy: the chain alone, at `AWS_ENDPOINT_URL`.
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let unsigned = shared.nhi(&ws, &["audit", "verify", &url, "--unsigned"]);
    ok(&unsigned);
    assert!(
        unsigned.stdout.contains("receipts: 1 "),
        "{}",
        unsigned.stdout
    );
}

/// Regression: an unlock that took locks over but could not append its record
/// (here: the log is broken) let go of them on its way out, a take-over that
/// nothing records.
#[test]
fn an_unlock_that_cannot_record_itself_keeps_the_locks_it_took_over() {
    let Some(shared) = Shared::start(None) else {
        return;
    };
    let ws = workspace(&shared, "60s");
    ok(&shared.nhi(&ws, &["plan", "-o", "p1.plan"]));
    ok(&apply(&shared, &ws, "p1.plan"));
    // A runner died holding the scope; its lease ran out long ago.
    shared.put(
        "locks/local.demo.json",
        r#"{"format_version":1,"lock_id":"0123456789abcdef","holder":"runner-17","acquired":"2026-01-01T00:00:00Z","lease_until":"2026-01-01T00:01:00Z"}"#,
    );
    shared.put("log/00000001.receipt.json", "not a receipt");
    let unlock = unlock(
        &shared,
        &ws,
        "0123456789abcdef",
        "runner 17 died",
        "bob.key",
    );
    refused_with(&unlock, "nhi::log::unusable");
    let lock = shared.lock("local.demo").unwrap();
    assert!(held(&lock), "{lock}");
    assert_eq!(lock["holder"], "nhi unlock by bob@example.com", "{lock}");
}
