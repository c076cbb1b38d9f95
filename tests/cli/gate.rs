//! The governance gate end to end: findings recorded in the signed plan, a plan
//! that lost one refused, hard findings that write no plan, exceptions, and the
//! `policy:` section's errors.

use crate::team::{apply, approved_plan, ok, refuses, rewrite_body, run, team};

fn body_of(ws: &crate::harness::Workspace, plan: &str) -> serde_json::Value {
    let file: serde_json::Value = serde_json::from_str(&ws.read(plan)).unwrap();
    serde_json::from_str(file["body"].as_str().unwrap()).unwrap()
}

fn findings(ws: &crate::harness::Workspace, plan: &str) -> Vec<(String, String, String)> {
    body_of(ws, plan)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["address"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A plan whose findings of `rule` were removed, resealed, then signed by its
/// author and approved by the team: what a malicious author can produce.
/// Returns how many findings were removed.
fn plan_signed_without(ws: &crate::harness::Workspace, plan: &str, rule: &str) -> usize {
    ok(&run(ws, &["plan", "-o", plan]));
    let mut file: serde_json::Value = serde_json::from_str(&ws.read(plan)).unwrap();
    let mut body: serde_json::Value = serde_json::from_str(file["body"].as_str().unwrap()).unwrap();
    let before = body["findings"].as_array().unwrap().len();
    body["findings"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["rule"] != rule);
    let removed = before - body["findings"].as_array().unwrap().len();
    assert!(removed > 0, "the plan holds a `{rule}` finding");
    let text = serde_json::to_string(&body).unwrap();
    file["body_digest"] = crate::team::sha256(&text).into();
    file["body"] = text.into();
    ws.write(plan, &serde_json::to_string_pretty(&file).unwrap());
    ok(&run(ws, &["sign", plan, "--key", "alice.key"]));
    for who in ["bob", "carol"] {
        ok(&run(
            ws,
            &["approve", plan, "--key", &format!("{who}.key"), "--yes"],
        ));
    }
    removed
}

/// The quickstart with web-api granted `admin` on `*`: a finding on a change.
fn with_admin_grant(ws: &crate::harness::Workspace) {
    let config = ws.read("nhi.yaml");
    let granted = config.replacen(
        "      - role: queue-publisher\n        resource: queue/orders\n",
        "      - role: queue-publisher\n        resource: queue/orders\n      - role: admin\n",
        1,
    );
    assert_ne!(granted, config);
    ws.write("nhi.yaml", &granted);
}

#[test]
fn the_plan_records_findings_on_its_changes_and_on_the_estate() {
    let ws = team();
    with_admin_grant(&ws);
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let found = findings(&ws, "p.plan");
    let has = |rule: &str, address: &str, subject: &str| {
        found
            .iter()
            .any(|f| f.0 == rule && f.1 == address && f.2 == subject)
    };
    assert!(
        has(
            "admin-privilege",
            "local.demo/identity/web-api/binding/admin",
            "change"
        ),
        "{found:?}"
    );
    assert!(
        has("shadow-identity", "local.demo/identity/legacy-bot", "state"),
        "{found:?}"
    );
    assert!(
        has(
            "key-max-age",
            "local.demo/identity/legacy-bot/key/LK9W4E6R2T8Y1U3I5O7P",
            "state"
        ),
        "{found:?}"
    );
    assert!(
        has("owner-missing", "local.demo/identity/legacy-bot", "state"),
        "{found:?}"
    );
}

#[test]
fn a_plan_whose_findings_on_changes_were_dropped_is_refused_as_inconsistent() {
    let ws = team();
    with_admin_grant(&ws);
    approved_plan(&ws, "t.plan");
    let file: serde_json::Value = serde_json::from_str(&ws.read("t.plan")).unwrap();
    let body = file["body"].as_str().unwrap();
    let granted =
        "\"address\":\"local.demo/identity/web-api/binding/admin\",\"rule\":\"admin-privilege\"";
    assert!(body.contains(granted), "{body}");
    rewrite_body(
        &ws,
        "t.plan",
        granted,
        &granted.replace("admin-privilege", "key-max-age"),
    );
    refuses(&ws, "t.plan", "nhi::plan::inconsistent");
    let verified = run(&ws, &["verify", "t.plan", "--trust", "trust.yaml"]);
    assert!(
        verified.stderr.contains("the finding `admin-privilege` on `local.demo/identity/web-api/binding/admin` that its changes give is not recorded as they give it"),
        "{}",
        verified.stderr
    );
}

/// An author who signs a plan after removing a finding on the estate (so that
/// a `when: finding:` rule asks for fewer approvals) is caught at apply, which
/// judges the live estate again.
#[test]
fn a_signed_plan_missing_a_finding_on_the_estate_is_refused_at_apply() {
    let ws = team();
    assert_eq!(plan_signed_without(&ws, "t.plan", "shadow-identity"), 1);
    let refused = refuses(&ws, "t.plan", "nhi::apply::unjudged");
    assert!(
        refused.stderr.contains("`local.demo/identity/legacy-bot`: shadow-identity (high): no configuration declares it, yet it holds 1 key and 1 binding"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_hard_finding_writes_no_plan_until_an_exception_excuses_it() {
    let ws = team();
    let config = ws.read("nhi.yaml");
    let hard = format!("{config}\npolicy:\n  enforcement:\n    shadow-identity: hard\n");
    ws.write("nhi.yaml", &hard);
    let refused = run(&ws, &["plan", "-o", "p.plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::hard_finding"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("`local.demo/identity/legacy-bot`: shadow-identity (high)"),
        "{}",
        refused.stderr
    );
    assert!(!ws.path().join("p.plan").exists(), "no plan is written");
    let excused = format!(
        "{hard}  exceptions:\n    - rule: shadow-identity\n      address: local.demo/identity/legacy-bot\n      justification: owned by the migration, removed in Q1\n      expires: 2099-03-31\n"
    );
    ws.write("nhi.yaml", &excused);
    ok(&run(&ws, &["plan", "-o", "p.plan"]));
    let body = body_of(&ws, "p.plan");
    let shadow = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "shadow-identity")
        .unwrap()
        .clone();
    assert_eq!(shadow["enforcement"], "hard");
    assert_eq!(
        shadow["exception"],
        serde_json::json!({"justification": "owned by the migration, removed in Q1", "expires": "2099-03-31"})
    );
    let expired = excused.replace("2099-03-31", "2020-03-31");
    ws.write("nhi.yaml", &expired);
    assert_eq!(
        run(&ws, &["plan", "-o", "q.plan"]).code,
        1,
        "an expired exception excuses nothing"
    );
}

#[test]
fn a_trust_rule_on_a_finding_raises_the_bar_whatever_the_configuration_says() {
    let ws = team();
    with_admin_grant(&ws);
    let trust = ws.read("trust.yaml");
    ws.write(
        "trust.yaml",
        &format!("{trust}  - when: finding:admin-privilege\n    required: 3\n"),
    );
    assert!(
        ws.read("trust.yaml").contains("rules:\n"),
        "the team policy has rules"
    );
    approved_plan(&ws, "p.plan");
    let refused = refuses(&ws, "p.plan", "nhi::trust::insufficient_approvals");
    assert!(
        refused
            .stderr
            .contains("`admin-privilege` findings require 3 distinct approvers"),
        "{}",
        refused.stderr
    );
    // Without the grant, and with legacy-bot's `editor` grant excused (an
    // exception every plan lists), the team's two approvals do.
    let quickstart = crate::harness::repo().join("examples/quickstart/nhi.yaml");
    let excused = format!(
        "{}\npolicy:\n  exceptions:\n    - rule: admin-privilege\n      address: local.demo/identity/legacy-bot\n      justification: retired with the old CI, ticket OPS-12\n      expires: 2099-01-31\n",
        std::fs::read_to_string(quickstart).unwrap()
    );
    ws.write("nhi.yaml", &excused);
    approved_plan(&ws, "q.plan");
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn policy_section_errors_point_at_the_line() {
    let ws = team();
    let config = ws.read("nhi.yaml");
    ws.write(
        "nhi.yaml",
        &format!(
            "{config}\npolicy:\n  key_max_age: 90 days\n  enforcement:\n    admin-privilige: hard\n  exceptions:\n    - rule: admin-privilege\n      address: local.demo/identity/ci-deployer\n      expires: 2027-01-31\n"
        ),
    );
    let out = run(&ws, &["validate"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for expected in [
        "`90 days` is not a valid duration",
        "unknown rule `admin-privilige`",
        "did you mean `admin-privilege`?",
        "an exception has no `justification`",
    ] {
        assert!(
            out.stderr.contains(expected),
            "`{expected}` in:\n{}",
            out.stderr
        );
    }
}

/// The quickstart judged with the example Rego bundle, `rego:ci.no-keys` made
/// soft so that the plan is written.
fn with_rego(ws: &crate::harness::Workspace) {
    let policies = crate::harness::repo().join("examples/policies");
    std::fs::create_dir_all(ws.path().join("policies")).unwrap();
    for entry in std::fs::read_dir(policies).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            ws.path().join("policies").join(entry.file_name()),
        )
        .unwrap();
    }
    let config = ws.read("nhi.yaml");
    ws.write(
        "nhi.yaml",
        &format!(
            "{config}\npolicy:\n  rego: [policies/]\n  enforcement:\n    rego:ci.no-keys: soft\n"
        ),
    );
}

#[test]
fn org_policies_in_rego_are_judged_recorded_and_judged_again_at_apply() {
    let ws = team();
    with_rego(&ws);
    // Hard by default (`deny`): no plan.
    let config = ws.read("nhi.yaml");
    ws.write(
        "nhi.yaml",
        &config.replace("    rego:ci.no-keys: soft\n", "    default: advisory\n"),
    );
    let refused = run(&ws, &["plan", "-o", "p.plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("`local.demo/identity/ci-deployer`: rego:ci.no-keys (high): CI identity `ci-deployer` declares key `primary`"),
        "{}",
        refused.stderr
    );
    ws.write("nhi.yaml", &config);
    approved_plan(&ws, "p.plan");
    let body = body_of(&ws, "p.plan");
    let finding = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "rego:ci.no-keys")
        .unwrap()
        .clone();
    assert_eq!(finding["enforcement"], "soft");
    assert_eq!(finding["address"], "local.demo/identity/ci-deployer");
    let digest = body["policy"]["rego"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    // The bundle changed after approval: refused, nothing changes.
    let ci = ws.read("policies/ci.rego");
    ws.write(
        "policies/ci.rego",
        &format!("{ci}\n# edited after review\n"),
    );
    refuses(&ws, "p.plan", "nhi::apply::rego_changed");
    ws.write("policies/ci.rego", &ci);
    // A trust policy pinning another bundle refuses it; pinning this one applies.
    let trust = ws.read("trust.yaml");
    ws.write(
        "trust.yaml",
        &format!("{trust}policy_bundle: sha256:{}\n", "0".repeat(64)),
    );
    refuses(&ws, "p.plan", "nhi::trust::policy_bundle");
    ws.write("trust.yaml", &format!("{trust}policy_bundle: {digest}\n"));
    ok(&apply(&ws, "p.plan"));
}

#[test]
fn a_signed_plan_missing_an_org_policy_finding_is_refused_at_apply() {
    let ws = team();
    with_rego(&ws);
    plan_signed_without(&ws, "t.plan", "rego:ci.no-keys");
    let refused = refuses(&ws, "t.plan", "nhi::apply::unjudged");
    assert!(
        refused.stderr.contains("rego:ci.no-keys"),
        "{}",
        refused.stderr
    );
}

#[test]
fn policy_test_reads_the_configurations_bundle_and_prints_its_digest() {
    let ws = team();
    with_rego(&ws);
    let out = run(&ws, &["policy", "test"]);
    ok(&out);
    assert!(out.stdout.contains("PASS: 9/9"), "{}", out.stdout);
    assert!(
        out.stderr.contains("bundle digest: sha256:"),
        "{}",
        out.stderr
    );
}
