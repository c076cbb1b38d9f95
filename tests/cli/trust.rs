//! Sign → approve → verify → apply on the local provider, and every way apply must
//! refuse. Every refusal leaves the live estate byte-identical.

use std::process::Command;

use crate::harness::{Run, Workspace};

const TRUST: &str = "allowed_signers: allowed_signers\napprovals:\n  required: 1\nrules:\n  - when: destructive\n    required: 2\n";

/// The quickstart with keys for alice (author), bob and carol (reviewers) in the
/// allowed signers, and mallory, who is not.
pub(crate) fn team() -> Workspace {
    let ws = Workspace::example("quickstart");
    let mut signers = String::new();
    for user in ["alice", "bob", "carol", "mallory"] {
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                &format!("{user}@example.com"),
                "-f",
            ])
            .arg(ws.path().join(format!("{user}.key")))
            .status()
            .expect("ssh-keygen is installed (.ci/run installs openssh-client)");
        assert!(status.success());
        if user != "mallory" {
            let public = ws.read(&format!("{user}.key.pub"));
            let mut fields = public.split_whitespace();
            signers.push_str(&format!(
                "{user}@example.com {} {}\n",
                fields.next().unwrap(),
                fields.next().unwrap()
            ));
        }
    }
    ws.write("allowed_signers", &signers);
    ws.write("trust.yaml", TRUST);
    ws
}

pub(crate) fn now() -> String {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .unwrap()
        .to_string()
}

/// Runs with the real clock for planning, as apply always uses it.
pub(crate) fn run(ws: &Workspace, args: &[&str]) -> Run {
    ws.run_env(args, &[("NHI_NOW", &now())])
}

fn ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// A plan signed by alice and approved by bob and carol: what apply accepts.
pub(crate) fn approved_plan(ws: &Workspace, name: &str) {
    ok(&run(ws, &["plan", "-o", name, "--sign-key", "alice.key"]));
    ok(&run(
        ws,
        &[
            "approve",
            name,
            "--key",
            "bob.key",
            "--yes",
            "--comment",
            "diff reviewed",
        ],
    ));
    ok(&run(ws, &["approve", name, "--key", "carol.key", "--yes"]));
}

fn apply(ws: &Workspace, plan: &str) -> Run {
    run(ws, &["apply", plan, "--trust", "trust.yaml"])
}

/// Asserts apply refuses with `code` and changes nothing.
fn refuses(ws: &Workspace, plan: &str, code: &str) -> Run {
    let before = ws.bytes("estate.json");
    let result = apply(ws, plan);
    assert_eq!(
        result.code, 1,
        "apply must refuse with `{code}`:\n{}",
        result.stderr
    );
    assert!(
        result.stderr.contains(code),
        "expected `{code}` in:\n{}",
        result.stderr
    );
    assert_eq!(
        ws.bytes("estate.json"),
        before,
        "a refused apply changed the estate"
    );
    assert!(
        !ws.path().join("secrets").exists(),
        "a refused apply delivered key material"
    );
    result
}

fn edit_plan(ws: &Workspace, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_str(&ws.read(name)).unwrap();
    edit(&mut value);
    ws.write(name, &serde_json::to_string_pretty(&value).unwrap());
}

/// Replaces the first `from` in the body by `to` and records the new digest, as an
/// attacker rewriting a plan consistently would.
fn rewrite_body(ws: &Workspace, name: &str, from: &str, to: &str) {
    edit_plan(ws, name, |v| {
        let old = v["body"].as_str().unwrap().to_owned();
        let body = old.replacen(from, to, 1);
        assert_ne!(body, old, "`{from}` must be in the body");
        v["body_digest"] = sha256(&body).into();
        v["body"] = body.into();
    });
}

