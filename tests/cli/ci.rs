//! The example pipelines under examples/ci/ run, so they cannot rot: each file
//! is parsed, the shell steps of its jobs are taken in order and run with bash
//! against the local provider, with stand-ins for what only the CI has (a fake
//! `gh`/`glab` answering from files, `GITHUB_OUTPUT`, predefined variables).
//! Steps named "(CI only)" are skipped; a `uses:` step is stood in for by the test.

use crate::forge::{Forge, all_ok, drifted_out_of_band, yaml};

#[test]
fn the_github_workflows_plan_comment_collect_approvals_apply_and_report_drift() {
    let mut forge = Forge::new();
    // Two pushes to the pull request: one plan comment, edited.
    for _ in 0..2 {
        forge.fresh_checkout();
        let plan = forge.github("nhi-plan.yml");
        let last = all_ok(&plan);
        assert_eq!(plan[0].outputs["changes"], "true");
        assert!(plan[0].outputs["digest"].starts_with("sha256:"), "{last:?}");
        forge.upload("nhi-plan", "plan.nhi");
    }
    let comments = forge.state_json("comments.json");
    assert_eq!(comments.as_array().unwrap().len(), 1, "{comments}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- nhi-plan: nhi.yaml -->\n### nhi plan:"),
        "{body}"
    );
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(forge.state("artifacts/nhi-plan/plan.nhi")).unwrap(),
    )
    .unwrap();
    let digest = plan["body_digest"].as_str().unwrap();
    assert!(body.contains(&format!("Plan `{digest}`")), "{body}");
    // Reviewers: bob in a comment, carol in a review; one of two is not enough.
    let bob = forge.approve("bob");
    let mut comments = comments;
    comments.as_array_mut().unwrap().push(serde_json::json!({
        "id": 2, "user": {"login": "bob"}, "body": format!("LGTM\n\n{bob}\n")
    }));
    forge.set_state_json("comments.json", &comments);
    forge.fresh_checkout();
    let judged = forge.github("nhi-approvals.yml");
    all_ok(&judged);
    let statuses = forge.state_json("statuses.json");
    assert_eq!(statuses[0]["state"], "failure", "{statuses}");
    assert_eq!(statuses[0]["context"], "nhi/approvals");
    let carol = forge.approve("carol");
    forge.set_state_json(
        "reviews.json",
        &serde_json::json!([{"id": 1, "user": {"login": "carol"}, "body": carol}]),
    );
    forge.fresh_checkout();
    all_ok(&forge.github("nhi-approvals.yml"));
    assert_eq!(forge.state_json("statuses.json")[1]["state"], "success");
    // Merged: apply the approved plan under the trust policy from before.
    forge.fresh_checkout();
    let applied = forge.github("nhi-apply.yml");
    let last = all_ok(&applied);
    assert!(
        last.stdout.contains("applied; receipt.json is the record"),
        "{last:?}"
    );
    assert!(forge.checkout.path().join("receipt.json").exists());
    // Nightly: clean, then an out-of-band edit opens the issue (exit 2).
    forge.fresh_checkout();
    all_ok(&forge.github("nhi-drift.yml"));
    drifted_out_of_band(&forge);
    let drift = forge.github("nhi-drift.yml");
    assert_eq!(drift.last().unwrap().code, 2, "{drift:?}");
    let issues = forge.state_json("issues.json");
    assert_eq!(issues[0]["state"], "open");
    assert!(
        issues[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("### nhi drift: 1 drift"),
        "{issues}"
    );
}

/// The pull request that lowers the bar for itself does not get its way: the
/// apply job judges it by the trust policy from before the merge.
#[test]
fn a_merge_that_lowers_its_own_trust_policy_is_judged_by_the_one_before() {
    let mut forge = Forge::new();
    all_ok(&forge.github("nhi-plan.yml"));
    forge.upload("nhi-plan", "plan.nhi");
    let bob = forge.approve("bob");
    forge.set_state_json(
        "comments.json",
        &serde_json::json!([{"id": 1, "user": {"login": "bob"}, "body": bob}]),
    );
    forge.merge_also_writes(
        "ci/nhi-trust/trust.yaml",
        "allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n",
    );
    forge.fresh_checkout();
    let before = std::fs::read(forge.cloud()).unwrap();
    let applied = forge.github("nhi-apply.yml");
    let last = applied.last().unwrap();
    assert_eq!((last.name.as_str(), last.code), ("Apply", 1), "{applied:?}");
    assert!(
        last.stderr
            .contains("the plan's approvals do not meet the trust policy (1 counted, 2 required)"),
        "{}",
        last.stderr
    );
    assert_eq!(std::fs::read(forge.cloud()).unwrap(), before);
}

