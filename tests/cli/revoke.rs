//! `nhi revoke` on the local provider: only within the trust policy's `revoke`
//! bar, only reducing, a signed record in `.nhi/revocations/` and the receipt
//! log, and sticky: later plans that would undo it are refused.

use crate::harness::{Run, Workspace};
use crate::team::{OPEN_TRUST, ok, run, team};

const KEY: &str = "local.demo/identity/ci-deployer/key/primary";
const ADMIN: &str = "local.demo/identity/ci-deployer/binding/admin";

/// The quickstart team; carol is on call.
fn on_call() -> Workspace {
    let ws = team();
    ws.write(
        "trust.yaml",
        &format!(
            "{OPEN_TRUST}receipt_log: log\nrevoke:\n  required: 1\n  signers: [carol@example.com]\n"
        ),
    );
    ws
}

fn revoke(ws: &Workspace, key: &str, addresses: &[&str]) -> Run {
    let mut args = vec!["revoke"];
    args.extend_from_slice(addresses);
    args.extend_from_slice(&[
        "--reason",
        "key leaked in a CI log",
        "--key",
        key,
        "--trust",
        "trust.yaml",
    ]);
    run(ws, &args)
}

/// Exit 1, the error's code, and its message (as wrapped on a terminal, joined).
fn refused_with(run: &Run, code: &str, message: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(code), "{}", run.stderr);
    let joined = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(joined.contains(message), "{}", run.stderr);
}

fn estate(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.read("estate.json")).unwrap()
}

