//! Google's limits judged at plan, against the stand-in: the project's quota of
//! service accounts (`max_service_accounts`) and the 1,500 principals of one
//! allow policy, leftover `deleted:` members included.

use crate::flow::{Cloud as _, ok, workspace};
use crate::gcp::config;
use crate::standin::{self, PROJECT};

#[test]
fn gcp_plan_over_the_service_account_quota_is_refused_with_the_numbers() {
    let standin = standin::start();
    let ws = workspace();
    // The project holds the Compute Engine default account; two more make three.
    ws.write(
        "nhi.yaml",
        &config(&standin, "      max_service_accounts: 2", ""),
    );
    let refused = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::preflight")
            && refused.stderr.contains(
                "project `nhi-standin` would hold 3 service accounts (1 now, 2 created, 0 \
                 deleted), over its quota of 2 (`max_service_accounts`; Google's default is 100)"
            ),
        "{}",
        refused.stderr
    );
    ws.write(
        "nhi.yaml",
        &config(&standin, "      max_service_accounts: 3", ""),
    );
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
    // The default is Google's 100.
    ws.write("nhi.yaml", &config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
}

/// Fills the project policy to `total` principals: the seeded ones, ten
/// `deleted:` members an old account left, and users.
fn fill_policy(standin: &crate::standin::Standin, total: usize) {
    let mut policy = standin.policy();
    let bindings = policy["bindings"].as_array_mut().unwrap();
    let seeded: usize = bindings
        .iter()
        .map(|b| b["members"].as_array().unwrap().len())
        .sum();
    let deleted: Vec<String> = (0..10)
        .map(|i| {
            format!("deleted:serviceAccount:old-robot@{PROJECT}.iam.gserviceaccount.com?uid=10{i}")
        })
        .collect();
    let users: Vec<String> = (0..total - seeded - deleted.len())
        .map(|i| format!("user:person-{i}@example.com"))
        .collect();
    bindings.push(serde_json::json!({"role": "roles/browser", "members": deleted}));
    bindings.push(serde_json::json!({"role": "roles/viewer", "members": users}));
    standin.ok(
        "POST",
        &format!("/v3/projects/{PROJECT}:setIamPolicy"),
        &serde_json::json!({"policy": policy}).to_string(),
    );
}

#[test]
fn gcp_plan_over_the_policy_principal_limit_is_refused_with_the_numbers() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    // 1,498 now; the configuration adds three grants: 1,501.
    fill_policy(&standin, 1_498);
    let refused = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::preflight")
            && refused.stderr.contains(
                "the IAM policy of project `nhi-standin` would hold 1501 principals (1498 now, \
                 10 of them `deleted:` members of deleted accounts; 3 added, 0 removed), over \
                 Google's limit of 1500 per allow policy"
            ),
        "{}",
        refused.stderr
    );
    // One fewer fits exactly, and applies: Google (and the stand-in) accept 1,500.
    standin.ok("POST", "/_standin/reset", "");
    fill_policy(&standin, 1_497);
    let fits = standin.nhi(&ws, &["plan", "-o", "fits.plan"]);
    ok(&fits);
    ok(&standin.nhi(&ws, &["apply", "fits.plan", "--trust", "trust.yaml"]));
    let principals: usize = standin.policy()["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["members"].as_array().unwrap().len())
        .sum();
    assert_eq!(principals, 1_500);
}
