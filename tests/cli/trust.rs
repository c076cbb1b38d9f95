//! Signatures, approvals and allowed signers: which signatures count, which do
//! not, and what the applier's trust policy demands. Every refusal leaves the live
//! estate byte-identical.

use std::process::Command;

use crate::harness::Workspace;
use crate::team::{
    TRUST, apply, apply_dry, approve_with_ssh_keygen, approved_plan, edit_plan, now, ok, refuses,
    run, team,
};

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
            .stdout
            .contains("the author cannot approve their own plan"),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains("this principal already approved"),
        "{}",
        verified.stdout
    );
    assert!(
        verified
            .stdout
            .contains("missing:  destructive changes require 2 distinct approvers"),
        "{}",
        verified.stdout
    );
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
        verified.stdout.contains("approved: `bob@example.com`"),
        "{}",
        verified.stdout
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
        verified.stdout.contains("approved: `bob@example.com`"),
        "{}",
        verified.stdout
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

#[test]
fn a_plan_signed_as_it_is_saved_suggests_approve_not_sign() {
    let ws = team();
    let signed = run(&ws, &["plan", "-o", "s.plan", "--sign-key", "alice.key"]);
    ok(&signed);
    assert!(
        signed
            .stderr
            .contains("Next: `nhi approve s.plan`, then `nhi apply s.plan`."),
        "{}",
        signed.stderr
    );
    let unsigned = run(&ws, &["plan", "-o", "u.plan"]);
    ok(&unsigned);
    assert!(
        unsigned.stderr.contains("Next: `nhi sign u.plan`"),
        "{}",
        unsigned.stderr
    );
}