/// Signs an approval statement with stock `ssh-keygen -Y sign`, claiming
/// `signed_at`, and appends it to the plan: what a reviewer without nhi, or an
/// attacker with a key, can do.
fn approve_with_ssh_keygen(ws: &Workspace, plan: &str, user: &str, signed_at: &str) {
    let value: serde_json::Value = serde_json::from_str(&ws.read(plan)).unwrap();
    let digest = value["body_digest"].as_str().unwrap();
    let statement = format!(
        "nhi-signature-v1\nrole: approver\nprincipal: {user}@example.com\ndigest: {digest}\nsigned-at: {signed_at}\n"
    );
    ws.write("stmt.txt", &statement);
    let _ = std::fs::remove_file(ws.path().join("stmt.txt.sig"));
    let status = Command::new("ssh-keygen")
        .current_dir(ws.path())
        .args([
            "-q",
            "-Y",
            "sign",
            "-f",
            &format!("{user}.key"),
            "-n",
            "nhi-plan",
            "stmt.txt",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let signature = ws.read("stmt.txt.sig");
    edit_plan(ws, plan, |v| {
        v["signatures"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"statement": statement, "signature": signature}));
    });
}

fn sha256(text: &str) -> String {
    nhi_provider_sdk::Digest::of(text.as_bytes()).to_string()
}

#[test]
fn approved_plan_applies_exactly_and_replanning_finds_nothing() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let verified = run(&ws, &["verify", "q.plan", "--trust", "trust.yaml"]);
    ok(&verified);
    assert!(
        verified.stderr.contains("author:   `alice@example.com`"),
        "{}",
        verified.stderr
    );
    assert!(
        verified.stderr.contains("approved: `bob@example.com`"),
        "{}",
        verified.stderr
    );
    assert!(
        verified.stderr.contains("\"diff reviewed\""),
        "{}",
        verified.stderr
    );
    assert!(
        verified.stderr.contains("approvals: 2 of 2 required"),
        "{}",
        verified.stderr
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
        receipt.stderr.contains("signed by `carol@example.com`"),
        "{}",
        receipt.stderr
    );
    assert!(
        receipt
            .stderr
            .contains("the receipt belongs to the given plan"),
        "{}",
        receipt.stderr
    );

    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
}

#[test]
fn every_tampering_is_refused_and_changes_nothing() {
    let ws = team();
    approved_plan(&ws, "good.plan");
    type Tamper = fn(&Workspace);
    let cases: &[(&str, Tamper, &str)] = &[
        (
            "one byte of the body",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    let body = v["body"].as_str().unwrap().replacen(
                        "web-team@example.com",
                        "web-tean@example.com",
                        1,
                    );
                    v["body"] = body.into();
                })
            },
            "nhi::plan::digest_mismatch",
        ),
        (
            "body and digest rewritten together",
            |ws| rewrite_body(ws, "t.plan", "web-team@example.com", "web-tean@example.com"),
            "nhi::trust::wrong_plan",
        ),
        (
            "author signature relabelled as an approval",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    let statement = v["signatures"][0]["statement"]
                        .as_str()
                        .unwrap()
                        .replace("role: author", "role: approver");
                    v["signatures"][0]["statement"] = statement.into();
                })
            },
            "nhi::trust::bad_signature",
        ),
        (
            "signatures dropped",
            |ws| edit_plan(ws, "t.plan", |v| v["signatures"] = serde_json::json!([])),
            "nhi::trust::unsigned",
        ),
        (
            "approvals dropped",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    v["signatures"].as_array_mut().unwrap().truncate(1);
                })
            },
            "nhi::trust::insufficient_approvals",
        ),
        (
            "unknown format version",
            |ws| edit_plan(ws, "t.plan", |v| v["nhi_plan"] = 2.into()),
            "nhi::plan::unsupported_format",
        ),
        (
            "a delete aimed at another key than the one checked",
            |ws| {
                rewrite_body(ws, "t.plan", "LK7Q2M4XJ9P3R8T6V1WZ", "LK9W4E6R2T8Y1U3I5O7P");
            },
            "nhi::plan::inconsistent",
        ),
        (
            "settings pointing elsewhere than the scope reviewers read",
            |ws| {
                rewrite_body(
                    ws,
                    "t.plan",
                    "\"state\":\"estate.json\"",
                    "\"state\":\"other.json\"",
                );
            },
            "nhi::trust::wrong_plan",
        ),
        (
            "risk understated",
            |ws| rewrite_body(ws, "t.plan", "\"risk\":\"destructive\"", "\"risk\":\"low\""),
            "nhi::plan::inconsistent",
        ),
    ];
    for (name, tamper, code) in cases {
        std::fs::copy(ws.path().join("good.plan"), ws.path().join("t.plan")).unwrap();
        tamper(&ws);
        let good: serde_json::Value = serde_json::from_str(&ws.read("good.plan")).unwrap();
        let bad: serde_json::Value = serde_json::from_str(&ws.read("t.plan")).unwrap();
        assert_ne!(good, bad, "case `{name}` must tamper with the plan");
        let refused = refuses(&ws, "t.plan", code);
        assert!(!refused.stderr.is_empty(), "{name}");
    }
}

