//! The team every trust and apply test works with: the quickstart with keys for
//! alice (author), bob and carol (reviewers) in the allowed signers, and mallory,
//! who is not; and the steps they take on plans, by nhi and by stock tools.

use std::process::Command;

use crate::harness::{Run, Workspace};

pub(crate) const TRUST: &str = "allowed_signers: allowed_signers\napprovals:\n  required: 1\nrules:\n  - when: destructive\n    required: 2\n";

pub(crate) const OPEN_TRUST: &str = "allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n";

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

pub(crate) fn ok(run: &Run) {
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

pub(crate) fn apply(ws: &Workspace, plan: &str) -> Run {
    run(ws, &["apply", plan, "--trust", "trust.yaml"])
}

/// `nhi verify` passing is what apply's offline checks would accept.
pub(crate) fn apply_dry(ws: &Workspace, plan: &str) -> Run {
    run(ws, &["verify", plan, "--trust", "trust.yaml"])
}

/// Asserts apply refuses with `code` and changes nothing.
pub(crate) fn refuses(ws: &Workspace, plan: &str, code: &str) -> Run {
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

pub(crate) fn edit_plan(ws: &Workspace, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_str(&ws.read(name)).unwrap();
    edit(&mut value);
    ws.write(name, &serde_json::to_string_pretty(&value).unwrap());
}

/// Replaces the first `from` in the body by `to` and records the new digest, as an
/// attacker rewriting a plan consistently would.
pub(crate) fn rewrite_body(ws: &Workspace, name: &str, from: &str, to: &str) {
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
pub(crate) fn approve_with_ssh_keygen(ws: &Workspace, plan: &str, user: &str, signed_at: &str) {
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

pub(crate) fn sha256(text: &str) -> String {
    nhi_provider_sdk::Digest::of(text.as_bytes()).to_string()
}
