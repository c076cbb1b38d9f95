//! Google Cloud IAM as real Google behaves, against the stand-in: key records
//! that keep only live keys and room for a rotation, Google-created accounts left
//! alone, propagation and quota windows ridden out, conditions by title, leftovers
//! of hand-deleted accounts, and Secret Manager secrets that are not nhi's.

use crate::flow::{Cloud as _, changes, no_changes, ok, plan_and_apply, workspace};
use crate::gcp::{config, member};
use crate::standin::{self, PROJECT, Standin};

/// The user-managed keys of `id`, as `keys.list` shows them.
fn user_keys(standin: &Standin, id: &str) -> Vec<String> {
    let listed = standin.ok(
        "GET",
        &format!("{}/keys?keyTypes=USER_MANAGED", Standin::account_path(id)),
        "",
    );
    listed["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
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
        })
        .unwrap_or_default()
}

/// The key ids nhi's record on `id`'s description names.
fn recorded_key_ids(standin: &Standin, id: &str) -> Vec<String> {
    let account = standin.ok("GET", &Standin::account_path(id), "");
    let description = account["description"].as_str().unwrap_or("");
    let line = description.lines().last().unwrap();
    let record: serde_json::Value =
        serde_json::from_str(line.strip_prefix("nhi:").unwrap()).unwrap();
    record["keys"]
        .as_object()
        .map(|keys| keys.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn gcp_keys_deleted_by_hand_never_use_up_the_description() {
    let standin = standin::start();
    let ws = workspace();
    // Room for the record of a key and its rotation, not for a third id.
    let description = format!("Deploys from CI{}", ".".repeat(65));
    ws.write(
        "nhi.yaml",
        &config(&standin, "", "").replace("Deploys from CI", &description),
    );
    plan_and_apply(&standin, &ws, "create.plan");
    for round in 0..3 {
        // Someone deletes the key with the console; nhi makes a new one.
        for key in user_keys(&standin, "ci-deployer") {
            standin.ok(
                "DELETE",
                &format!("{}/keys/{key}", Standin::account_path("ci-deployer")),
                "",
            );
        }
        let planned = standin.nhi(&ws, &["plan", "-o", &format!("again-{round}.plan")]);
        ok(&planned);
        assert!(
            planned
                .stdout
                .contains("Plan: 1 to create, 0 to update, 0 to rotate, 0 to delete."),
            "{}",
            planned.stdout
        );
        let applied = standin.nhi(
            &ws,
            &[
                "apply",
                &format!("again-{round}.plan"),
                "--trust",
                "trust.yaml",
            ],
        );
        ok(&applied);
        let live = user_keys(&standin, "ci-deployer");
        assert_eq!(live.len(), 1, "round {round}: {live:?}");
        assert_eq!(
            recorded_key_ids(&standin, "ci-deployer"),
            live,
            "round {round}: only the live key is recorded"
        );
    }
    no_changes(&standin, &ws);
}

#[test]
fn gcp_firebase_accounts_in_the_project_domain_are_never_pruned() {
    let standin = standin::start();
    let ws = workspace();
    // What Firebase adds to a project, in the project's own domain.
    for id in ["firebase-adminsdk-fbsvc", "firebase-app-hosting-compute"] {
        standin.ok(
            "POST",
            &format!("/v1/projects/{PROJECT}/serviceAccounts"),
            &format!(r#"{{"accountId": "{id}", "serviceAccount": {{"displayName": "Firebase"}}}}"#),
        );
    }
    ws.write(
        "nhi.yaml",
        &config(&standin, "", "").replace("prune: false", "prune: true"),
    );
    let planned = plan_and_apply(&standin, &ws, "create.plan");
    assert!(
        planned.contains("Plan: 6 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{planned}"
    );
    assert!(!planned.contains("firebase"), "{planned}");
    no_changes(&standin, &ws);
    for id in ["firebase-adminsdk-fbsvc", "firebase-app-hosting-compute"] {
        standin.ok("GET", &Standin::account_path(id), "");
    }
    // Declaring one is refused before anything is read.
    ws.write(
        "nhi.yaml",
        &config(&standin, "", "")
            .replace("name: app-runtime", "name: firebase-app-hosting-compute"),
    );
    let refused = ws.run(&["validate"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        format!("{}{}", refused.stdout, refused.stderr).contains("Firebase creates and manages"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
}

#[test]
fn gcp_new_accounts_google_does_not_show_yet_are_waited_for() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
    // Google: a new account may take 60 s or more to be usable. Here: 3 s.
    standin.ok("POST", "/_standin/propagation", r#"{"seconds": 3}"#);
    standin.ok("DELETE", "/_standin/calls", "");
    let applied = standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]);
    ok(&applied);
    let calls = standin.ok("GET", "/_standin/calls", "");
    let log = calls["log"].as_array().unwrap();
    let refused = |method: &str| {
        log.iter()
            .filter(|e| e["method"] == method && e["status"] != 200)
            .count()
    };
    // The wait is visible in what Google was asked: refusals, then success.
    assert!(refused("setIamPolicy") >= 1, "{calls}");
    let first = log.first().unwrap()["at"].as_f64().unwrap();
    let last = log.last().unwrap()["at"].as_f64().unwrap();
    assert!(
        last - first >= 3.0,
        "the apply outlasted the delay: {calls}"
    );
    assert_eq!(
        standin.roles_of(&member("ci-deployer")),
        [
            "roles/pubsub.publisher?release-topics",
            "roles/storage.objectViewer"
        ]
    );
    assert!(ws.path().join("secrets/ci-primary.json").exists());
    no_changes(&standin, &ws);
}

#[test]
fn gcp_quota_errors_are_waited_out_as_google_asks() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    // More quota errors in a row than `max_attempts` (5), each saying when to
    // try again: a quota window is ridden out, not five quick retries.
    standin.ok(
        "POST",
        "/_standin/faults",
        r#"{"method": "serviceAccounts.list", "fault": "429", "count": 7, "retryDelay": 0.4}"#,
    );
    standin.ok("DELETE", "/_standin/calls", "");
    let planned = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    ok(&planned);
    let calls = standin.ok("GET", "/_standin/calls", "");
    // The read's listing: seven refusals, then its page (the preflight's
    // count of the project's accounts, for its quota, lists it once more).
    let listings: Vec<&serde_json::Value> = calls["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "serviceAccounts.list")
        .collect();
    let first_page = listings.iter().position(|e| e["status"] == 200).unwrap();
    let times: Vec<f64> = listings[..=first_page]
        .iter()
        .map(|e| e["at"].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 8, "{times:?} {calls}");
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= 0.39,
            "each retry waited the retryDelay Google gave: {times:?}"
        );
    }
}

#[test]
fn gcp_two_conditions_of_one_title_are_drift_not_an_unplannable_project() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    plan_and_apply(&standin, &ws, "create.plan");
    // Someone widens the conditional grant under the same title (Google allows
    // duplicate titles): the release topics, and now everything.
    let mut policy = standin.policy();
    policy["bindings"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "role": "roles/pubsub.publisher",
            "members": [member("ci-deployer")],
            "condition": {"title": "release-topics", "expression": "true"}
        }));
    standin.ok(
        "POST",
        &format!("/v3/projects/{PROJECT}:setIamPolicy"),
        &serde_json::json!({"policy": policy}).to_string(),
    );
    let drift = standin.nhi(&ws, &["plan", "-o", "drift.plan"]);
    ok(&drift);
    let found = changes(&drift.stdout);
    assert_eq!(found.len(), 1, "{}", drift.stdout);
    assert!(
        found[0].starts_with(
            "gcp.prod/identity/ci-deployer/binding/roles/pubsub.publisher@condition:release-topics will be updated in place"
        ),
        "{}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains(r#""true""#),
        "the widened grant is shown: {}",
        drift.stdout
    );
    ok(&standin.nhi(&ws, &["apply", "drift.plan", "--trust", "trust.yaml"]));
    let conditions: Vec<serde_json::Value> = standin.policy()["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            b["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| *m == member("ci-deployer"))
                && b["role"] == "roles/pubsub.publisher"
        })
        .map(|b| b["condition"]["expression"].clone())
        .collect();
    assert_eq!(
        conditions,
        [serde_json::json!(format!(
            "resource.name.startsWith(\"projects/{PROJECT}/topics/release-\")"
        ))],
        "only the configured condition is left"
    );
    no_changes(&standin, &ws);
}

