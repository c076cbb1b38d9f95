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

#[test]
fn one_junk_signature_no_longer_hides_the_author_and_approvals_and_can_be_dropped() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    ok(&apply_dry(&ws, "q.plan"));
    // Anyone who can write the file appends an unlisted approval and junk.
    ok(&run(
        &ws,
        &["approve", "q.plan", "--key", "mallory.key", "--yes"],
    ));
    edit_plan(&ws, "q.plan", |v| {
        v["signatures"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"statement": "junk", "signature": "junk"}));
    });
    let verified = apply_dry(&ws, "q.plan");
    assert_eq!(verified.code, 1, "{}", verified.stderr);
    for line in [
        "  author:   `alice@example.com`",
        "  approved: `bob@example.com`",
        "  approved: `carol@example.com`",
        "  invalid:  signature 4 (claims approver `mallory@example.com`, key SHA256:",
        "  invalid:  signature 5 (statement unreadable): signature 5 is invalid: not an SSH signature",
        "  approvals: 2 of 2 required",
        "  apply refuses the plan while it carries a signature that does not verify; drop them: `nhi unsign q.plan 4 5`",
    ] {
        assert!(
            verified.stdout.contains(line),
            "{line}\n{}",
            verified.stdout
        );
    }
    assert!(
        !verified.stdout.contains("not signed") && !verified.stdout.contains("missing:"),
        "{}",
        verified.stdout
    );
    let json = run(
        &ws,
        &["verify", "q.plan", "--trust", "trust.yaml", "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let verdicts: Vec<&str> = json["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["author", "counted", "counted", "invalid", "invalid"]
    );
    assert_eq!(json["signatures"][3]["code"], "nhi::trust::unknown_signer");
    assert_eq!(json["approvals_counted"], 2);
    assert_eq!(json["verified"], false);
    // Apply still refuses, and says how to get out.
    let refused = refuses(&ws, "q.plan", "nhi::trust::unknown_signer");
    assert!(
        refused
            .stderr
            .contains("`nhi unsign PLAN 4` drops this signature"),
        "{}",
        refused.stderr
    );
    // Out of range: refused, nothing written.
    let before = ws.read("q.plan");
    let bad = run(&ws, &["unsign", "q.plan", "6"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("nhi::unsign::no_such_signature")
            && bad
                .stderr
                .contains("`q.plan` has no signature 6 (it has 5 signatures)"),
        "{}",
        bad.stderr
    );
    assert_eq!(ws.read("q.plan"), before);
    let dropped = run(&ws, &["unsign", "q.plan", "5", "4"]);
    ok(&dropped);
    assert!(
        dropped.stderr.contains(
            "Dropped signature 4 (approver `mallory@example.com`, as its statement claims) from `q.plan`."
        ) && dropped
            .stderr
            .contains("Dropped signature 5 (an unreadable statement, as its statement claims)"),
        "{}",
        dropped.stderr
    );
    ok(&apply_dry(&ws, "q.plan"));
}

#[test]
fn approve_warns_when_expired_already_approved_or_by_the_author() {
    let ws = team();
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
    let by_author = run(&ws, &["approve", "s.plan", "--key", "alice.key", "--yes"]);
    ok(&by_author);
    assert!(
        by_author.stderr.contains(
            "warning: you are the plan's author (signature 1, made with this key): unless the trust policy sets `author_counts: true`, your approval does not count"
        ),
        "{}",
        by_author.stderr
    );
    let first = run(&ws, &["approve", "s.plan", "--key", "bob.key", "--yes"]);
    ok(&first);
    assert!(!first.stderr.contains("warning:"), "{}", first.stderr);
    let again = run(&ws, &["approve", "s.plan", "--key", "bob.key", "--yes"]);
    ok(&again);
    assert!(
        again.stderr.contains("warning: this key (SHA256:")
            && again.stderr.contains(
                "already approved the plan (signature 3, as `bob@example.com`): a second approval by it does not count"
            ),
        "{}",
        again.stderr
    );
    // An expired plan.
    let old = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(25))
        .unwrap();
    let old = jiff::Timestamp::from_second(old.as_second())
        .unwrap()
        .to_string();
    ok(&ws.run_env(
        &["plan", "-o", "old.plan", "--sign-key", "alice.key"],
        &[("NHI_NOW", old.as_str())],
    ));
    let late = run(&ws, &["approve", "old.plan", "--key", "bob.key", "--yes"]);
    ok(&late);
    assert!(
        late.stderr.contains("warning: the plan expired at ")
            && late
                .stderr
                .contains("apply will refuse it whatever its approvals (plan again)"),
        "{}",
        late.stderr
    );
}

