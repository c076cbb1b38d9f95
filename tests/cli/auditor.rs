//! What auditors read, as snapshots: `nhi verify` on plans and receipts, a
//! receipt's body, and apply's refusals. Times, digests that depend on them, key
//! ids, temp paths and versions are redacted; each key's fingerprint is shown as
//! its owner's name, so a snapshot still says whose key signed.

use std::process::Command;

use crate::harness::{Run, Workspace, redact};
use crate::team::{approved_plan, edit_plan, ok, refuses, run, team};

/// Redactions by pattern, applied after [`auditor_view`]'s replacements.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
        (r#""new_key_id": "[^"]+""#, r#""new_key_id": "[KEY ID]""#),
    ]
}

/// `text` with each team key's fingerprint replaced by its owner's name, the
/// digests of the named plan and receipt files by what they are, and temp paths
/// and versions redacted.
fn auditor_view(ws: &Workspace, text: &str, files: &[(&str, &str)]) -> String {
    let mut text = redact(text, ws);
    for user in ["alice", "bob", "carol", "mallory"] {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-f"])
            .arg(ws.path().join(format!("{user}.key.pub")))
            .output()
            .unwrap();
        assert!(out.status.success());
        let listed = String::from_utf8(out.stdout).unwrap();
        let fingerprint = listed.split_whitespace().nth(1).unwrap().to_owned();
        text = text.replace(&fingerprint, &format!("[{user}'s key]"));
    }
    for (file, what) in files {
        let value: serde_json::Value = serde_json::from_str(&ws.read(file)).unwrap();
        let digest = value["body_digest"].as_str().unwrap();
        text = text.replace(digest, &format!("[{what}]"));
    }
    text
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ filters => filters(), omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

fn verify(ws: &Workspace, args: &[&str]) -> Run {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--trust", "trust.yaml"]);
    run(ws, &all)
}

#[test]
fn verify_of_a_signed_and_approved_plan() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let verified = verify(&ws, &["q.plan"]);
    ok(&verified);
    // The trust files of these tests sit beside the plan, which verify warns about.
    let other: Vec<&str> = verified
        .stderr
        .lines()
        .filter(|l| !l.starts_with("WARNING: UNPROTECTED "))
        .collect();
    assert!(other.is_empty(), "verify reports on stdout: {other:?}");
    snapshot(
        "verify_approved_plan",
        &auditor_view(&ws, &verified.stdout, &[("q.plan", "PLAN DIGEST")]),
    );
}

#[test]
fn verify_json_of_an_under_approved_plan_says_what_is_missing() {
    let ws = team();
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
    for key in ["alice.key", "bob.key", "bob.key"] {
        ok(&run(&ws, &["approve", "s.plan", "--key", key, "--yes"]));
    }
    let verified = verify(&ws, &["s.plan", "--json"]);
    assert_eq!(verified.code, 1, "a failed verify still exits 1");
    assert!(
        verified
            .stderr
            .contains("nhi::trust::insufficient_approvals"),
        "{}",
        verified.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&verified.stdout).unwrap();
    assert_eq!(json["verified"], false);
    snapshot(
        "verify_json_under_approved_plan",
        &auditor_view(&ws, &verified.stdout, &[("s.plan", "PLAN DIGEST")]),
    );
}