#[test]
fn gcp_account_deleted_by_hand_is_created_anew_without_its_leftover_members() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    plan_and_apply(&standin, &ws, "create.plan");
    // Deleted with the console: Google keeps its grants as
    // `deleted:serviceAccount:<email>?uid=<id>` members.
    standin.ok("DELETE", &Standin::account_path("ci-deployer"), "");
    let gone = format!("deleted:serviceAccount:ci-deployer@{PROJECT}.iam.gserviceaccount.com?uid=");
    let leftovers = |standin: &Standin| -> usize {
        standin.policy()["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["members"].as_array().unwrap())
            .filter(|m| m.as_str().unwrap().starts_with(&gone))
            .count()
    };
    assert_eq!(leftovers(&standin), 2, "{}", standin.policy());
    let uid = standin.policy()["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["members"].as_array().unwrap())
        .find_map(|m| m.as_str().unwrap().strip_prefix(&gone).map(str::to_owned))
        .unwrap();
    // Not silently "new": drift that says it was deleted by hand, and how to
    // undelete it instead.
    let drift = standin.nhi(&ws, &["drift", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(
        finding["address"], "gcp.prod/identity/ci-deployer",
        "{report}"
    );
    assert_eq!(finding["class"], "drift", "{report}");
    assert_eq!(finding["reason"], "differs", "{report}");
    let detail = finding["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "`ci-deployer@{PROJECT}.iam.gserviceaccount.com` was deleted outside nhi: the \
             project policy still names it as `deleted:serviceAccount:…` (uid {uid}, still \
             granted roles/pubsub.publisher, roles/storage.objectViewer)"
        )) && detail.contains(&format!("`gcloud iam service-accounts undelete {uid}`")),
        "{detail}"
    );
    let again = plan_and_apply(&standin, &ws, "again.plan");
    assert!(
        again.contains("Plan: 4 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{again}"
    );
    assert!(
        again.contains("gcp.prod/identity/ci-deployer will be created (differs; risk: low)"),
        "{again}"
    );
    assert_eq!(leftovers(&standin), 0, "{}", standin.policy());
    assert_eq!(
        standin.roles_of(&member("ci-deployer")),
        [
            "roles/pubsub.publisher?release-topics",
            "roles/storage.objectViewer"
        ]
    );
    no_changes(&standin, &ws);
}

#[test]
fn gcp_secret_manager_sink_never_writes_into_another_team_secret() {
    let standin = standin::start();
    let ws = workspace();
    let config = config(&standin, "", "").replace(
        "sink: {file: secrets/ci-primary.json}",
        "sink: {gcp_secret_manager: {secret_id: db-password}}",
    );
    ws.write("nhi.yaml", &config);
    // Planned before the other team's secret existed.
    ok(&standin.nhi(&ws, &["plan", "-o", "early.plan"]));
    // Another team's secret, made by hand, with the id the configuration names.
    standin.ok(
        "POST",
        &format!("/v1/projects/{PROJECT}/secrets?secretId=db-password"),
        r#"{"replication": {"automatic": {}}, "labels": {"team": "data"}}"#,
    );
    standin.ok(
        "POST",
        &format!("/v1/projects/{PROJECT}/secrets/db-password:addVersion"),
        r#"{"payload": {"data": "aHVudGVyMg=="}}"#,
    );
    // At plan, before anyone approves.
    let planned = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    assert_eq!(planned.code, 1, "{}\n{}", planned.stdout, planned.stderr);
    assert!(
        planned.stderr.contains("nhi::plan::preflight")
            && planned.stderr.contains(
                "secret `db-password` exists and is not kept for service account `ci-deployer`"
            ),
        "{}",
        planned.stderr
    );
    // And at apply of the earlier plan, before its first change.
    let refused = standin.nhi(&ws, &["apply", "early.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("nhi::apply::preflight")
            && refused.stderr.contains(
                "secret `db-password` exists and is not kept for service account `ci-deployer`"
            ),
        "{}",
        refused.stderr
    );
    // Nothing was created, and the other team's secret is as it was.
    let (status, _) = standin.call("GET", &Standin::account_path("ci-deployer"), "");
    assert_eq!(status, 404, "the account was not created");
    let latest = standin.ok(
        "GET",
        &format!("/v1/projects/{PROJECT}/secrets/db-password/versions/latest:access"),
        "",
    );
    assert_eq!(latest["payload"]["data"], "aHVudGVyMg==");
    assert!(
        latest["name"].as_str().unwrap().ends_with("/versions/1"),
        "{latest}"
    );
}

#[test]
fn gcp_validate_refuses_a_description_that_leaves_no_room_to_rotate() {
    let standin = standin::start();
    let ws = workspace();
    // 157 bytes: the key's id fits beside it, the second id of a rotation not.
    let description = format!("Deploys from CI{}", ".".repeat(142));
    ws.write(
        "nhi.yaml",
        &config(&standin, "", "").replace("Deploys from CI", &description),
    );
    let refused = ws.run(&["validate"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("need 309 bytes"), "{said}");
    assert!(said.contains("while a key rotates"), "{said}");
}

#[test]
fn gcp_leftover_members_of_a_deleted_account_under_a_live_name_are_planned_away() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    plan_and_apply(&standin, &ws, "create.plan");
    // Deleted with the console, and made again by hand under the same name:
    // the old account's grants stay in the policy as `deleted:` members that
    // no plan showed or removed.
    standin.ok("DELETE", &Standin::account_path("app-runtime"), "");
    standin.ok(
        "POST",
        &format!("/v1/projects/{PROJECT}/serviceAccounts"),
        r#"{"accountId": "app-runtime", "serviceAccount": {"description": "nhi:{\"owner\":\"web@example.com\"}"}}"#,
    );
    let planned = standin.nhi(&ws, &["plan", "-o", "clean.plan"]);
    ok(&planned);
    let found = changes(&planned.stdout);
    let leftover = found
        .iter()
        .find(|c| c.contains("binding/roles/logging.logWriter@deleted:"))
        .unwrap_or_else(|| panic!("{}", planned.stdout));
    assert!(
        leftover.contains("will be deleted (differs; risk: privilege-reducing)"),
        "{leftover}"
    );
    ok(&standin.nhi(&ws, &["apply", "clean.plan", "--trust", "trust.yaml"]));
    let policy = standin.policy().to_string();
    assert!(
        !policy.contains("deleted:serviceAccount:app-runtime@"),
        "{policy}"
    );
    assert_eq!(
        standin.roles_of(&member("app-runtime")),
        ["roles/logging.logWriter"]
    );
    no_changes(&standin, &ws);
}
