//! `nhi revoke` against the clouds: AWS on moto (deactivated access keys,
//! detached policies, sessions cut with an inline deny on
//! `aws:TokenIssueTime`), GCP on the stand-in (disabled keys and accounts,
//! removed bindings); and later plans refused while they would undo it.

use crate::flow::{Cloud as _, ok, plan_and_apply, workspace};
use crate::revoke::on_call_in;
use crate::standin::{self, Standin};

fn revoke_args<'a>(addresses: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["revoke"];
    args.extend_from_slice(addresses);
    args.extend_from_slice(&[
        "--reason",
        "incident 42",
        "--key",
        "oncall.key",
        "--trust",
        "trust.yaml",
    ]);
    args
}

#[test]
fn aws_revoke_deactivates_keys_detaches_policies_and_cuts_sessions() {
    let Some(moto) = crate::moto::start() else {
        return;
    };
    let ws = workspace();
    ws.write("nhi.yaml", &crate::aws::config(false, ""));
    plan_and_apply(&moto, &ws, "create.plan");
    on_call_in(&ws);
    let out = moto.nhi(
        &ws,
        &revoke_args(&[
            "aws.prod/identity/ci-deployer/key/primary",
            "aws.prod/identity/ci-deployer/binding/arn:aws:iam::aws:policy/ReadOnlyAccess",
            "aws.prod/identity/app-runtime",
            "--emit-patch",
        ]),
    );
    ok(&out);
    assert!(
        out.stdout
            .contains("+      - role: inline:nhi-revoke-sessions"),
        "the patch keeps the session deny: {}",
        out.stdout
    );
    let live = moto.boto(
        "print([k['Status'] for k in iam.list_access_keys(UserName='ci-deployer')['AccessKeyMetadata']])\n\
         print([p['PolicyArn'] for p in iam.list_attached_user_policies(UserName='ci-deployer')['AttachedPolicies']])\n\
         print(iam.list_user_policies(UserName='ci-deployer')['PolicyNames'])\n\
         d = iam.get_role_policy(RoleName='app-runtime', PolicyName='nhi-revoke-sessions')['PolicyDocument']\n\
         print(json.dumps(d, sort_keys=True))",
    );
    let lines: Vec<&str> = live.lines().collect();
    assert_eq!(lines[0], "['Inactive']", "{live}");
    assert_eq!(lines[1], "[]", "{live}");
    assert!(lines[2].contains("nhi-revoke-sessions"), "{live}");
    assert!(
        lines[3].contains("\"DateLessThan\": {\"aws:TokenIssueTime\":")
            && lines[3].contains("\"Effect\": \"Deny\""),
        "{live}"
    );
    // The next plan would mint the key again, and drop the session deny.
    let refused = moto.nhi(&ws, &["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::revoked"),
        "{}",
        refused.stderr
    );
}

#[test]
fn gcp_revoke_disables_keys_and_accounts_and_removes_bindings() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &crate::gcp::config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
    ok(&standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]));
    on_call_in(&ws);
    let out = standin.nhi(
        &ws,
        &revoke_args(&[
            "gcp.prod/identity/ci-deployer/key/primary",
            "gcp.prod/identity/ci-deployer/binding/roles/storage.objectViewer",
            "gcp.prod/identity/app-runtime",
        ]),
    );
    ok(&out);
    assert!(
        out.stderr.contains("no sessions to revoke"),
        "sessions gcp lacks are said: {}",
        out.stderr
    );
    let keys = standin.ok(
        "GET",
        &format!(
            "{}/keys?keyTypes=USER_MANAGED",
            Standin::account_path("ci-deployer")
        ),
        "",
    );
    let disabled: Vec<_> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["disabled"].clone())
        .collect();
    assert_eq!(disabled, vec![serde_json::json!(true)], "{keys}");
    let account = standin.ok("GET", &Standin::account_path("app-runtime"), "");
    assert_eq!(account["disabled"], true, "{account}");
    let roles = standin.roles_of(&crate::gcp::member("ci-deployer"));
    assert!(
        !roles.iter().any(|r| r == "roles/storage.objectViewer"),
        "{roles:?}"
    );
    let refused = standin.nhi(&ws, &["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::revoked"),
        "{}",
        refused.stderr
    );
}