fn ci_deployer(ws: &Workspace) -> serde_json::Value {
    estate(ws)["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "ci-deployer")
        .unwrap()
        .clone()
}

fn records(ws: &Workspace) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(ws.path().join(".nhi/revocations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn a_revoked_key_is_deactivated_signed_logged_and_verified() {
    let ws = on_call();
    let out = revoke(&ws, "carol.key", &[KEY]);
    ok(&out);
    assert!(
        out.stderr
            .contains(&format!("revoked `{KEY}`: deactivate_key")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("local keys mint none"),
        "sessions a provider lacks are said: {}",
        out.stderr
    );
    assert_eq!(ci_deployer(&ws)["keys"][0]["status"], "inactive");
    let records = records(&ws);
    assert_eq!(records.len(), 1);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap();
    assert_eq!(record["nhi_revocation"], 1);
    let body: serde_json::Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["actor"], "carol@example.com");
    assert_eq!(body["reason"], "key leaked in a CI log");
    assert_eq!(body["objects"][0]["target"]["kind"], "key");
    assert_ne!(body["objects"][0]["before"], body["objects"][0]["after"]);
    assert_eq!(body["chain"]["sequence"], 1);
    // The same bytes are the log's first entry, which audit verify accepts.
    assert_eq!(
        std::fs::read(&records[0]).unwrap(),
        ws.bytes("log/00000001.receipt.json")
    );
    let audit = run(&ws, &["audit", "verify", "log", "--trust", "trust.yaml"]);
    ok(&audit);
    let record_path = records[0].display().to_string();
    let verified = run(&ws, &["verify", &record_path, "--trust", "trust.yaml"]);
    ok(&verified);
    assert!(
        verified
            .stdout
            .contains("verified: a revocation within the trust policy's `revoke` bar"),
        "{}",
        verified.stdout
    );
    // An apply after it chains on the revocation.
    ws.write(
        "nhi.yaml",
        &ws.read("nhi.yaml").replace(
            "    keys:\n      - name: primary\n        rotate_after: 90d\n        sink:\n          file: secrets/ci-deployer-primary.key\n",
            "",
        ),
    );
    ok(&run(&ws, &["plan", "-o", "after.plan"]));
    ok(&run(
        &ws,
        &[
            "apply",
            "after.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    ));
    ok(&run(
        &ws,
        &["audit", "verify", "log", "--trust", "trust.yaml"],
    ));
}

#[test]
fn a_plan_that_would_mint_a_revoked_key_again_is_refused_until_the_configuration_drops_it() {
    let ws = on_call();
    ok(&revoke(&ws, "carol.key", &[KEY]));
    let refused = run(&ws, &["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::revoked"),
        "{}",
        refused.stderr
    );
    let message = refused
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        message.contains(&format!(
            "the plan would undo the revocation of `{KEY}` (revoked at"
        )) && message.contains("by `carol@example.com`: key leaked in a CI log) with change"),
        "{}",
        refused.stderr
    );
    // The configuration says the key is gone: the plan deletes it.
    let config = ws.read("nhi.yaml");
    let dropped = config.replace(
        "    keys:\n      - name: primary\n        rotate_after: 90d\n        sink:\n          file: secrets/ci-deployer-primary.key\n",
        "",
    );
    assert_ne!(config, dropped, "the quickstart declares the key");
    ws.write("nhi.yaml", &dropped);
    let planned = run(&ws, &["plan"]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
}

#[test]
fn a_plan_that_would_reattach_a_revoked_binding_is_refused() {
    let ws = on_call();
    let out = revoke(&ws, "carol.key", &[ADMIN, "--no-sessions"]);
    ok(&out);
    let bindings = ci_deployer(&ws)["bindings"].clone();
    assert!(
        !bindings
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["role"] == "admin"),
        "{bindings}"
    );
    let config = ws.read("nhi.yaml");
    let granted = config.replace(
        "    bindings:\n      - role: deployer\n        resource: project/web\n",
        "    bindings:\n      - role: admin\n        resource: \"*\"\n      - role: deployer\n        resource: project/web\n",
    );
    assert_ne!(config, granted);
    ws.write("nhi.yaml", &granted);
    let refused = run(&ws, &["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::revoked"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_key_outside_the_revoke_bar_is_refused_before_any_provider_call() {
    let ws = on_call();
    let before = ws.read("estate.json");
    let bob = revoke(&ws, "bob.key", &[KEY]);
    refused_with(
        &bob,
        "nhi::revoke::not_allowed",
        "key `bob.key` may not revoke: principal `bob@example.com` is not one of the trust policy's `revoke.signers` (`carol@example.com`)",
    );
    let mallory = revoke(&ws, "mallory.key", &[KEY]);
    assert_eq!(mallory.code, 1);
    assert!(
        mallory.stderr.contains("key `mallory.key` may not revoke"),
        "{}",
        mallory.stderr
    );
    // No bar at all: nobody may revoke.
    ws.write("trust.yaml", OPEN_TRUST);
    let open = revoke(&ws, "carol.key", &[KEY]);
    assert!(
        open.stderr.contains("nhi::revoke::no_bar"),
        "{}",
        open.stderr
    );
    assert_eq!(ws.read("estate.json"), before);
    assert!(!ws.path().join(".nhi").exists());
    assert!(!ws.path().join("log").exists());
}

#[test]
fn a_tampered_revocation_record_stops_planning() {
    let ws = on_call();
    ok(&revoke(&ws, "carol.key", &[KEY]));
    let path = records(&ws).remove(0);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("key leaked in a CI log", "nothing happened");
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let refused = run(&ws, &["plan"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("nhi::plan::revocation_unreadable"),
        "{}",
        refused.stderr
    );
    let verify = run(
        &ws,
        &[
            "verify",
            &path.display().to_string(),
            "--trust",
            "trust.yaml",
        ],
    );
    assert_eq!(verify.code, 1);
    // A stray file is refused too: only records belong there.
    std::fs::write(&path, text).unwrap();
    ws.write(".nhi/revocations/notes.txt", "hello");
    let stray = run(&ws, &["plan"]);
    assert!(
        stray.stderr.contains("nhi::plan::revocation_unreadable"),
        "{}",
        stray.stderr
    );
}

#[test]
fn an_unknown_address_changes_nothing() {
    let ws = on_call();
    let before = ws.read("estate.json");
    let out = revoke(&ws, "carol.key", &[KEY, "local.demo/identity/nobody"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("nhi::revoke::not_found"),
        "{}",
        out.stderr
    );
    assert_eq!(ws.read("estate.json"), before);
}

#[test]
fn emit_patch_prints_the_follow_up_change() {
    let ws = on_call();
    let out = run(
        &ws,
        &[
            "revoke",
            KEY,
            "--reason",
            "leaked",
            "--key",
            "carol.key",
            "--trust",
            "trust.yaml",
            "--emit-patch",
        ],
    );
    ok(&out);
    assert!(
        out.stdout
            .contains("# identity `ci-deployer`: remove the key entry"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("-    primary: …"), "{}", out.stdout);
}

/// Gives a cloud test's workspace an on-call key, `oncall.key` for
/// `oncall@example.com`, as the only `revoke` signer of its open trust policy.
pub(crate) fn on_call_in(ws: &Workspace) {
    let status = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "oncall@example.com",
            "-f",
        ])
        .arg(ws.path().join("oncall.key"))
        .status()
        .unwrap();
    assert!(status.success());
    let public = ws.read("oncall.key.pub");
    let mut fields = public.split_whitespace();
    ws.write(
        "allowed_signers",
        &format!(
            "oncall@example.com {} {}\n",
            fields.next().unwrap(),
            fields.next().unwrap()
        ),
    );
    ws.write(
        "trust.yaml",
        &format!("{OPEN_TRUST}revoke: {{required: 1, signers: [oncall@example.com]}}\n"),
    );
}

/// Regression guard: deleting the record beside the configuration does not
/// lift a revocation at apply, which reads the receipt log too.
#[test]
fn apply_refuses_a_plan_that_undoes_a_revocation_kept_only_in_the_log() {
    let ws = on_call();
    ok(&run(&ws, &["plan", "-o", "before.plan"]));
    ok(&revoke(&ws, "carol.key", &[KEY]));
    std::fs::remove_dir_all(ws.path().join(".nhi")).unwrap();
    // Planned before the revocation: the key was active, and is rotated.
    let refused = run(
        &ws,
        &[
            "apply",
            "before.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::revoked")
            || refused.stderr.contains("nhi::plan::stale"),
        "{}",
        refused.stderr
    );
    let planned = run(&ws, &["plan", "-o", "after.plan"]);
    ok(&planned);
    let refused = run(
        &ws,
        &[
            "apply",
            "after.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::revoked"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_bar_of_two_needs_two_principals_of_its_signers() {
    let ws = team();
    ws.write(
        "trust.yaml",
        &format!(
            "{OPEN_TRUST}revoke: {{required: 2, signers: [bob@example.com, carol@example.com]}}\n"
        ),
    );
    let before = ws.read("estate.json");
    refused_with(
        &revoke(&ws, "carol.key", &[KEY]),
        "nhi::revoke::under_signed",
        "the revocation is signed by 1 of the 2 principals the trust policy's `revoke` bar needs",
    );
    assert_eq!(ws.read("estate.json"), before);
    let both = run(
        &ws,
        &[
            "revoke",
            KEY,
            "--reason",
            "leaked",
            "--key",
            "carol.key",
            "--key",
            "bob.key",
            "--trust",
            "trust.yaml",
        ],
    );
    ok(&both);
    let path = records(&ws).remove(0).display().to_string();
    ok(&run(&ws, &["verify", &path, "--trust", "trust.yaml"]));
}

/// The README's stock-tools check of the receipt log accepts a revocation in
/// the chain, as `nhi audit verify` does.
#[test]
fn the_stock_tools_check_accepts_a_revocation_in_the_log() {
    let ws = on_call();
    ok(&revoke(&ws, "carol.key", &[KEY]));
    let out = crate::log::stock_tools(&ws);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 1 receipts"));
}
