//! Sign → approve → apply on the local provider: what an approved plan changes,
//! what a failing change leaves behind and what its receipt says, and key material
//! on standard output.

use crate::harness::Workspace;
use crate::team::{OPEN_TRUST, approved_plan, ok, run, team};

#[test]
fn approved_plan_applies_exactly_and_replanning_finds_nothing() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let verified = run(&ws, &["verify", "q.plan", "--trust", "trust.yaml"]);
    ok(&verified);
    assert!(
        verified.stdout.contains("author:   `alice@example.com`"),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains("approved: `bob@example.com`"),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains("\"diff reviewed\""),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains("approvals: 2 of 2 required"),
        "{}",
        verified.stdout
    );

    let applied = run(
        &ws,
        &[
            "apply",
            "q.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(applied.code, 2, "{}", applied.stderr);
    assert!(
        applied
            .stderr
            .contains("Apply complete: 12 changes applied"),
        "{}",
        applied.stderr
    );

    // The exact state after apply.
    let estate: serde_json::Value = serde_json::from_str(&ws.read("estate.json")).unwrap();
    let identities = estate["identities"].as_array().unwrap();
    let names: Vec<&str> = identities
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "backup-runner",
            "ci-deployer",
            "legacy-bot",
            "metrics-exporter",
            "web-api"
        ]
    );
    let ci = &identities[1];
    let roles: Vec<&str> = ci["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["artifact-upload", "deployer"]);
    assert_eq!(
        ci["bindings"][0]["policy"]["Statement"][0]["Action"],
        serde_json::json!(["s3:PutObject"])
    );
    let keys = ci["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_ne!(
        keys[0]["id"], "LK3H8D2K5N7B1C4F6G9J",
        "the old key was rotated out"
    );
    let web = &identities[4];
    assert_eq!(web["keys"].as_array().unwrap().len(), 1);
    assert_eq!(web["bindings"].as_array().unwrap().len(), 2);

    // Secrets went to their sinks (0600) and nowhere else.
    for sink in [
        "secrets/ci-deployer-primary.key",
        "secrets/web-api-primary.key",
    ] {
        let path = ws.path().join(sink);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600,
                "{sink}"
            );
        }
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let secret = doc["secret"].as_str().unwrap();
        assert!(secret.len() > 20);
        for (what, text) in [
            ("plan", ws.read("q.plan")),
            ("receipt", ws.read("q.plan.receipt.json")),
            ("estate", ws.read("estate.json")),
            ("stdout", applied.stdout.clone()),
            ("stderr", applied.stderr.clone()),
        ] {
            assert!(!text.contains(secret), "the secret leaked into the {what}");
        }
    }

    // The receipt verifies and names the plan.
    let receipt = run(
        &ws,
        &[
            "verify",
            "q.plan.receipt.json",
            "--trust",
            "trust.yaml",
            "--plan",
            "q.plan",
        ],
    );
    ok(&receipt);
    assert!(
        receipt.stdout.contains("signed by `carol@example.com`"),
        "{}",
        receipt.stdout
    );
    assert!(
        receipt
            .stdout
            .contains("the receipt belongs to the given plan"),
        "{}",
        receipt.stdout
    );

    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(
        again.stdout.contains(
            "No changes to apply. 1 unmanaged identity in scope is reported, not deleted (`prune` is off)."
        ),
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("matches"), "{}", again.stdout);
}

fn partial_config(third_key: bool) -> String {
    let mut yaml = String::from(
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings:\n      state: estate.json\nidentities:\n  - name: x\n    provider: demo\n    owner: a@example.com\n    keys:\n",
    );
    let keys: &[&str] = if third_key {
        &["a", "b", "c"]
    } else {
        &["a", "b"]
    };
    for k in keys {
        yaml.push_str(&format!(
            "      - name: {k}\n        sink: {{file: secrets/x-{k}.key}}\n"
        ));
    }
    yaml.push_str("  - name: y\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: a\n        sink: {file: secrets/y-a.key}\n");
    yaml
}

