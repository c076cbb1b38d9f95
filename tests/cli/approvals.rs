//! Approvals from several reviewers at once: `nhi approve --detached` writes an
//! approval beside the plan, `apply`/`verify --signatures` judge it with the
//! plan's own, `nhi merge` folds it in. A detached approval is hostile input:
//! another plan's counts for nothing, an altered or malformed one is refused by
//! name, and every refusal leaves the estate as it was.

use crate::harness::{Run, Workspace};
use crate::team::{ok, refuses, run, team};

/// A plan signed by alice; bob and carol approve it detached, in parallel, bob
/// to a file and carol as the one line of a review comment.
fn planned_and_approved_detached(ws: &Workspace) {
    ok(&run(
        ws,
        &["plan", "-o", "plan.nhi", "--sign-key", "alice.key"],
    ));
    let plan = ws.bytes("plan.nhi");
    std::fs::create_dir(ws.path().join("approvals")).unwrap();
    ok(&run(
        ws,
        &[
            "approve",
            "plan.nhi",
            "--key",
            "bob.key",
            "--yes",
            "--detached",
            "-o",
            "approvals/bob.approval",
        ],
    ));
    let carol = run(
        ws,
        &[
            "approve",
            "plan.nhi",
            "--key",
            "carol.key",
            "--yes",
            "--detached",
        ],
    );
    ok(&carol);
    assert!(
        carol.stdout.starts_with("nhi-approval:v1:"),
        "{}",
        carol.stdout
    );
    assert_eq!(carol.stdout.lines().count(), 1, "{}", carol.stdout);
    ws.write("approvals/carol.approval", &carol.stdout);
    assert_eq!(
        ws.bytes("plan.nhi"),
        plan,
        "a detached approval changed the plan"
    );
}

fn with_signatures(ws: &Workspace, command: &str, plan: &str, signatures: &[&str]) -> Run {
    let mut args = vec![command, plan, "--trust", "trust.yaml", "--signatures"];
    args.extend_from_slice(signatures);
    run(ws, &args)
}

fn digest(ws: &Workspace, plan: &str) -> String {
    let file: serde_json::Value = serde_json::from_str(&ws.read(plan)).unwrap();
    file["body_digest"].as_str().unwrap().to_owned()
}

fn assert_says(run: &Run, code: i32, message: &str) {
    assert_eq!(run.code, code, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains(message),
        "expected `{message}` in:\n{}",
        run.stderr
    );
}

#[test]
fn two_reviewers_approve_in_parallel_and_apply_takes_their_approvals() {
    let ws = team();
    planned_and_approved_detached(&ws);
    // The quickstart plan deletes, so the policy wants two approvers.
    let verified = with_signatures(&ws, "verify", "plan.nhi", &["approvals"]);
    ok(&verified);
    assert!(
        verified.stdout.contains("approvals: 2 of 2 required"),
        "{}",
        verified.stdout
    );
    ok(&with_signatures(&ws, "apply", "plan.nhi", &["approvals"]));
    // Exactly as planned: planning again finds nothing to change.
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}

#[test]
fn merging_in_either_order_gives_the_same_plan_file() {
    let ws = team();
    planned_and_approved_detached(&ws);
    let plan = ws.read("plan.nhi");
    ws.write("one.nhi", &plan);
    ws.write("two.nhi", &plan);
    ok(&run(&ws, &["merge", "one.nhi", "approvals/bob.approval"]));
    ok(&run(&ws, &["merge", "one.nhi", "approvals/carol.approval"]));
    ok(&run(&ws, &["merge", "two.nhi", "approvals/carol.approval"]));
    ok(&run(&ws, &["merge", "two.nhi", "approvals/bob.approval"]));
    assert_eq!(ws.bytes("one.nhi"), ws.bytes("two.nhi"));
    // Merging again, or both at once, adds nothing.
    let merged = ws.bytes("one.nhi");
    let again = run(&ws, &["merge", "one.nhi", "approvals"]);
    ok(&again);
    assert!(
        again.stderr.contains("Merged 0 approvals"),
        "{}",
        again.stderr
    );
    ws.write("three.nhi", &plan);
    ok(&run(
        &ws,
        &["merge", "three.nhi", "approvals", "approvals/bob.approval"],
    ));
    assert_eq!(ws.bytes("one.nhi"), merged);
    assert_eq!(ws.bytes("three.nhi"), merged);
    let value: serde_json::Value = serde_json::from_slice(&merged).unwrap();
    assert_eq!(value["signatures"].as_array().unwrap().len(), 3);
    ok(&run(&ws, &["apply", "one.nhi", "--trust", "trust.yaml"]));
}