#[test]
fn the_gitlab_pipeline_plans_reports_to_the_widget_applies_and_reports_drift() {
    let mut forge = Forge::new();
    for _ in 0..2 {
        forge.fresh_checkout();
        all_ok(&forge.gitlab(&["nhi-plan"], "merge_request_event"));
        forge.upload("nhi-plan", "plan.nhi");
    }
    let notes = forge.state_json("notes.json");
    assert_eq!(notes.as_array().unwrap().len(), 1, "{notes}");
    assert!(
        notes[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("<!-- nhi-plan: nhi.yaml -->\n### nhi plan:")
    );
    let report: serde_json::Value =
        serde_json::from_str(&forge.checkout.read("nhi-report.json")).unwrap();
    assert_eq!(
        report,
        serde_json::json!({"create": 6, "update": 2, "delete": 7})
    );
    let mut notes = notes;
    for who in ["bob", "carol"] {
        let line = forge.approve(who);
        notes.as_array_mut().unwrap().push(serde_json::json!({
            "id": 9, "author": {"username": who}, "body": format!("approved:\n{line}")
        }));
    }
    forge.set_state_json("notes.json", &notes);
    forge.fresh_checkout();
    // The approvals job reads the artifact of the plan job of its pipeline.
    std::fs::copy(
        forge.state("artifacts/nhi-plan/plan.nhi"),
        forge.checkout.path().join("plan.nhi"),
    )
    .unwrap();
    all_ok(&forge.gitlab(&["nhi-approvals"], "merge_request_event"));
    forge.fresh_checkout();
    let applied = forge.gitlab(&["nhi-apply"], "push");
    let last = all_ok(&applied);
    assert!(
        last.stdout.contains("applied; receipt.json is the record"),
        "{last:?}"
    );
    forge.fresh_checkout();
    all_ok(&forge.gitlab(&["nhi-drift"], "schedule"));
    drifted_out_of_band(&forge);
    let drift = forge.gitlab(&["nhi-drift"], "schedule");
    assert_eq!(drift.last().unwrap().code, 2, "{drift:?}");
    let issues = forge.state_json("issues.json");
    assert_eq!(issues[0]["state"], "opened");
    assert_eq!(issues[0]["labels"], "nhi-drift");
}

/// What the tests stand in for is what the files name: the plan artifact, the
/// widget's report; and a step that needs the real CI is named so, and only
/// installing nhi does.
#[test]
fn the_stand_ins_match_the_files_and_only_installing_nhi_needs_the_real_ci() {
    let plan = yaml("examples/ci/github/nhi-plan.yml");
    let upload = plan["jobs"]["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["uses"] == "actions/upload-artifact@v4")
        .unwrap();
    assert_eq!(upload["with"]["name"], "nhi-plan");
    assert_eq!(upload["with"]["path"], "plan.nhi");
    let gitlab = yaml("examples/ci/gitlab/.gitlab-ci.yml");
    let artifacts = &gitlab["nhi-plan"]["artifacts"];
    assert_eq!(artifacts["paths"], serde_json::json!(["plan.nhi"]));
    assert_eq!(artifacts["reports"]["terraform"], "nhi-report.json");
    assert_eq!(
        gitlab["nhi-approvals"]["needs"],
        serde_json::json!(["nhi-plan"])
    );
    for file in [
        "nhi-plan.yml",
        "nhi-approvals.yml",
        "nhi-apply.yml",
        "nhi-drift.yml",
    ] {
        let workflow = yaml(&format!("examples/ci/github/{file}"));
        for job in workflow["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().unwrap() {
                let name = step["name"].as_str().unwrap_or_default();
                if name.contains("(CI only)") {
                    assert_eq!(name, "Install nhi (CI only)", "{file}");
                }
            }
        }
    }
}