#[test]
fn a_failing_change_stops_apply_and_the_receipt_says_what_ran() {
    let ws = Workspace::empty();
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", OPEN_TRUST);
    // The local provider, like AWS, allows two keys per identity: the third fails.
    ws.write("nhi.yaml", &partial_config(true));
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let failed = run(&ws, &["apply", "p.plan", "--trust", "trust.yaml"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("nhi::apply::change_failed"),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("change 5 of 6 (`local.demo/identity/x/key/c`) failed"),
        "{}",
        failed.stderr
    );
    let receipt: serde_json::Value = serde_json::from_str(&ws.read("p.plan.receipt.json")).unwrap();
    let body: serde_json::Value = serde_json::from_str(receipt["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["outcome"], "failed");
    let statuses: Vec<(&str, &str)> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("local.demo/identity/x", "completed"),
            ("local.demo/identity/y", "completed"),
            ("local.demo/identity/x/key/a", "completed"),
            ("local.demo/identity/x/key/b", "completed"),
            ("local.demo/identity/x/key/c", "failed"),
            ("local.demo/identity/y/key/a", "not_attempted"),
        ]
    );
    assert!(
        body["changes"][4]["error"]
            .as_str()
            .unwrap()
            .contains("already has 2 keys"),
        "{body}"
    );
    assert!(ws.path().join("secrets/x-b.key").exists());
    assert!(!ws.path().join("secrets/y-a.key").exists());

    // Re-planning shows exactly what remains, and applying it converges.
    ws.write("nhi.yaml", &partial_config(false));
    let replan = run(&ws, &["plan", "-o", "q.plan"]);
    ok(&replan);
    assert!(
        replan
            .stdout
            .contains("Plan: 1 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{}",
        replan.stdout
    );
    assert!(
        replan
            .stdout
            .contains("# local.demo/identity/y/key/a will be created"),
        "{}",
        replan.stdout
    );
    ok(&run(&ws, &["apply", "q.plan", "--trust", "trust.yaml"]));
    let last = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(last.code, 0, "{}", last.stdout);

    // The failed attempt's receipt is evidence: a later apply never overwrites it.
    let first = ws.read("p.plan.receipt.json");
    std::fs::copy(
        ws.path().join("q.plan.receipt.json"),
        ws.path().join("p.plan.receipt-2.json"),
    )
    .unwrap();
    ws.write("nhi.yaml", &partial_config(true));
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let again = run(&ws, &["apply", "p.plan", "--trust", "trust.yaml"]);
    assert_eq!(again.code, 1);
    assert_eq!(ws.read("p.plan.receipt.json"), first);
    assert!(
        ws.path().join("p.plan.receipt-3.json").exists(),
        "the next free name"
    );
    let named = run(
        &ws,
        &[
            "apply",
            "p.plan",
            "--trust",
            "trust.yaml",
            "--receipt",
            "p.plan.receipt.json",
        ],
    );
    assert!(
        named.stderr.contains("nhi::apply::receipt_exists"),
        "{}",
        named.stderr
    );
}

#[test]
fn stdout_sink_needs_the_flag_and_warns() {
    let ws = Workspace::empty();
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", OPEN_TRUST);
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: x\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: k\n        sink: stdout\n",
    );
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let refused = run(&ws, &["apply", "p.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("nhi::apply::stdout_sink"),
        "{}",
        refused.stderr
    );
    assert!(
        !ws.path().join("estate.json").exists(),
        "nothing was created"
    );
    let applied = run(
        &ws,
        &[
            "apply",
            "p.plan",
            "--trust",
            "trust.yaml",
            "--allow-secrets-on-stdout",
        ],
    );
    ok(&applied);
    assert!(
        applied.stderr.contains(
            "warning: writing key material for `local.demo/identity/x/key/k` to standard output"
        ),
        "{}",
        applied.stderr
    );
    let doc: serde_json::Value = serde_json::from_str(applied.stdout.trim()).unwrap();
    let secret = doc["secret"].as_str().unwrap();
    assert!(!ws.read("p.plan.receipt.json").contains(secret));
    assert!(!ws.read("estate.json").contains(secret));
}

/// Regression: a pipeline's apply log was one line, and `-v` added nothing. Off a
/// terminal each change gets a line as it completes (address, action, result,
/// duration); `-v` adds the time of each phase, as `plan -v` does.
#[test]
fn a_pipeline_log_has_a_line_per_change_and_verbose_phase_timings() {
    let ws = Workspace::empty();
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", OPEN_TRUST);
    ws.write("nhi.yaml", &partial_config(true));
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let failed = run(&ws, &["-v", "apply", "p.plan", "--trust", "trust.yaml"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    // `… in 0.004 s`: the duration, checked and then dropped.
    let seconds = |line: &str| {
        let (head, took) = line.rsplit_once(" in ").unwrap();
        let took = took.strip_suffix(" s").unwrap();
        assert!(took.parse::<f64>().is_ok() && took.len() >= 5, "{line}");
        head.to_owned()
    };
    let changes: Vec<String> = failed
        .stderr
        .lines()
        .filter(|l| l.starts_with('['))
        .map(seconds)
        .collect();
    assert_eq!(
        changes,
        [
            "[1/6] create local.demo/identity/x: done",
            "[2/6] create local.demo/identity/y: done",
            "[3/6] create local.demo/identity/x/key/a: done",
            "[4/6] create local.demo/identity/x/key/b: done",
            "[5/6] create local.demo/identity/x/key/c: failed",
        ],
        "{}",
        failed.stderr
    );
    let timings = failed
        .stderr
        .lines()
        .find(|l| l.starts_with("apply took "))
        .unwrap_or_else(|| panic!("{}", failed.stderr));
    let phases: Vec<&str> = timings
        .split_once(" (")
        .unwrap()
        .1
        .trim_end_matches(')')
        .split(", ")
        .map(|p| p.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "verify", "connect", "lock", "read", "judge", "apply", "receipt"
        ]
    );
    // Without `-v`, the change lines and no timings.
    ws.write("nhi.yaml", &partial_config(false));
    ok(&run(&ws, &["plan", "-o", "q.plan"]));
    let applied = run(&ws, &["apply", "q.plan", "--trust", "trust.yaml"]);
    ok(&applied);
    assert!(!applied.stderr.contains("apply took"), "{}", applied.stderr);
    let lines: Vec<String> = applied
        .stderr
        .lines()
        .filter(|l| l.starts_with('['))
        .map(seconds)
        .collect();
    assert_eq!(lines, ["[1/1] create local.demo/identity/y/key/a: done"]);
}
