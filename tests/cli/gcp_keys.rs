//! Keys as Google Cloud treats them, against the stand-in: keys Google expires
//! (`iam.serviceAccountKeyExpiryHours`) rotated before they die and judged by the
//! plan's clock, keys Google reports leaked replaced at once, and an
//! organization policy that forbids keys refused at plan.

use crate::flow::{Cloud as _, changes, no_changes, ok, plan_and_apply, workspace};
use crate::gcp::config;
use crate::harness::{Run, Workspace};
use crate::standin::{self, PROJECT, Standin};

/// The user-managed key ids of `id`.
fn user_keys(standin: &Standin, id: &str) -> Vec<String> {
    let listed = standin.ok(
        "GET",
        &format!("{}/keys?keyTypes=USER_MANAGED", Standin::account_path(id)),
        "",
    );
    listed["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            k["name"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// `nhi` with the planning clock at `offset` from now.
fn at(ws: &Workspace, offset: jiff::SignedDuration, args: &[&str]) -> Run {
    let when = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .unwrap()
        .checked_add(offset)
        .unwrap()
        .to_string();
    ws.run_env(args, &[("NHI_NOW", &when)])
}

#[test]
fn gcp_key_google_expires_is_rotated_before_it_dies_not_after() {
    // Keys valid for one hour, as under `iam.serviceAccountKeyExpiryHours: 1`:
    // rotated once a fifth of that (12 minutes) or less remains.
    let standin = standin::start_with(&["--user-key-validity-hours", "1"]);
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    plan_and_apply(&standin, &ws, "create.plan");
    let minutes = jiff::SignedDuration::from_mins;
    // With most of its hour left: nothing to do.
    let early = at(&ws, minutes(5), &["plan", "--detailed-exitcode"]);
    assert_eq!(early.code, 0, "{}\n{}", early.stdout, early.stderr);
    // Ten minutes before Google expires it: rotated, and the plan says why.
    let late = at(&ws, minutes(50), &["plan", "-o", "rotate.plan"]);
    ok(&late);
    let found = changes(&late.stdout);
    assert_eq!(found.len(), 1, "{}", late.stdout);
    assert!(
        found[0]
            .starts_with("gcp.prod/identity/ci-deployer/key/primary will be rotated (rotation due"),
        "{}",
        late.stdout
    );
    assert!(
        late.stdout.contains("the cloud expires the key at")
            && late
                .stdout
                .contains("once 12m or less of its validity remain"),
        "{}",
        late.stdout
    );
}

#[test]
fn gcp_key_expiry_is_judged_by_the_plans_clock_not_the_wall_clock() {
    let standin = standin::start_with(&["--user-key-validity-hours", "1"]);
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    plan_and_apply(&standin, &ws, "create.plan");
    // At a planning clock two hours on, the key is dead: the provider judged
    // expiry by the wall clock, so it read as active and only "due".
    let planned = at(
        &ws,
        jiff::SignedDuration::from_hours(2),
        &["plan", "--json", "-o", "dead.plan"],
    );
    ok(&planned);
    let json: serde_json::Value = serde_json::from_str(&planned.stdout).unwrap();
    let change = &json["changes"][0];
    assert_eq!(change["reason"], "expired", "{json}");
    assert!(
        change["detail"]
            .as_str()
            .unwrap()
            .starts_with("the cloud expired the key at"),
        "{json}"
    );
    assert_eq!(change["operation"]["old"]["status"], "inactive", "{json}");
}

/// What Google records when it finds a key's private key in public.
fn leak(standin: &Standin, key: &str, disable: bool) {
    standin.ok(
        "POST",
        "/_standin/leak",
        &serde_json::json!({
            "email": format!("ci-deployer@{PROJECT}.iam.gserviceaccount.com"),
            "keyId": key,
            "kind": "exposed",
            "value": "public GitHub repository github.com/acme/leaky\u{1b}[31m",
            "disable": disable,
        })
        .to_string(),
    );
}

#[test]
fn gcp_key_google_reports_leaked_is_replaced_never_no_changes() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    plan_and_apply(&standin, &ws, "create.plan");
    let first = user_keys(&standin, "ci-deployer");
    // Exposed, and left enabled (an organization whose exposure response is
    // to wait): the plan said "No changes" while the key stayed usable.
    leak(&standin, &first[0], false);
    let drift = standin.nhi(&ws, &["drift", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["counts"]["drift"], 1, "{report}");
    assert_eq!(
        report["findings"][0]["reason"], "reported leaked",
        "{report}"
    );
    let planned = standin.nhi(&ws, &["plan", "-o", "leaked.plan"]);
    ok(&planned);
    let found = changes(&planned.stdout);
    assert_eq!(found.len(), 1, "{}", planned.stdout);
    assert!(
        found[0].starts_with(
            "gcp.prod/identity/ci-deployer/key/primary will be rotated (reported leaked"
        ),
        "{}",
        planned.stdout
    );
    assert!(
        planned.stdout.contains(&format!(
            "Google reports key `{}` leaked (KEY_EXPOSED: public GitHub repository \
             github.com/acme/leaky [31m)",
            first[0]
        )),
        "Google's words, without the escape: {}",
        planned.stdout
    );
    assert!(!planned.stdout.contains('\u{1b}'), "{}", planned.stdout);
    // The audit of the live estate names it as a critical finding.
    let audit = standin.nhi(&ws, &["audit"]);
    assert!(
        audit.stdout.contains("key-leaked"),
        "{}\n{}",
        audit.stdout,
        audit.stderr
    );
    ok(&standin.nhi(&ws, &["apply", "leaked.plan", "--trust", "trust.yaml"]));
    let second = user_keys(&standin, "ci-deployer");
    assert_eq!(second.len(), 1, "the leaked key is gone: {second:?}");
    assert_ne!(second, first);
    no_changes(&standin, &ws);

    // Disabled by Google for the exposure: still named a leak, not just "inactive".
    leak(&standin, &second[0], true);
    let planned = standin.nhi(&ws, &["plan"]);
    assert!(
        planned.stdout.contains("will be rotated (reported leaked"),
        "{}",
        planned.stdout
    );
}

#[test]
fn gcp_org_policy_forbidding_keys_is_refused_at_plan_not_at_apply() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "early.plan"]));
    standin.ok(
        "POST",
        "/_standin/orgpolicy",
        r#"{"constraint": "iam.disableServiceAccountKeyCreation", "enforce": true}"#,
    );
    let refused = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::preflight")
            && refused.stderr.contains("`gcp.prod/identity/ci-deployer`")
            && refused.stderr.contains(
                "the organization policy constraint `iam.disableServiceAccountKeyCreation` is \
                 enforced on project `nhi-standin`"
            ),
        "{}",
        refused.stderr
    );
    // The plan made before the constraint is refused before its first change.
    let applied = standin.nhi(&ws, &["apply", "early.plan", "--trust", "trust.yaml"]);
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    assert!(
        applied.stderr.contains("nhi::apply::preflight"),
        "{}",
        applied.stderr
    );
    let (status, _) = standin.call("GET", &Standin::account_path("ci-deployer"), "");
    assert_eq!(status, 404, "nothing was created");
    // A configuration without keys plans as before.
    let keyless = config(&standin, "", "").replace(
        "    keys:\n      - name: primary\n        rotate_after: 90d\n        sink: {file: secrets/ci-primary.json}\n",
        "",
    );
    ws.write("nhi.yaml", &keyless);
    ok(&standin.nhi(&ws, &["plan", "-o", "keyless.plan"]));
}