#[test]
fn planned_by_is_the_verified_signer_and_a_differing_author_is_shown_as_a_claim() {
    let ws = team();
    ok(&run(
        &ws,
        &[
            "plan",
            "-o",
            "c.plan",
            "--author",
            "security-lead@example.com",
            "--sign-key",
            "alice.key",
        ],
    ));
    let verified = apply_dry(&ws, "c.plan");
    assert!(
        verified.stdout.contains("  author:   `alice@example.com` at ")
            && verified.stdout.contains(
                "  claimed:  the plan says `security-lead@example.com` planned it (not verified: the author signature is `alice@example.com`'s)"
            )
            && !verified.stdout.contains("by `security-lead@example.com`"),
        "{}",
        verified.stdout
    );
    let json = run(
        &ws,
        &["verify", "c.plan", "--trust", "trust.yaml", "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["planned_by"], "security-lead@example.com");
    assert_eq!(json["planned_by_verified"], false);
    assert_eq!(json["author_signature"]["principal"], "alice@example.com");
    // Unsigned: the claim is all there is.
    ok(&run(&ws, &["plan", "-o", "u.plan"]));
    let unsigned = apply_dry(&ws, "u.plan");
    assert!(
        unsigned.stdout.contains(
            "  author:   no verified author signature (the plan claims `alice@example.com`, not verified)"
        ),
        "{}",
        unsigned.stdout
    );
}

#[test]
fn plan_out_no_longer_overwrites_a_plan_carrying_approvals() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let before = ws.read("q.plan");
    let refused = run(&ws, &["plan", "-o", "q.plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("nhi::plan::would_overwrite_approvals")
            && refused
                .stderr
                .contains("`q.plan` holds a plan carrying 2 approvals")
            && refused.stderr.contains("pass `--force`"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.read("q.plan"), before, "the approved plan is kept");
    ok(&run(&ws, &["plan", "-o", "q.plan", "--force"]));
    assert_ne!(ws.read("q.plan"), before);
    // A plan with no approvals (signed or not) is replaced as before.
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
    ok(&run(
        &ws,
        &["plan", "-o", "s.plan", "--sign-key", "alice.key"],
    ));
}

#[cfg(unix)]
#[test]
fn a_symlinked_trust_policy_no_longer_takes_allowed_signers_from_beside_the_link() {
    let ws = team();
    // The applier's own policy, outside the repository.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("trust.yaml"), TRUST).unwrap();
    std::fs::copy(
        ws.path().join("allowed_signers"),
        home.path().join("allowed_signers"),
    )
    .unwrap();
    // The repository links to it and supplies allowed signers that list mallory.
    std::os::unix::fs::symlink(home.path().join("trust.yaml"), ws.path().join("link.yaml"))
        .unwrap();
    let mallory = ws.read("mallory.key.pub");
    let mut fields = mallory.split_whitespace();
    let listed = format!(
        "{}mallory@example.com {} {}\n",
        ws.read("allowed_signers"),
        fields.next().unwrap(),
        fields.next().unwrap()
    );
    ws.write("allowed_signers", &listed);
    ok(&run(
        &ws,
        &["plan", "-o", "m.plan", "--sign-key", "alice.key"],
    ));
    for key in ["bob.key", "mallory.key"] {
        ok(&run(&ws, &["approve", "m.plan", "--key", key, "--yes"]));
    }
    let verified = run(&ws, &["verify", "m.plan", "--trust", "link.yaml"]);
    assert_eq!(verified.code, 1, "{}", verified.stdout);
    assert!(
        verified.stderr.contains("nhi::trust::unknown_signer"),
        "{}",
        verified.stderr
    );
}

#[cfg(unix)]
#[test]
fn trust_files_others_can_change_or_inside_the_checkout_are_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let ws = team();
    approved_plan(&ws, "q.plan");
    std::fs::set_permissions(
        ws.path().join("trust.yaml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::fs::set_permissions(
        ws.path().join("carol.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let verified = apply_dry(&ws, "q.plan");
    ok(&verified);
    for warning in [
        "WARNING: UNPROTECTED TRUST POLICY FILE! Permissions 0666 for `trust.yaml` are too open: others can change who may approve (`chmod go-w trust.yaml`)",
        "WARNING: UNPROTECTED TRUST POLICY FILE! `trust.yaml` is inside `",
        "WARNING: UNPROTECTED ALLOWED SIGNERS FILE! `./allowed_signers` is inside `",
    ] {
        assert!(
            verified.stderr.contains(warning),
            "{warning}\n{}",
            verified.stderr
        );
    }
    let applied = run(
        &ws,
        &[
            "apply",
            "q.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    );
    ok(&applied);
    assert!(
        applied.stderr.contains(
            "WARNING: UNPROTECTED PRIVATE KEY FILE! Permissions 0644 for `carol.key` are too open: others can read or change it (`chmod 600 carol.key`)"
        ) && applied
            .stderr
            .contains("WARNING: UNPROTECTED PRIVATE KEY FILE! `carol.key` is inside `"),
        "{}",
        applied.stderr
    );
    // Outside the checkout and owner-writable only: no warning.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("trust.yaml"), TRUST).unwrap();
    std::fs::copy(
        ws.path().join("allowed_signers"),
        home.path().join("allowed_signers"),
    )
    .unwrap();
    let trust = home.path().join("trust.yaml");
    let clean = run(
        &ws,
        &["verify", "q.plan", "--trust", trust.to_str().unwrap()],
    );
    ok(&clean);
    assert_eq!(clean.stderr, "");
}

/// One role in a fresh estate: `live` as the estate holds its attributes and
/// bindings, `declared` as the configuration does.
fn one_role(ws: &Workspace, live: &str, declared: &str) {
    ws.write(
        "nhi.yaml",
        &format!(
            "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings:\n      state: estate.json\n\
             identities:\n  - name: deployer\n    provider: demo\n    kind: role\n    owner: platform@example.com\n    description: Deploys\n{declared}"
        ),
    );
    ws.write(
        "estate.json",
        &format!(
            "{{\"nhi_local_estate\":1,\"identities\":[\n{{\"name\":\"deployer\",\"kind\":\"role\",\"owner\":\"platform@example.com\",\"description\":\"Deploys\",\"tags\":{{}},\"keys\":[],{live}}}\n]}}\n"
        ),
    );
}

/// Issue 15: removing a grant was `destructive` and needed more approvals than
/// granting it, while opening a trust policy to everyone was `low` and went
/// through on one approval despite a `privilege_increasing` rule.
#[test]
fn removing_a_grant_needs_the_base_bar_and_opening_a_trust_policy_the_rule() {
    let ws = team();
    ws.write(
        "trust.yaml",
        &format!("{TRUST}  - when: privilege_increasing\n    required: 2\n"),
    );
    let ci = r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"}}],"Version":"2012-10-17"}"#;
    let approve = |plan: &str, key: &str| {
        ok(&run(&ws, &["approve", plan, "--key", key, "--yes"]));
    };

    // Removing `AdministratorAccess`: privilege-reducing, the policy's one approval.
    one_role(
        &ws,
        &format!(
            r#""attributes":{{"trust_policy":{ci}}},"bindings":[{{"role":"AdministratorAccess","resource":"*"}}]"#
        ),
        &format!("    attributes:\n      trust_policy: {ci}\n"),
    );
    ok(&run(
        &ws,
        &["plan", "-o", "remove.plan", "--sign-key", "alice.key"],
    ));
    let shown = run(&ws, &["show", "remove.plan"]);
    assert!(
        shown.stdout.contains(
            "binding/AdministratorAccess will be deleted (differs; risk: privilege-reducing)"
        ),
        "{}",
        shown.stdout
    );
    approve("remove.plan", "bob.key");
    ok(&apply(&ws, "remove.plan"));
    assert!(!ws.read("estate.json").contains("AdministratorAccess"));

    // Opening the trust policy to everyone and dropping the boundary:
    // privilege-increasing, the rule's two approvals.
    one_role(
        &ws,
        &format!(
            r#""attributes":{{"permissions_boundary":"arn:aws:iam::123456789012:policy/boundary","trust_policy":{ci}}},"bindings":[]"#
        ),
        "    attributes:\n      trust_policy:\n        Version: \"2012-10-17\"\n        Statement:\n          - {Effect: Allow, Principal: {AWS: \"*\"}, Action: sts:AssumeRole}\n",
    );
    ok(&run(
        &ws,
        &["plan", "-o", "open.plan", "--sign-key", "alice.key"],
    ));
    let shown = run(&ws, &["show", "open.plan"]);
    assert!(
        shown
            .stdout
            .contains("will be updated in place (differs; risk: privilege-increasing)"),
        "{}",
        shown.stdout
    );
    approve("open.plan", "bob.key");
    let refused = refuses(&ws, "open.plan", "nhi::trust::insufficient_approvals");
    assert!(
        refused
            .stderr
            .contains("privilege-increasing changes require 2"),
        "{}",
        refused.stderr
    );
    approve("open.plan", "carol.key");
    ok(&apply(&ws, "open.plan"));
    let estate = ws.read("estate.json");
    assert!(
        estate.contains(r#""AWS":"*""#) && !estate.contains("permissions_boundary"),
        "{estate}"
    );
}
