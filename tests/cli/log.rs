//! The receipt log: every apply appends a chained receipt and a signed
//! checkpoint, and `nhi audit verify` (and the README's stock-tools script) name
//! the first break of an edited, deleted, inserted or reordered receipt.

use std::path::Path;
use std::process::Command;

use crate::harness::{Run, Workspace};
use crate::team::{OPEN_TRUST, edit_plan, ok, run, sha256, team};

/// The quickstart team after three applies, each appending to `log/`.
fn logged() -> Workspace {
    let ws = team();
    ws.write("trust.yaml", &format!("{OPEN_TRUST}receipt_log: log\n"));
    for round in 0..3 {
        apply_round(&ws, round);
    }
    ws
}

/// Plans and applies round `round` (from 1: one identity more than before).
fn apply_round(ws: &Workspace, round: usize) {
    if round > 0 {
        ws.write(
            "nhi.yaml",
            &(ws.read("nhi.yaml")
                + &format!(
                    "  - name: extra-{round}\n    provider: demo\n    owner: a@example.com\n"
                )),
        );
    }
    let plan = format!("p{round}.plan");
    ok(&run(ws, &["plan", "-o", &plan]));
    ok(&run(
        ws,
        &[
            "apply",
            &plan,
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    ));
}

fn audit(ws: &Workspace, extra: &[&str]) -> Run {
    let mut args = vec!["audit", "verify", "log"];
    args.extend_from_slice(extra);
    run(ws, &args)
}

/// The README's "The receipt log" script, run with stock tools.
pub(crate) fn stock_tools(ws: &Workspace) -> std::process::Output {
    let script = crate::harness::readme_bash("## The receipt log");
    Command::new("bash")
        .current_dir(ws.path())
        .args(["-euo", "pipefail", "-c", &script])
        .env("LOG", "log")
        .env("ALLOWED_SIGNERS", "allowed_signers")
        .output()
        .unwrap()
}

fn rename(ws: &Workspace, from: &str, to: &str) {
    std::fs::rename(
        ws.path().join("log").join(from),
        ws.path().join("log").join(to),
    )
    .unwrap();
}

fn copy_log(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn every_apply_appends_a_chained_receipt_that_audit_verify_accepts() {
    let ws = logged();
    let verified = audit(&ws, &["--trust", "trust.yaml"]);
    ok(&verified);
    assert!(
        verified
            .stdout
            .contains("receipts: 3 whole, in sequence, chained and signed by an applier"),
        "{}",
        verified.stdout
    );
    assert!(
        verified
            .stdout
            .contains("checkpoint signed by: `carol@example.com`"),
        "{}",
        verified.stdout
    );
    // The log's receipts are the receipts beside the plans, byte for byte.
    assert_eq!(
        ws.bytes("log/00000002.receipt.json"),
        ws.bytes("p1.plan.receipt.json")
    );
    let first: serde_json::Value =
        serde_json::from_str(&ws.read("log/00000001.receipt.json")).unwrap();
    let body: serde_json::Value = serde_json::from_str(first["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["chain"]["sequence"], 1);
    assert_eq!(body["chain"]["previous"], nhi::log::GENESIS);
    let out = stock_tools(&ws);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 3 receipts"));
}

/// Regression for the record's promise: receipts were signed one by one, but
/// nothing showed one was deleted, inserted or reordered.
#[test]
fn audit_verify_and_stock_tools_name_every_tampering() {
    let ws = logged();
    let pristine = ws.path().join("pristine");
    copy_log(&ws.path().join("log"), &pristine);
    let restore = |ws: &Workspace| {
        std::fs::remove_dir_all(ws.path().join("log")).unwrap();
        copy_log(&pristine, &ws.path().join("log"));
    };
    type Tamper<'a> = &'a dyn Fn(&Workspace);
    let cases: [(&str, Tamper<'_>, &str); 6] = [
        (
            "edited",
            &|ws| {
                // Rewritten consistently: the digest matches the new body.
                edit_plan(ws, "log/00000002.receipt.json", |v| {
                    let body = v["body"].as_str().unwrap().replace("succeeded", "failed");
                    v["body_digest"] = sha256(&body).into();
                    v["body"] = body.into();
                });
            },
            "`00000002.receipt.json`:",
        ),
        (
            "first deleted",
            &|ws| std::fs::remove_file(ws.path().join("log/00000001.receipt.json")).unwrap(),
            "the log starts at `00000002.receipt.json`: receipt 1 is missing",
        ),
        (
            "middle deleted",
            &|ws| std::fs::remove_file(ws.path().join("log/00000002.receipt.json")).unwrap(),
            "receipt 2 is missing: the log goes on at `00000003.receipt.json`",
        ),
        (
            "last deleted",
            &|ws| std::fs::remove_file(ws.path().join("log/00000003.receipt.json")).unwrap(),
            "the checkpoint counts 3 receipts, the log holds 2: the last ones were deleted",
        ),
        (
            "inserted",
            &|ws| {
                rename(ws, "00000003.receipt.json", "00000004.receipt.json");
                std::fs::copy(
                    ws.path().join("log/00000002.receipt.json"),
                    ws.path().join("log/00000003.receipt.json"),
                )
                .unwrap();
            },
            "`00000003.receipt.json` says it is receipt 2: receipts were renamed or reordered",
        ),
        (
            "reordered",
            &|ws| {
                rename(ws, "00000002.receipt.json", "x");
                rename(ws, "00000003.receipt.json", "00000002.receipt.json");
                rename(ws, "x", "00000003.receipt.json");
            },
            "`00000002.receipt.json` says it is receipt 3: receipts were renamed or reordered",
        ),
    ];
    for (what, tamper, broken) in cases {
        restore(&ws);
        tamper(&ws);
        let verified = audit(&ws, &["--trust", "trust.yaml"]);
        assert_eq!(verified.code, 1, "{what}: {}", verified.stdout);
        assert!(
            verified.stderr.contains("nhi::log::broken"),
            "{what}: {}",
            verified.stderr
        );
        assert!(
            verified.stdout.contains(&format!("broken: {broken}")),
            "{what}:\n{}",
            verified.stdout
        );
        assert!(
            !stock_tools(&ws).status.success(),
            "{what}: the stock-tools script passed"
        );
    }
    // Without signatures, an edit still breaks the chain at the next receipt.
    restore(&ws);
    edit_plan(&ws, "log/00000002.receipt.json", |v| {
        let body = v["body"].as_str().unwrap().replace("succeeded", "failed");
        v["body_digest"] = sha256(&body).into();
        v["body"] = body.into();
    });
    let verified = audit(&ws, &["--unsigned"]);
    assert_eq!(verified.code, 1);
    assert!(
        verified
            .stdout
            .contains("broken: `00000003.receipt.json` follows"),
        "{}",
        verified.stdout
    );
    // And apply refuses to append to a broken log, before changing anything.
    restore(&ws);
    std::fs::remove_file(ws.path().join("log/00000003.receipt.json")).unwrap();
    ws.write(
        "nhi.yaml",
        &(ws.read("nhi.yaml")
            + "  - name: extra-9\n    provider: demo\n    owner: a@example.com\n"),
    );
    ok(&run(&ws, &["plan", "-o", "p9.plan"]));
    let before = ws.bytes("estate.json");
    let refused = run(
        &ws,
        &[
            "apply",
            "p9.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::log::unusable"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), before);
}

/// Regression: an apply cut off between its receipt and its checkpoint (a killed
/// runner, a holder fenced off the S3 log) left a receipt beyond the checkpoint,
/// and every later apply refused the log ("receipt 4 exists beyond the
/// checkpoint") and every reader called it broken, until someone forged a
/// checkpoint by hand.
#[test]
fn a_receipt_cut_off_before_its_checkpoint_does_not_wedge_the_log() {
    let ws = logged();
    let checkpoint = ws.bytes("log/checkpoint.json");
    apply_round(&ws, 3);
    std::fs::write(ws.path().join("log/checkpoint.json"), &checkpoint).unwrap();

    let verified = audit(&ws, &["--trust", "trust.yaml"]);
    ok(&verified);
    assert!(
        verified
            .stdout
            .contains("receipts: 4 whole, in sequence, chained and signed by an applier")
            && verified.stdout.contains(
                "verified: the chain is intact; the checkpoint counts all but the last 1"
            ),
        "{}",
        verified.stdout
    );
    let out = stock_tools(&ws);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 after the checkpoint"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The next apply goes on after the cut-off receipt and counts it.
    apply_round(&ws, 4);
    let body = |file: &str| -> serde_json::Value {
        let sealed: serde_json::Value = serde_json::from_str(&ws.read(file)).unwrap();
        serde_json::from_str(sealed["body"].as_str().unwrap()).unwrap()
    };
    let fourth: serde_json::Value =
        serde_json::from_str(&ws.read("log/00000004.receipt.json")).unwrap();
    assert_eq!(body("log/00000005.receipt.json")["chain"]["sequence"], 5);
    assert_eq!(
        body("log/00000005.receipt.json")["chain"]["previous"],
        fourth["body_digest"]
    );
    assert_eq!(body("log/checkpoint.json")["count"], 5);
    let verified = audit(&ws, &["--trust", "trust.yaml"]);
    ok(&verified);
    assert!(
        verified
            .stdout
            .contains("verified: the chain is intact and the checkpoint counts every receipt"),
        "{}",
        verified.stdout
    );
}
