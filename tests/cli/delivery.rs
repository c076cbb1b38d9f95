//! Secrets as the README promises them: a live key whose secret nobody holds never
//! looks converged, sinks are confined and checked before anyone approves,
//! rotation into a file works, paths resolve where the plan was made, and an
//! interrupted apply says so.

use std::io::{Read as _, Write as _};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Run, Workspace};
use crate::team::{OPEN_TRUST, ok, run};

const ONE_KEY: &str = "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: ci\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: primary\n        rotate_after: 30d\n        sink: SINK\n";

/// A workspace whose configuration declares identity `ci` with key `primary`
/// delivered to `sink`, and an open trust policy.
fn one_key(sink: &str) -> Workspace {
    let ws = Workspace::empty();
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", OPEN_TRUST);
    ws.write("nhi.yaml", &ONE_KEY.replace("SINK", sink));
    ws
}

fn apply(ws: &Workspace, plan: &str) -> Run {
    run(ws, &["apply", plan, "--trust", "trust.yaml"])
}

fn estate(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.read("estate.json")).unwrap()
}

fn keys(ws: &Workspace) -> Vec<serde_json::Value> {
    estate(ws)["identities"][0]["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn refused_with(run: &Run, code: &str, detail: &str) {
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains(code), "{code}:\n{}", run.stderr);
    assert!(run.stderr.contains(detail), "{detail}:\n{}", run.stderr);
}

/// Starts `nhi apply` with its standard output a pipe that is already full, so
/// that delivering a secret to `sink: stdout` blocks after the key was minted.
fn apply_blocked_on_stdout(ws: &Workspace, plan: &str) -> (Child, std::io::PipeReader) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    // Linux pipes hold 64 KiB: fill it, so the next write waits for a reader.
    writer.write_all(&vec![b'#'; 65_536]).unwrap();
    let child = ws
        .command()
        .env("NHI_NOW", crate::team::now())
        .args([
            "apply",
            plan,
            "--trust",
            "trust.yaml",
            "--allow-secrets-on-stdout",
        ])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, reader)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn key_minted(ws: &Workspace) -> bool {
    std::fs::read_to_string(ws.path().join("estate.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|e| {
            e["identities"][0]["keys"]
                .as_array()
                .is_some_and(|k| !k.is_empty())
        })
}