#[test]
fn verify_json_of_a_receipt() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    ok(&run(
        &ws,
        &[
            "apply",
            "q.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    ));
    let verified = verify(&ws, &["q.plan.receipt.json", "--plan", "q.plan", "--json"]);
    ok(&verified);
    let files = [
        ("q.plan", "PLAN DIGEST"),
        ("q.plan.receipt.json", "RECEIPT DIGEST"),
    ];
    snapshot(
        "verify_json_receipt",
        &auditor_view(&ws, &verified.stdout, &files),
    );
}

#[test]
fn verify_of_an_under_approved_plan() {
    let ws = team();
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
    for key in ["alice.key", "bob.key", "bob.key"] {
        ok(&run(&ws, &["approve", "s.plan", "--key", key, "--yes"]));
    }
    let verified = verify(&ws, &["s.plan"]);
    assert_eq!(verified.code, 1, "{}", verified.stderr);
    snapshot(
        "verify_under_approved_plan",
        &auditor_view(
            &ws,
            &format!("{}{}", verified.stdout, verified.stderr),
            &[("s.plan", "PLAN DIGEST")],
        ),
    );
}

#[test]
fn verify_of_a_receipt_and_its_body() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    ok(&run(
        &ws,
        &[
            "apply",
            "q.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    ));
    let files = [
        ("q.plan", "PLAN DIGEST"),
        ("q.plan.receipt.json", "RECEIPT DIGEST"),
    ];
    let verified = verify(&ws, &["q.plan.receipt.json", "--plan", "q.plan"]);
    ok(&verified);
    snapshot(
        "verify_receipt",
        &auditor_view(&ws, &verified.stdout, &files),
    );

    let receipt: serde_json::Value = serde_json::from_str(&ws.read("q.plan.receipt.json")).unwrap();
    let keys: Vec<&str> = receipt
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["body", "body_digest", "nhi_receipt", "signatures"]);
    let body: serde_json::Value = serde_json::from_str(receipt["body"].as_str().unwrap()).unwrap();
    snapshot(
        "receipt_body",
        &auditor_view(&ws, &serde_json::to_string_pretty(&body).unwrap(), &files),
    );
}

#[test]
fn apply_refusals_as_the_applier_reads_them() {
    let ws = team();
    approved_plan(&ws, "good.plan");
    type Tamper = fn(&Workspace);
    let cases: &[(&str, Tamper, &str)] = &[
        (
            "refusal_tampered_digest",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    let body = v["body"].as_str().unwrap().replacen(
                        "web-team@example.com",
                        "web-tean@example.com",
                        1,
                    );
                    v["body"] = body.into();
                });
            },
            "nhi::plan::digest_mismatch",
        ),
        (
            "refusal_unsigned",
            |ws| edit_plan(ws, "t.plan", |v| v["signatures"] = serde_json::json!([])),
            "nhi::trust::unsigned",
        ),
        (
            "refusal_insufficient_approvals",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    v["signatures"].as_array_mut().unwrap().truncate(2);
                });
            },
            "nhi::trust::insufficient_approvals",
        ),
        (
            "refusal_stale",
            |ws| {
                let estate = ws.read("estate.json").replace(
                    "\"owner\":\"platform-team@example.com\"",
                    "\"owner\":\"mallory@example.com\"",
                );
                ws.write("estate.json", &estate);
            },
            "nhi::plan::stale",
        ),
    ];
    let estate = ws.read("estate.json");
    for (name, tamper, code) in cases {
        ws.write("estate.json", &estate);
        std::fs::copy(ws.path().join("good.plan"), ws.path().join("t.plan")).unwrap();
        tamper(&ws);
        let refused = refuses(&ws, "t.plan", code);
        assert_eq!(refused.stdout, "", "{name}: refusals go to stderr");
        snapshot(
            name,
            &auditor_view(&ws, &refused.stderr, &[("good.plan", "PLAN DIGEST")]),
        );
    }
}

#[test]
fn an_expired_plan_refusal_as_the_applier_reads_it() {
    let ws = team();
    let old = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(25))
        .unwrap();
    let old = jiff::Timestamp::from_second(old.as_second())
        .unwrap()
        .to_string();
    let planned = ws.run_env(
        &["plan", "-o", "old.plan", "--sign-key", "alice.key"],
        &[("NHI_NOW", old.as_str())],
    );
    ok(&planned);
    for key in ["bob.key", "carol.key"] {
        ok(&run(&ws, &["approve", "old.plan", "--key", key, "--yes"]));
    }
    let refused = refuses(&ws, "old.plan", "nhi::plan::expired");
    snapshot(
        "refusal_expired",
        &auditor_view(&ws, &refused.stderr, &[("old.plan", "PLAN DIGEST")]),
    );
}

#[test]
fn verify_of_a_plan_carrying_a_signature_that_does_not_verify() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    ok(&run(
        &ws,
        &["approve", "q.plan", "--key", "mallory.key", "--yes"],
    ));
    let verified = verify(&ws, &["q.plan"]);
    assert_eq!(verified.code, 1, "{}", verified.stderr);
    snapshot(
        "verify_plan_with_an_unlisted_signature",
        &auditor_view(
            &ws,
            &format!("{}{}", verified.stdout, verified.stderr),
            &[("q.plan", "PLAN DIGEST")],
        ),
    );
}