#[test]
fn signatures_cannot_move_between_plans() {
    let ws = team();
    approved_plan(&ws, "a.plan");
    // A second plan, for a different estate state, approved by nobody.
    let estate = ws
        .read("estate.json")
        .replace("Nightly database backups", "Nightly backups");
    ws.write("estate.json", &estate);
    ok(&run(
        &ws,
        &["plan", "-o", "b.plan", "--sign-key", "alice.key"],
    ));
    let approvals: serde_json::Value = serde_json::from_str(&ws.read("a.plan")).unwrap();
    edit_plan(&ws, "b.plan", |v| {
        let list = v["signatures"].as_array_mut().unwrap();
        list.push(approvals["signatures"][1].clone());
        list.push(approvals["signatures"][2].clone());
    });
    let refused = refuses(&ws, "b.plan", "nhi::trust::wrong_plan");
    assert!(
        refused.stderr.contains("was made for another plan"),
        "{}",
        refused.stderr
    );
}

#[test]
fn approvals_that_do_not_count() {
    let ws = team();
    // An approval by a key that is not in allowed_signers.
    ok(&run(
        &ws,
        &["plan", "-o", "m.plan", "--sign-key", "alice.key"],
    ));
    ok(&run(
        &ws,
        &["approve", "m.plan", "--key", "mallory.key", "--yes"],
    ));
    let refused = refuses(&ws, "m.plan", "nhi::trust::unknown_signer");
    assert!(
        refused.stderr.contains("mallory@example.com"),
        "{}",
        refused.stderr
    );
    // Mallory claiming to be bob.
    ok(&run(
        &ws,
        &["plan", "-o", "m2.plan", "--sign-key", "alice.key"],
    ));
    ok(&run(
        &ws,
        &[
            "approve",
            "m2.plan",
            "--key",
            "mallory.key",
            "--principal",
            "bob@example.com",
            "--yes",
        ],
    ));
    refuses(&ws, "m2.plan", "nhi::trust::unknown_signer");
    // Self-approval, and the same reviewer twice.
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
    ok(&run(
        &ws,
        &["approve", "s.plan", "--key", "alice.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "s.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "s.plan", "--key", "bob.key", "--yes"],
    ));
    let refused = refuses(&ws, "s.plan", "nhi::trust::insufficient_approvals");
    assert!(
        refused.stderr.contains("(1 counted, 2 required)"),
        "{}",
        refused.stderr
    );
    let verified = run(&ws, &["verify", "s.plan", "--trust", "trust.yaml"]);
    assert_eq!(verified.code, 1);
    assert!(
        verified
            .stderr
            .contains("the author cannot approve their own plan"),
        "{}",
        verified.stderr
    );
    assert!(
        verified.stderr.contains("this principal already approved"),
        "{}",
        verified.stderr
    );
    assert!(
        verified
            .stderr
            .contains("missing:  destructive changes require 2 distinct approvers"),
        "{}",
        verified.stderr
    );
}

