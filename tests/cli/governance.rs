//! The governance gate's outputs: findings in SARIF (checked against the
//! official schema), and `nhi audit`, the live estate judged by the same rules.

use crate::harness::{Workspace, redact, repo};

/// Validates `sarif` against the official SARIF 2.1.0 schema (tests/data) with
/// Python `jsonschema` from the test venv.
pub(crate) fn assert_valid_sarif(sarif: &str) {
    let python = repo().join(".venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the test tools are not installed: run scripts/moto-install"
        );
        return;
    }
    let check = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(json.load(sys.stdin)))\n\
        for e in errors: print(list(e.absolute_path), e.message)\n\
        sys.exit(1 if errors else 0)\n";
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(check)
        .arg(repo().join("tests/data/sarif-schema-2.1.0.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sarif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not valid SARIF 2.1.0:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fingerprints(sarif: &str) -> Vec<(String, String)> {
    let log: serde_json::Value = serde_json::from_str(sarif).unwrap();
    log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_owned(),
                r["partialFingerprints"]["nhi/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn plan_and_show_print_sarif_anchored_to_the_configuration() {
    let ws = Workspace::example("quickstart");
    let plan = ws.run(&["plan", "--format", "sarif", "-o", "q.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_valid_sarif(&plan.stdout);
    insta::assert_snapshot!("quickstart_plan_sarif", redact(&plan.stdout, &ws));
    // A saved plan renders the same, its configuration read where it says.
    let show = ws.run(&["show", "q.plan", "--format", "sarif"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(show.stdout, plan.stdout);
    // Unmanaged identities point at their provider block's line.
    let log: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let yaml = ws.read("nhi.yaml");
    let block_line = yaml
        .lines()
        .position(|l| l.trim() == "- name: demo")
        .unwrap()
        + 1;
    for result in log["runs"][0]["results"].as_array().unwrap() {
        let location = &result["locations"][0];
        let address = location["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
        if address.contains("/legacy-bot") {
            assert_eq!(
                location["physicalLocation"]["region"]["startLine"], block_line,
                "{address}"
            );
        }
        assert_eq!(
            location["physicalLocation"]["artifactLocation"]["uri"],
            "nhi.yaml"
        );
    }
    // A configuration edited since the plan: results point at its first line.
    ws.write("nhi.yaml", &format!("# edited\n{yaml}"));
    let stale = ws.run(&["show", "q.plan", "--format", "sarif"]);
    assert_eq!(stale.code, 0, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("changed since the plan was made"),
        "{}",
        stale.stderr
    );
    assert_eq!(fingerprints(&stale.stdout), fingerprints(&plan.stdout));
}

#[test]
fn sarif_fingerprints_are_the_same_across_runs_and_days() {
    let ws = Workspace::example("quickstart");
    let first = ws.run(&["audit", "--format", "sarif"]);
    let again = ws.run(&["audit", "--format", "sarif"]);
    assert_eq!(first.code, 2, "{}", first.stderr);
    assert_eq!(first.stdout, again.stdout);
    // A day later the key ages in the messages change; the fingerprints do not.
    let later = ws.run_env(
        &["audit", "--format", "sarif"],
        &[("NHI_NOW", "2026-11-23T12:00:00Z")],
    );
    assert_ne!(first.stdout, later.stdout);
    let prints = fingerprints(&first.stdout);
    assert!(prints.len() >= 5, "{prints:?}");
    assert_eq!(prints, fingerprints(&later.stdout));
    let unique: std::collections::BTreeSet<_> = prints.iter().map(|p| &p.1).collect();
    assert_eq!(unique.len(), prints.len(), "one fingerprint per finding");
    assert_valid_sarif(&first.stdout);
}

#[test]
fn audit_reports_the_live_estate_and_exits_2_at_or_above_fail_on() {
    let ws = Workspace::example("quickstart");
    let before = ws.bytes("estate.json");
    let run = ws.run(&["audit"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for text in [
        // Live today, though the plan removes it.
        "! critical admin-privilege on local.demo/identity/ci-deployer/binding/admin: grants `admin` on `*`",
        "! high     shadow-identity on local.demo/identity/legacy-bot: no configuration declares it, yet it holds 1 key and 1 binding",
        "! high     owner-missing on local.demo/identity/legacy-bot:",
        "! high     key-max-age on local.demo/identity/legacy-bot/key/",
        "fails: ",
    ] {
        assert!(run.stdout.contains(text), "{text}:\n{}", run.stdout);
    }
    insta::assert_snapshot!("quickstart_audit_text", redact(&run.stdout, &ws));
    // Read-only: no lock, no file, the estate untouched.
    assert_eq!(ws.bytes("estate.json"), before);
    let mut names: Vec<String> = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["estate.json", "nhi.yaml", "walkthrough.sh"]);
    // The admin grant is critical: still failing at the top.
    assert_eq!(ws.run(&["audit", "--fail-on", "critical"]).code, 2);
    let json = ws.run(&["audit", "--json"]);
    assert_eq!(json.code, 2);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["counts"]["critical"], 1);
    assert_eq!(
        report["unmanaged"],
        serde_json::json!(["local.demo/identity/legacy-bot"])
    );
    for finding in report["findings"].as_array().unwrap() {
        for field in ["rule", "severity", "enforcement", "address", "message"] {
            assert!(finding[field].is_string(), "{field}: {finding}");
        }
    }
    let markdown = ws.run(&["audit", "--format", "markdown"]);
    assert_eq!(markdown.code, 2);
    insta::assert_snapshot!("quickstart_audit_markdown", redact(&markdown.stdout, &ws));
    // An exception excuses the admin grant: it costs nothing and is listed.
    let yaml = ws.read("nhi.yaml");
    ws.write(
        "nhi.yaml",
        &format!(
            "{yaml}\npolicy:\n  exceptions:\n    - rule: admin-privilege\n      address: local.demo/identity/ci-deployer\n      justification: break-glass until the migration\n      expires: 2026-12-31\n"
        ),
    );
    let excused = ws.run(&["audit", "--fail-on", "critical"]);
    assert_eq!(excused.code, 0, "{}\n{}", excused.stdout, excused.stderr);
    assert!(
        excused.stdout.contains(
            "admin-privilege on local.demo/identity/ci-deployer until 2026-12-31 (1 finding): break-glass until the migration"
        ),
        "{}",
        excused.stdout
    );
    assert!(
        excused.stdout.contains("[excused until 2026-12-31]"),
        "{}",
        excused.stdout
    );
}

#[test]
fn audit_works_with_provider_blocks_alone_and_exits_1_on_error() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\n",
    );
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[\n{\"name\":\"ci\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[],\"bindings\":[{\"role\":\"admin\",\"resource\":\"*\"}]},\n{\"name\":\"quiet\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[],\"bindings\":[]}\n]}\n",
    );
    let run = ws.run(&["audit"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("! critical admin-privilege on local.demo/identity/ci/binding/admin"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("shadow-identity on local.demo/identity/ci:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 identities observed, 2 unmanaged"),
        "{}",
        run.stdout
    );
    let sarif = ws.run(&["audit", "--format", "sarif"]);
    assert_valid_sarif(&sarif.stdout);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    for result in log["runs"][0]["results"].as_array().unwrap() {
        assert_eq!(
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
    }
    // Nothing at or above the bar: 0.
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[\n{\"name\":\"quiet\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[],\"bindings\":[]}\n]}\n",
    );
    let clean = ws.run(&["audit"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert!(
        clean.stdout.contains("Audit: no findings"),
        "{}",
        clean.stdout
    );
    // An estate that cannot be read is an error: 1.
    ws.write("estate.json", "not json");
    let broken = ws.run(&["audit"]);
    assert_eq!(broken.code, 1, "{}\n{}", broken.stdout, broken.stderr);
    // A usage error too.
    assert_eq!(ws.run(&["audit", "--fail-on", "severe"]).code, 1);
    // `audit verify` is still the receipt log's check.
    let verify = ws.run(&["audit", "verify", "no-such-log", "--unsigned"]);
    assert_eq!(verify.code, 1);
    assert!(!verify.stdout.contains("Findings"), "{}", verify.stdout);
}
