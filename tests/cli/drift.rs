//! `nhi drift`: the read-only report for schedules, by class, with exit codes a
//! pipeline branches on.

use crate::harness::{Workspace, redact};

#[test]
fn drift_reports_each_class_and_exits_2_when_something_is_found() {
    let ws = Workspace::example("quickstart");
    let before = ws.bytes("estate.json");
    let found = ws.run(&["drift"]);
    assert_eq!(found.code, 2, "{}\n{}", found.stdout, found.stderr);
    for text in [
        "Drift: live objects that differ from the configuration, or are missing:",
        "  local.demo/identity/ci-deployer/binding/admin (differs; apply would have it deleted): not declared in the configuration",
        "Unmanaged: identities in scope the configuration does not declare:",
        "  local.demo/identity/legacy-bot (unmanaged; apply would only report it)",
        "Due: keys past their rotation age or unused, objects past their expiry:",
        "  local.demo/identity/ci-deployer/key/primary (rotation due; apply would have it rotated): key is",
        "Found: 8 drift, 1 unmanaged, 6 due (checked 2026-11-22T12:00:00Z).",
    ] {
        assert!(found.stdout.contains(text), "{text}:\n{}", found.stdout);
    }
    // Read-only: no lock, no plan file, the estate untouched.
    assert_eq!(ws.bytes("estate.json"), before);
    let mut names: Vec<String> = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["estate.json", "nhi.yaml", "walkthrough.sh"]);
    // Only the classes named make it exit 2.
    let unmanaged_only = ws.run(&["drift", "--fail-on", "unmanaged"]);
    assert_eq!(unmanaged_only.code, 2);
    let json = ws.run(&["drift", "--json"]);
    assert_eq!(json.code, 2);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        report["counts"],
        serde_json::json!({"drift": 8, "unmanaged": 1, "due": 6})
    );
    let markdown = ws.run(&["drift", "--format", "markdown"]);
    assert_eq!(markdown.code, 2);
    insta::assert_snapshot!("quickstart_drift_markdown", redact(&markdown.stdout, &ws));
}

#[test]
fn drift_exits_0_when_nothing_of_the_failing_classes_is_found() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: ci\n    provider: demo\n    owner: a@example.com\n",
    );
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[\n{\"name\":\"ci\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[],\"bindings\":[]},\n{\"name\":\"stray\",\"kind\":\"service_account\",\"owner\":\"x@example.com\",\"keys\":[],\"bindings\":[]}\n]}\n",
    );
    let found = ws.run(&["drift", "--fail-on", "drift,due"]);
    assert_eq!(found.code, 0, "{}\n{}", found.stdout, found.stderr);
    assert!(
        found.stdout.contains("Found: 0 drift, 1 unmanaged, 0 due"),
        "{}",
        found.stdout
    );
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[\n{\"name\":\"ci\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[],\"bindings\":[]}\n]}\n",
    );
    let clean = ws.run(&["drift"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(
        clean.stdout.contains(
            "No drift: live state matches the configuration, nothing unmanaged, nothing due"
        ),
        "{}",
        clean.stdout
    );
}

#[test]
fn drift_reports_an_unused_key_as_due_and_speaks_sarif() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: ci\n    provider: demo\n    owner: a@example.com\n    keys:\n      - name: primary\n        sink: {file: ci.key}\n",
    );
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[\n{\"name\":\"ci\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[{\"id\":\"LK3H8D2K5N7B1C4F6G9J\",\"name\":\"primary\",\"created\":\"2026-11-01T09:00:00Z\",\"status\":\"active\",\"last_used\":\"2026-09-01T10:00:00Z\"}],\"bindings\":[]},\n{\"name\":\"stray\",\"kind\":\"service_account\",\"owner\":\"x@example.com\",\"keys\":[],\"bindings\":[]}\n]}\n",
    );
    // No change acts on the key (no rotate_after), yet the gate finds it
    // unused past the policy's 45 days: that is due.
    let found = ws.run(&["drift", "--fail-on", "due"]);
    assert_eq!(found.code, 2, "{}\n{}", found.stdout, found.stderr);
    assert!(
        found.stdout.contains(
            "  local.demo/identity/ci/key/primary (key-unused; apply would only report it): "
        ),
        "{}",
        found.stdout
    );
    assert!(
        found.stdout.contains("Found: 0 drift, 1 unmanaged, 1 due"),
        "{}",
        found.stdout
    );
    let sarif = ws.run(&["drift", "--format", "sarif"]);
    assert_eq!(sarif.code, 2, "{}", sarif.stderr);
    crate::governance::assert_valid_sarif(&sarif.stdout);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    let results: Vec<(String, String, u64)> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let at = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap().to_owned(),
                r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                at["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (
                "unmanaged".to_owned(),
                "local.demo/identity/stray".to_owned(),
                3
            ),
            (
                "key-unused".to_owned(),
                "local.demo/identity/ci/key/primary".to_owned(),
                11
            ),
        ]
    );
}