#[test]
fn expired_plans_are_refused() {
    let ws = team();
    let old = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(25))
        .unwrap();
    let old = jiff::Timestamp::from_second(old.as_second())
        .unwrap()
        .to_string();
    let env = [("NHI_NOW", old.as_str())];
    assert_eq!(
        ws.run_env(&["plan", "-o", "old.plan", "--sign-key", "alice.key"], &env)
            .code,
        0
    );
    ok(&run(
        &ws,
        &["approve", "old.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "old.plan", "--key", "carol.key", "--yes"],
    ));
    refuses(&ws, "old.plan", "nhi::plan::expired");
    // The policy's max age binds even when the plan claims a long validity.
    assert_eq!(
        ws.run_env(
            &[
                "plan",
                "-o",
                "long.plan",
                "--valid-for",
                "30d",
                "--sign-key",
                "alice.key"
            ],
            &env
        )
        .code,
        0
    );
    ok(&run(
        &ws,
        &["approve", "long.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "long.plan", "--key", "carol.key", "--yes"],
    ));
    ok(&apply_dry(&ws, "long.plan"));
    ws.write("trust.yaml", &format!("{TRUST}max_plan_age: 12h\n"));
    refuses(&ws, "long.plan", "nhi::plan::expired");
}

/// `nhi verify` passing is what apply's offline checks would accept.
fn apply_dry(ws: &Workspace, plan: &str) -> Run {
    run(ws, &["verify", plan, "--trust", "trust.yaml"])
}

#[test]
fn live_changes_between_plan_and_apply_make_the_plan_stale() {
    type Drift = fn(&str) -> String;
    let cases: &[(&str, Drift, &str)] = &[
        (
            "touched identity changed",
            |e| {
                e.replace(
                    "\"owner\":\"platform-team@example.com\"",
                    "\"owner\":\"mallory@example.com\"",
                )
            },
            "`local.demo/identity/ci-deployer` changed",
        ),
        (
            "touched key deleted",
            |e| {
                e.replace(
            "{\"id\":\"LK3H8D2K5N7B1C4F6G9J\",\"name\":\"primary\",\"created\":\"2025-03-14T09:26:53Z\",\"status\":\"active\",\"last_used\":\"2026-11-20T18:02:11Z\"}", "")
            },
            "`local.demo/identity/ci-deployer/key/primary` was deleted",
        ),
        (
            "object the plan creates now exists",
            |e| {
                e.replacen("{\"name\":\"backup-runner\"",
            "{\"name\":\"web-api\",\"kind\":\"service_account\",\"owner\":\"x@example.com\",\"description\":\"\",\"tags\":{},\"keys\":[],\"bindings\":[]},\n{\"name\":\"backup-runner\"", 1)
            },
            "`local.demo/identity/web-api` now exists",
        ),
    ];
    for (name, drift, message) in cases {
        let ws = team();
        approved_plan(&ws, "q.plan");
        let changed = drift(&ws.read("estate.json"));
        assert_ne!(
            changed,
            ws.read("estate.json"),
            "{name}: the drift must change the estate"
        );
        ws.write("estate.json", &changed);
        let refused = refuses(&ws, "q.plan", "nhi::plan::stale");
        assert!(
            refused.stderr.contains(message),
            "{name}:\n{}",
            refused.stderr
        );
    }
    // Using a key (its last use moves) does not make a plan stale.
    let ws = team();
    approved_plan(&ws, "q.plan");
    ws.write(
        "estate.json",
        &ws.read("estate.json")
            .replace("2026-11-20T18:02:11Z", "2026-11-21T18:02:11Z"),
    );
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn a_plan_applies_once() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    ok(&apply(&ws, "q.plan"));
    std::fs::rename(ws.path().join("secrets"), ws.path().join("secrets.1")).unwrap();
    refuses(&ws, "q.plan", "nhi::plan::stale");
}

#[test]
fn configuration_and_sinks_are_checked_before_anything_changes() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let config = ws.read("nhi.yaml");
    ws.write(
        "nhi.yaml",
        &config.replace("Serves the public API", "Serves the API"),
    );
    refuses(&ws, "q.plan", "nhi::apply::config_changed");
    ws.write("nhi.yaml", &config);
    ws.write("secrets/web-api-primary.key", "an older key\n");
    let before = ws.bytes("estate.json");
    let refused = apply(&ws, "q.plan");
    assert!(
        refused.stderr.contains("nhi::apply::sink_exists"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), before);
    assert_eq!(
        ws.read("secrets/web-api-primary.key"),
        "an older key\n",
        "never overwritten"
    );
}