#[test]
fn an_approval_of_another_plan_is_refused_by_merge_and_counts_for_nothing() {
    let ws = team();
    planned_and_approved_detached(&ws);
    let estate = ws
        .read("estate.json")
        .replace("Nightly database backups", "Nightly backups");
    ws.write("estate.json", &estate);
    ok(&run(
        &ws,
        &["plan", "-o", "other.nhi", "--sign-key", "alice.key"],
    ));
    let (this, other) = (digest(&ws, "plan.nhi"), digest(&ws, "other.nhi"));
    assert_ne!(this, other);
    let message = format!(
        "approval `approvals/bob.approval` by `bob@example.com` was made for another plan (`{this}`), not this one (`{other}`)"
    );
    let before = ws.bytes("other.nhi");
    let merged = run(&ws, &["merge", "other.nhi", "approvals/bob.approval"]);
    assert_says(&merged, 1, &message);
    assert!(
        merged.stderr.contains("nhi::approval::wrong_plan"),
        "{}",
        merged.stderr
    );
    assert_eq!(ws.bytes("other.nhi"), before);
    // Beside apply it is skipped with that message, and the plan lacks approvals.
    refuses(&ws, "other.nhi", "nhi::trust::insufficient_approvals");
    let applied = with_signatures(&ws, "apply", "other.nhi", &["approvals"]);
    assert_says(
        &applied,
        1,
        &format!("warning: skipped approval `approvals/bob.approval`: {message}"),
    );
    assert!(
        applied.stderr.contains("(0 counted, 2 required)"),
        "{}",
        applied.stderr
    );
    let json = with_signatures(&ws, "verify", "other.nhi", &["approvals", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        report["skipped_approvals"][0]["file"],
        "approvals/bob.approval"
    );
    assert_eq!(report["skipped_approvals"][0]["reason"], message);
}

#[test]
fn a_tampered_or_malformed_approval_is_refused_by_name() {
    let ws = team();
    planned_and_approved_detached(&ws);
    let estate = ws.bytes("estate.json");
    let bob = ws.read("approvals/bob.approval");
    // Claiming another principal: the signature no longer covers the statement.
    ws.write(
        "tampered.approval",
        &bob.replace("principal: bob@example.com", "principal: dave@example.com"),
    );
    let message = "approval `tampered.approval` (claiming `dave@example.com`) does not verify: it was altered";
    for command in ["apply", "verify"] {
        let refused = with_signatures(
            &ws,
            command,
            "plan.nhi",
            &["approvals/carol.approval", "tampered.approval"],
        );
        assert_says(&refused, 1, message);
        assert!(
            refused.stderr.contains("nhi::approval::invalid"),
            "{}",
            refused.stderr
        );
    }
    assert_says(
        &run(&ws, &["merge", "plan.nhi", "tampered.approval"]),
        1,
        message,
    );
    let cases = [
        (
            bob.replace(
                "\"nhi_approval\": 1,",
                "\"nhi_approval\": 1, \"plan\": \"x\",",
            ),
            "approval `bad.approval` is malformed: not an approval: unknown field `plan`",
        ),
        (
            "nhi-approval:v1:%%%".to_owned(),
            "approval `bad.approval` is malformed: its line is not base64url without padding",
        ),
        (
            format!("{bob}{}", " ".repeat(40 * 1024)),
            "approval `bad.approval` is larger than 32768 bytes",
        ),
    ];
    for (bad, message) in cases {
        ws.write("bad.approval", &bad);
        assert_says(
            &with_signatures(&ws, "apply", "plan.nhi", &["bad.approval"]),
            1,
            message,
        );
    }
    // A key outside allowed_signers is refused as in a plan, naming the file.
    ok(&run(
        &ws,
        &[
            "approve",
            "plan.nhi",
            "--key",
            "mallory.key",
            "--yes",
            "--detached",
            "-o",
            "mallory.approval",
        ],
    ));
    let refused = with_signatures(&ws, "apply", "plan.nhi", &["approvals", "mallory.approval"]);
    assert_says(
        &refused,
        1,
        "approval `mallory.approval` is refused: the approver signature claims principal `mallory@example.com`, but allowed signers do not list its key",
    );
    assert!(
        refused.stderr.contains("nhi::approval::refused"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        ws.bytes("estate.json"),
        estate,
        "a refused apply changed the estate"
    );
}

#[test]
fn one_detached_approval_of_two_required_is_not_enough_and_copies_count_once() {
    let ws = team();
    planned_and_approved_detached(&ws);
    let estate = ws.bytes("estate.json");
    // The same approval twice, and bob approving twice (with a comment, so the
    // second is another statement even within the same second).
    let line = run(
        &ws,
        &[
            "approve",
            "plan.nhi",
            "--key",
            "bob.key",
            "--yes",
            "--detached",
            "--line",
            "--comment",
            "again",
        ],
    );
    ok(&line);
    ws.write("bob-again.approval", &line.stdout);
    let bob = ws.read("approvals/bob.approval");
    ws.write("copy.approval", &bob);
    let refused = with_signatures(
        &ws,
        "apply",
        "plan.nhi",
        &[
            "approvals/bob.approval",
            "copy.approval",
            "bob-again.approval",
        ],
    );
    assert_says(
        &refused,
        1,
        "the plan's approvals do not meet the trust policy (1 counted, 2 required): destructive changes require 2 distinct approvers",
    );
    assert!(
        refused
            .stderr
            .contains("warning: skipped approval `copy.approval`: the same approval as `approvals/bob.approval`"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), estate);
    let json = with_signatures(
        &ws,
        "verify",
        "plan.nhi",
        &["approvals/bob.approval", "bob-again.approval", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures[0]["approval_file"], serde_json::Value::Null);
    assert_eq!(signatures[1]["approval_file"], "approvals/bob.approval");
    assert_eq!(signatures[1]["verdict"], "counted");
    assert_eq!(signatures[2]["approval_file"], "bob-again.approval");
    assert_eq!(signatures[2]["verdict"], "ignored");
    assert_eq!(signatures[2]["reason"], "this principal already approved");
}