/// Regression: a kill between the estate write and the sink write left a live
/// key named `primary` whose secret nobody had, and the next plan said "No
/// changes" (exit 0). A minted key is named only once its secret is delivered.
#[test]
fn a_key_killed_before_its_secret_was_delivered_is_replaced_by_the_next_plan() {
    let ws = one_key("stdout");
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let (mut child, _reader) = apply_blocked_on_stdout(&ws, "p.plan");
    // Once the journal says `minted`, apply is blocked delivering to stdout.
    wait_for("the key to be minted and journalled", || {
        key_minted(&ws)
            && std::fs::read_to_string(ws.path().join("p.plan.receipt.json.journal"))
                .is_ok_and(|j| j.contains("\"step\":\"minted\""))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let live = keys(&ws);
    assert_eq!(live.len(), 1);
    assert!(
        live[0]["name"].is_null(),
        "an undelivered key has no name: {live:?}"
    );
    // The journal is the durable record of what was minted, and of no delivery.
    let journal = ws.read("p.plan.receipt.json.journal");
    let steps: Vec<String> = journal
        .lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["step"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(steps[steps.len() - 2..], ["minting", "minted"], "{journal}");
    assert!(!ws.path().join("p.plan.receipt.json").exists());

    let replanned = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        replanned.code, 2,
        "{}\n{}",
        replanned.stdout, replanned.stderr
    );
    let id = live[0]["id"].as_str().unwrap();
    assert!(
        replanned
            .stdout
            .contains(&format!("local.demo/identity/ci/key/{id} will be deleted")),
        "{}",
        replanned.stdout
    );
    assert!(
        replanned
            .stdout
            .contains("local.demo/identity/ci/key/primary will be created"),
        "{}",
        replanned.stdout
    );
    // The journal of the killed apply is evidence: the next receipt takes another name.
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let (mut child, mut reader) = apply_blocked_on_stdout(&ws, "p.plan");
    let mut drained = Vec::new();
    reader.read_to_end(&mut drained).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(ws.path().join("p.plan.receipt-2.json").exists());
    assert!(ws.path().join("p.plan.receipt.json.journal").exists());
    assert!(!ws.path().join("p.plan.receipt-2.json.journal").exists());
    let live = keys(&ws);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["name"], "primary");
    let replanned = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(replanned.code, 0, "{}", replanned.stdout);
}

/// Regression: a key with `sink: {file: …}` failed at its first rotation with
/// `nhi::apply::sink_exists`, after approval. The same configuration delivers the
/// new secret to the same path and retires the old key.
#[test]
fn rotation_into_a_file_sink_replaces_the_secret_and_retires_the_old_key() {
    let ws = one_key("{file: secrets/ci.key}");
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    ok(&apply(&ws, "p.plan"));
    let first: serde_json::Value = serde_json::from_str(&ws.read("secrets/ci.key")).unwrap();
    let first_id = first["key_id"].as_str().unwrap().to_owned();
    assert_eq!(keys(&ws)[0]["id"], first_id.as_str());
    assert_eq!(keys(&ws)[0]["name"], "primary");

    // The key is due once it is older than a second.
    ws.write(
        "nhi.yaml",
        &ws.read("nhi.yaml")
            .replace("rotate_after: 30d", "rotate_after: 1s"),
    );
    std::thread::sleep(Duration::from_millis(2100));
    let planned = run(&ws, &["plan", "-o", "r.plan"]);
    ok(&planned);
    assert!(
        planned
            .stdout
            .contains("local.demo/identity/ci/key/primary will be rotated"),
        "{}",
        planned.stdout
    );
    ok(&apply(&ws, "r.plan"));
    let second: serde_json::Value = serde_json::from_str(&ws.read("secrets/ci.key")).unwrap();
    let second_id = second["key_id"].as_str().unwrap();
    assert_ne!(second_id, first_id);
    let live = keys(&ws);
    assert_eq!(live.len(), 1, "the old key is retired: {live:?}");
    assert_eq!(live[0]["id"], second_id);
    assert_eq!(live[0]["name"], "primary");
    let names: Vec<String> = std::fs::read_dir(ws.path().join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["ci.key"], "no temporary or previous file is left");
}

/// Regression: the sink pre-check followed a dangling symlink, a sink whose
/// parent is a file failed after the key was minted, and a committed `secrets`
/// link sent the secret elsewhere. Plan refuses each before anyone approves.
#[test]
fn unusable_sinks_are_refused_at_plan_without_following_links() {
    let elsewhere = tempfile::tempdir().unwrap();
    type Prepare<'a> = &'a dyn Fn(&Workspace);
    let cases: [(&str, Prepare<'_>, &str); 4] = [
        (
            "{file: secrets/ci.key}",
            &|ws| {
                std::os::unix::fs::symlink(elsewhere.path(), ws.path().join("secrets")).unwrap();
            },
            "`secrets` is a symbolic link; sinks are opened without following links",
        ),
        (
            "{file: ci.key}",
            &|ws| {
                std::os::unix::fs::symlink(elsewhere.path().join("x"), ws.path().join("ci.key"))
                    .unwrap();
            },
            "`ci.key` is a symbolic link; sinks are opened without following links",
        ),
        (
            "{file: secrets/ci.key}",
            &|ws| ws.write("secrets", ""),
            "`secrets` is not a directory",
        ),
        (
            "{file: secrets/ci.key}",
            &|ws| ws.write("secrets/ci.key", "my notes\n"),
            "`secrets/ci.key` exists and holds no secret nhi delivered",
        ),
    ];
    for (sink, prepare, detail) in cases {
        let ws = one_key(sink);
        prepare(&ws);
        let planned = run(&ws, &["plan", "-o", "p.plan"]);
        refused_with(&planned, "nhi::plan::sink", detail);
        assert!(!ws.path().join("p.plan").exists());
    }
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// Regression: two keys naming one sink file passed validate; absolute and `..`
/// paths were accepted.
#[test]
fn shared_and_escaping_sink_paths_are_refused_at_validate() {
    let ws = one_key("{file: secrets/ci.key}");
    let config = ws.read("nhi.yaml")
        + "  - name: cd\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: primary\n        sink: {file: secrets/ci.key}\n      - name: spare\n        sink: {file: ../spare.key}\n      - name: third\n        sink: {file: /etc/third.key}\n";
    ws.write("nhi.yaml", &config);
    let validated = run(&ws, &["validate"]);
    assert_eq!(validated.code, 1, "{}", validated.stderr);
    for text in [
        "nhi::config::duplicate_sink",
        "key `primary` of identity `cd` delivers to `secrets/ci.key`, as another key does",
        "`..` leaves the configuration's directory",
        "an absolute path: sinks are confined to the configuration's directory",
    ] {
        assert!(
            validated.stderr.contains(text),
            "{text}:\n{}",
            validated.stderr
        );
    }
}

/// Regression: a sink at the receipt's path had the receipt renamed over the
/// secret, and apply said "Apply complete". Apply refuses before any change.
#[test]
fn a_sink_at_the_receipt_path_is_refused_before_any_change() {
    let ws = one_key("{file: p.plan.receipt.json}");
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let refused = apply(&ws, "p.plan");
    refused_with(
        &refused,
        "nhi::apply::sink",
        "`p.plan.receipt.json` is the receipt",
    );
    assert!(
        !ws.path().join("estate.json").exists(),
        "nothing was created"
    );
    // And the plan file itself at plan time.
    let ws = one_key("{file: p.plan}");
    refused_with(
        &run(&ws, &["plan", "-o", "p.plan"]),
        "nhi::plan::sink",
        "`p.plan` is the plan file",
    );
    // And the estate.
    let ws = one_key("{file: estate.json}");
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[]}\n",
    );
    refused_with(
        &run(&ws, &["plan"]),
        "nhi::plan::sink",
        "`estate.json` is the file of scope `demo`",
    );
}

/// Regression: `plan --config sub/nhi.yaml -o c.plan` then `apply c.plan` created
/// a new `./estate.json` and wrote the secret to `./secrets/`: apply resolved
/// paths against the working directory. Both resolve against the plan's
/// configuration directory.
#[test]
fn apply_resolves_paths_where_the_plan_was_made_from_any_directory() {
    let ws = Workspace::empty();
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", OPEN_TRUST);
    ws.write(
        "sub/nhi.yaml",
        &ONE_KEY.replace("SINK", "{file: secrets/ci.key}"),
    );
    ok(&run(
        &ws,
        &["plan", "--config", "sub/nhi.yaml", "-o", "c.plan"],
    ));
    ok(&apply(&ws, "c.plan"));
    assert!(ws.path().join("sub/estate.json").exists());
    assert!(ws.path().join("sub/secrets/ci.key").exists());
    assert!(!ws.path().join("estate.json").exists());
    assert!(!ws.path().join("secrets").exists());
    let plan: serde_json::Value = serde_json::from_str(&ws.read("c.plan")).unwrap();
    let body: serde_json::Value = serde_json::from_str(plan["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["config"]["dir"],
        std::fs::canonicalize(ws.path().join("sub"))
            .unwrap()
            .display()
            .to_string()
    );
}

/// A SIGTERM stops apply between two changes: the receipt says `interrupted`
/// and lists what ran, and re-planning shows exactly what remains.
#[test]
fn sigterm_stops_apply_between_changes_with_an_interrupted_receipt() {
    let ws = one_key("stdout");
    let config = ws.read("nhi.yaml")
        + "  - name: zz\n    provider: demo\n    owner: a@example.com\n    bindings:\n      - role: reader\n";
    ws.write("nhi.yaml", &config);
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let (mut child, mut reader) = apply_blocked_on_stdout(&ws, "p.plan");
    wait_for("the key to be minted", || key_minted(&ws));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut drained = Vec::new();
    reader.read_to_end(&mut drained).unwrap();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(1));
    let receipt: serde_json::Value = serde_json::from_str(&ws.read("p.plan.receipt.json")).unwrap();
    let body: serde_json::Value = serde_json::from_str(receipt["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["outcome"], "interrupted");
    let statuses: Vec<&str> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"completed") && statuses.contains(&"not_attempted"),
        "{statuses:?}"
    );
    assert!(
        !ws.path().join("p.plan.receipt.json.journal").exists(),
        "the receipt supersedes the journal"
    );
    let replanned = run(&ws, &["plan"]);
    ok(&replanned);
    let remaining = statuses.iter().filter(|s| **s == "not_attempted").count();
    assert!(
        replanned
            .stdout
            .contains(&format!("Plan: {remaining} to create, 0 to update")),
        "{remaining} remain:\n{}",
        replanned.stdout
    );
}

/// A sink that holds the secret of a key that lives on, of any identity, is
/// never overwritten: plan refuses before anyone approves.
#[test]
fn a_sink_holding_another_live_keys_secret_is_refused_at_plan() {
    let ws = one_key("{file: secrets/shared.key}");
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    ok(&apply(&ws, "p.plan"));
    let id = keys(&ws)[0]["id"].as_str().unwrap().to_owned();
    // `ci` moves to another file; a new identity is given the old one.
    let config = ws
        .read("nhi.yaml")
        .replace("secrets/shared.key", "secrets/ci.key")
        + "  - name: cd\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: primary\n        sink: {file: secrets/shared.key}\n";
    ws.write("nhi.yaml", &config);
    let planned = run(&ws, &["plan", "-o", "q.plan"]);
    refused_with(
        &planned,
        "nhi::plan::sink",
        &format!("`secrets/shared.key` holds the secret of key `{id}`, which lives on"),
    );
}

/// SIGKILL at moments spread over an apply of many minting changes: whatever
/// the moment, re-planning and applying converge, and then every live key is
/// named, its secret is in its sink, and no temporary file is left.
#[test]
fn apply_killed_at_any_moment_converges_with_every_secret_delivered() {
    const N: usize = 30;
    let mut config = ONE_KEY.replace(
        "rotate_after: 30d\n        sink: SINK\n",
        "sink: {file: secrets/ci.key}\n",
    );
    for i in 0..N {
        config.push_str(&format!(
            "  - name: id-{i:02}\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: primary\n        sink: {{file: secrets/id-{i:02}.key}}\n    bindings:\n      - role: reader\n"
        ));
    }
    for delay_ms in [5, 40, 80, 120, 200, 320] {
        let ws = one_key("stdout");
        ws.write("nhi.yaml", &config);
        ok(&run(&ws, &["plan", "-o", "p.plan"]));
        let mut child = ws
            .command()
            .env("NHI_NOW", crate::team::now())
            .args(["apply", "p.plan", "--trust", "trust.yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let mut rounds = 0;
        loop {
            let planned = run(&ws, &["plan", "-o", "next.plan", "--detailed-exitcode"]);
            if planned.code == 0 {
                break;
            }
            assert_eq!(
                planned.code, 2,
                "after a kill at {delay_ms} ms:\n{}",
                planned.stderr
            );
            rounds += 1;
            assert!(
                rounds <= 2,
                "no convergence after a kill at {delay_ms} ms:\n{}",
                planned.stdout
            );
            let applied = apply(&ws, "next.plan");
            ok(&applied);
            std::fs::remove_file(ws.path().join("next.plan")).unwrap();
        }
        let identities = estate(&ws)["identities"].as_array().unwrap().clone();
        assert_eq!(identities.len(), N + 1, "after a kill at {delay_ms} ms");
        for identity in &identities {
            let name = identity["name"].as_str().unwrap();
            let keys = identity["keys"].as_array().unwrap();
            assert_eq!(
                keys.len(),
                1,
                "{name} after a kill at {delay_ms} ms: {keys:?}"
            );
            assert_eq!(keys[0]["name"], "primary", "{name}");
            let sink = if name == "ci" {
                "secrets/ci.key".to_owned()
            } else {
                format!("secrets/{name}.key")
            };
            let held: serde_json::Value = serde_json::from_str(&ws.read(&sink)).unwrap();
            assert_eq!(
                held["key_id"], keys[0]["id"],
                "{name}: the sink holds the live key's secret"
            );
        }
        let leftovers: Vec<String> = std::fs::read_dir(ws.path().join("secrets"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(
            leftovers.is_empty(),
            "after a kill at {delay_ms} ms: {leftovers:?}"
        );
    }
}