#[test]
fn a_held_lock_refuses_at_once_naming_the_holder() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(ws.path().join("estate.json.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        ws.path().join("estate.json.lock"),
        "dave@example.com (pid 4242)",
    )
    .unwrap();
    let refused = refuses(&ws, "q.plan", "nhi::apply::locked");
    assert!(
        refused.stderr.contains("dave@example.com"),
        "{}",
        refused.stderr
    );
    lock.unlock().unwrap();
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn trust_policy_rules() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    // A rule that needs a particular approver.
    ws.write(
        "trust.yaml",
        &format!(
            "{TRUST}  - when: privilege_increasing\n    require_one_of: [security@example.com]\n"
        ),
    );
    let refused = refuses(&ws, "q.plan", "nhi::trust::insufficient_approvals");
    assert!(
        refused.stderr.contains(
            "privilege-increasing changes need an approval from one of security@example.com"
        ),
        "{}",
        refused.stderr
    );
    // Letting the author count lowers the bar only when the applier's policy says so.
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
    ok(&run(
        &ws,
        &["approve", "s.plan", "--key", "alice.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "s.plan", "--key", "bob.key", "--yes"],
    ));
    ws.write("trust.yaml", TRUST);
    refuses(&ws, "s.plan", "nhi::trust::insufficient_approvals");
    ws.write(
        "trust.yaml",
        &TRUST.replace("  required: 1\n", "  required: 1\n  author_counts: true\n"),
    );
    ok(&apply_dry(&ws, "s.plan"));
    // Unknown fields in the policy are errors, not ignored.
    ws.write("trust.yaml", &format!("{TRUST}approvers_optional: true\n"));
    let run = apply(&ws, "s.plan");
    assert!(run.stderr.contains("nhi::trust::policy"), "{}", run.stderr);
}

#[test]
fn signatures_interoperate_with_ssh_keygen_both_ways() {
    let ws = team();
    ok(&run(
        &ws,
        &["plan", "-o", "q.plan", "--sign-key", "alice.key"],
    ));
    // ssh-keygen signs an approval statement; nhi accepts it.
    approve_with_ssh_keygen(&ws, "q.plan", "bob", &now());
    let verified = run(&ws, &["verify", "q.plan", "--trust", "trust.yaml"]);
    assert!(
        verified.stderr.contains("approved: `bob@example.com`"),
        "{}",
        verified.stderr
    );
}

/// The README's "Verify a plan without nhi" script, run with stock tools.
#[test]
fn readme_verification_walkthrough_runs_with_stock_tools() {
    let readme = std::fs::read_to_string(crate::harness::repo().join("README.md")).unwrap();
    let section = readme
        .split("## Verify a plan without nhi")
        .nth(1)
        .expect("README has the section");
    let script = section
        .split("```bash\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a bash block");
    let ws = team();
    approved_plan(&ws, "plan.json");
    let verify = |ws: &Workspace| {
        Command::new("bash")
            .current_dir(ws.path())
            .args(["-euo", "pipefail", "-c", script])
            .env("PLAN", "plan.json")
            .env("ALLOWED_SIGNERS", "allowed_signers")
            .output()
            .unwrap()
    };
    let good = verify(&ws);
    assert!(
        good.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    let out = String::from_utf8_lossy(&good.stdout);
    assert_eq!(
        out.matches("Good \"nhi-plan\" signature").count()
            + String::from_utf8_lossy(&good.stderr)
                .matches("Good \"nhi-plan\" signature")
                .count(),
        3,
        "{out}"
    );

    // A consistently tampered body fails the digest comparison.
    std::fs::copy(
        ws.path().join("plan.json"),
        ws.path().join("plan.json.orig"),
    )
    .unwrap();
    edit_plan(&ws, "plan.json", |v| {
        let body =
            v["body"]
                .as_str()
                .unwrap()
                .replacen("web-team@example.com", "web-tean@example.com", 1);
        v["body_digest"] = sha256(&body).into();
        v["body"] = body.into();
    });
    assert_ne!(
        ws.read("plan.json"),
        ws.read("plan.json.orig"),
        "the tamper changed the plan"
    );
    assert!(!verify(&ws).status.success(), "a tampered body must fail");
    // A tampered statement fails ssh-keygen.
    approved_plan(&ws, "plan.json");
    edit_plan(&ws, "plan.json", |v| {
        let s = v["signatures"][1]["statement"]
            .as_str()
            .unwrap()
            .replace("diff reviewed", "diff unreviewed");
        v["signatures"][1]["statement"] = s.into();
    });
    assert!(
        !verify(&ws).status.success(),
        "a tampered statement must fail"
    );
}

const OPEN_TRUST: &str = "allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n";

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

/// A running ssh-agent on a private socket, killed on drop.
struct Agent {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent(ws: &Workspace) -> Agent {
    let socket = ws.path().join("agent.sock");
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Agent { child, socket }
}

#[test]
fn signing_through_ssh_agent_with_a_public_key() {
    let ws = team();
    let agent = agent(&ws);
    let sock = agent.socket.to_str().unwrap().to_owned();
    let added = Command::new("ssh-add")
        .arg(ws.path().join("bob.key"))
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // Only the public half is on disk for this signer.
    std::fs::remove_file(ws.path().join("bob.key")).unwrap();
    ok(&run(
        &ws,
        &["plan", "-o", "q.plan", "--sign-key", "alice.key"],
    ));
    let approved = ws.run_env(
        &["approve", "q.plan", "--key", "bob.key.pub", "--yes"],
        &[("SSH_AUTH_SOCK", &sock)],
    );
    ok(&approved);
    assert!(
        approved.stderr.contains("as `bob@example.com`"),
        "{}",
        approved.stderr
    );
    let verified = run(&ws, &["verify", "q.plan", "--trust", "trust.yaml"]);
    assert!(
        verified.stderr.contains("approved: `bob@example.com`"),
        "{}",
        verified.stderr
    );
    // Without an agent, a public key cannot sign.
    let refused = run(
        &ws,
        &["approve", "q.plan", "--key", "carol.key.pub", "--yes"],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("nhi::trust::agent"),
        "{}",
        refused.stderr
    );
}

#[test]
fn quickstart_walkthrough_script_runs() {
    let script = crate::harness::repo().join("examples/quickstart/walkthrough.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_nhi"))
        .env_remove("NHI_NOW")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("Apply complete: 12 changes applied"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes."));
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

#[test]
fn a_signed_plan_whose_settings_reach_another_estate_is_refused() {
    // A malicious author crafts the body, then signs it and gets it approved: the
    // signatures are valid, but the settings do not reach what reviewers read.
    let ws = team();
    ok(&run(&ws, &["plan", "-o", "c.plan"]));
    std::fs::copy(ws.path().join("estate.json"), ws.path().join("other.json")).unwrap();
    rewrite_body(
        &ws,
        "c.plan",
        "\"state\":\"estate.json\"",
        "\"state\":\"other.json\"",
    );
    ok(&run(&ws, &["sign", "c.plan", "--key", "alice.key"]));
    ok(&run(
        &ws,
        &["approve", "c.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "c.plan", "--key", "carol.key", "--yes"],
    ));
    let before = ws.bytes("other.json");
    let refused = refuses(&ws, "c.plan", "nhi::apply::scope_mismatch");
    assert!(
        refused.stderr.contains(
            "connects to estate file `other.json`, but the plan says estate file `estate.json`"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("other.json"), before);
}

#[test]
fn a_retired_key_cannot_approve_by_backdating() {
    let ws = team();
    let at = |hours: i64| {
        let t = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(hours))
            .unwrap();
        jiff::Timestamp::from_second(t.as_second()).unwrap()
    };
    // The plan is three days old but valid for a week.
    let created = at(72).to_string();
    assert_eq!(
        ws.run_env(
            &[
                "plan",
                "-o",
                "q.plan",
                "--valid-for",
                "7d",
                "--sign-key",
                "alice.key"
            ],
            &[("NHI_NOW", &created)]
        )
        .code,
        0
    );
    ok(&run(
        &ws,
        &["approve", "q.plan", "--key", "carol.key", "--yes"],
    ));
    // Bob's key was retired two days ago; he signs now but claims 60 hours ago.
    let retired = at(48).strftime("%Y%m%d%H%M%SZ").to_string();
    let signers = ws.read("allowed_signers").replace(
        "bob@example.com ",
        &format!("bob@example.com valid-before={retired} "),
    );
    ws.write("allowed_signers", &signers);
    approve_with_ssh_keygen(&ws, "q.plan", "bob", &at(60).to_string());
    let refused = refuses(&ws, "q.plan", "nhi::trust::unknown_signer");
    assert!(
        refused.stderr.contains("bob@example.com"),
        "{}",
        refused.stderr
    );
}
