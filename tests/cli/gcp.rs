//! End-to-end scenarios with the official Google Cloud clients against the local
//! stand-in: create a project's service accounts from nothing, converge, detect
//! and correct out-of-band drift, survive a concurrent policy writer and quota
//! errors, refuse stale plans, retire before deleting, and keep private keys in
//! their sinks.

use crate::flow::{Cloud as _, changes, no_changes, ok, plan_and_apply, workspace};
use crate::harness::{Workspace, repo};
use crate::standin::{self, PROJECT, Standin};

fn config(standin: &Standin, settings: &str, extra: &str) -> String {
    format!(
        r#"# yaml-language-server: $schema=../../schemas/nhi.schema.json
version: 1
providers:
  - name: prod
    type: gcp
    prune: false
    settings:
      project: {PROJECT}
      endpoint: {endpoint}
      credentials: anonymous
{settings}
identities:
  - name: ci-deployer
    provider: prod
    owner: platform@example.com
    description: Deploys from CI
    attributes:
      display_name: CI deployer
    keys:
      - name: primary
        rotate_after: 90d
        sink: {{file: secrets/ci-primary.json}}
    bindings:
      - role: roles/storage.objectViewer
      - role: roles/pubsub.publisher
        resource: condition:release-topics
        policy:
          expression: resource.name.startsWith("projects/{PROJECT}/topics/release-")
          description: Release topics only
  - name: app-runtime
    provider: prod
    owner: web@example.com
    bindings:
      - role: roles/logging.logWriter
{extra}"#,
        endpoint = standin.endpoint
    )
}

fn member(id: &str) -> String {
    format!("serviceAccount:{id}@{PROJECT}.iam.gserviceaccount.com")
}

/// Adds `member` to `role` the way another tool would: read, modify, write with the etag.
fn grant(standin: &Standin, role: &str, member: &str) {
    let mut policy = standin.policy();
    policy["bindings"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"role": role, "members": [member]}));
    standin.ok(
        "POST",
        &format!("/v3/projects/{PROJECT}:setIamPolicy"),
        &serde_json::json!({"policy": policy}).to_string(),
    );
}

/// Everything `nhi` wrote or printed, to search for key material.
fn everything_but_secrets(ws: &Workspace, runs: &[&crate::harness::Run]) -> String {
    let mut all = String::new();
    for run in runs {
        all.push_str(&run.stdout);
        all.push_str(&run.stderr);
    }
    for entry in std::fs::read_dir(ws.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

#[test]
fn gcp_project_from_nothing_converges_and_corrects_drift() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    let seeded = standin.policy();

    // From nothing: two accounts, one key, three member-level bindings.
    let planned = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    ok(&planned);
    assert!(
        planned
            .stdout
            .contains("Plan: 6 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{}",
        planned.stdout
    );
    assert!(
        planned.stdout.contains("User-managed keys are discouraged"),
        "{}",
        planned.stdout
    );
    let applied = standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]);
    ok(&applied);

    // The private key went to its sink only, mode 0600.
    // The file is the key file Google's clients read (`GOOGLE_APPLICATION_CREDENTIALS`).
    let key_file: serde_json::Value =
        serde_json::from_str(&ws.read("secrets/ci-primary.json")).unwrap();
    assert_eq!(key_file["type"], "service_account");
    let private_key = key_file["private_key"].as_str().unwrap();
    assert!(private_key.contains("PRIVATE KEY"));
    let body = private_key.lines().nth(1).unwrap();
    let elsewhere = everything_but_secrets(&ws, &[&planned, &applied]);
    assert!(!elsewhere.contains(body), "key material outside its sink");
    assert!(
        !elsewhere.contains("PRIVATE KEY"),
        "key material outside its sink"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(ws.path().join("secrets/ci-primary.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    no_changes(&standin, &ws);
    assert_eq!(
        standin.roles_of(&member("ci-deployer")),
        [
            "roles/pubsub.publisher?release-topics",
            "roles/storage.objectViewer"
        ]
    );
    assert_eq!(
        standin.roles_of(&member("app-runtime")),
        ["roles/logging.logWriter"]
    );
    // Everyone else's bindings, conditions included, are exactly as seeded.
    let now = standin.policy();
    let untouched: Vec<&serde_json::Value> = now["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            !b["members"].as_array().unwrap().iter().any(|m| {
                m.as_str().unwrap().ends_with(".iam.gserviceaccount.com")
                    && m.as_str().unwrap().starts_with("serviceAccount:ci-")
                    || *m == member("app-runtime")
            })
        })
        .collect();
    let seeded: Vec<&serde_json::Value> = seeded["bindings"].as_array().unwrap().iter().collect();
    assert_eq!(untouched, seeded);

    // Out-of-band drift, as an operator with the console would make it.
    standin.ok(
        "POST",
        &format!("{}/keys", Standin::account_path("ci-deployer")),
        "{}",
    );
    grant(&standin, "roles/editor", &member("ci-deployer"));
    standin.ok(
        "POST",
        &format!("{}:disable", Standin::account_path("app-runtime")),
        "",
    );
    standin.ok(
        "POST",
        &format!("/v1/projects/{PROJECT}/serviceAccounts"),
        r#"{"accountId": "stray-account", "serviceAccount": {"displayName": "made by hand"}}"#,
    );
    let drift = standin.nhi(&ws, &["plan", "-o", "drift.plan"]);
    ok(&drift);
    let found = changes(&drift.stdout);
    assert_eq!(found.len(), 3, "{}", drift.stdout);
    for want in [
        "gcp.prod/identity/app-runtime will be updated in place (differs",
        "gcp.prod/identity/ci-deployer/binding/roles/editor will be deleted (differs",
        "gcp.prod/identity/ci-deployer/key/",
    ] {
        assert!(
            found.iter().any(|c| c.starts_with(want)),
            "{want}: {found:?}"
        );
    }
    assert!(
        drift.stdout.contains("gcp.prod/identity/stray-account"),
        "{}",
        drift.stdout
    );
    assert!(
        !drift.stdout.contains("compute@developer"),
        "{}",
        drift.stdout
    );
    ok(&standin.nhi(&ws, &["apply", "drift.plan", "--trust", "trust.yaml"]));
    no_changes(&standin, &ws);
    assert_eq!(
        standin.roles_of(&member("ci-deployer")),
        [
            "roles/pubsub.publisher?release-topics",
            "roles/storage.objectViewer"
        ]
    );
    let editors = standin.roles_of("serviceAccount:283983694832@cloudservices.gserviceaccount.com");
    assert_eq!(
        editors,
        ["roles/editor"],
        "the other editors kept their role"
    );
    let account = standin.ok("GET", &Standin::account_path("app-runtime"), "");
    assert_eq!(account.get("disabled"), None, "enabled again");
    // The unmanaged account is reported, not deleted (prune is off).
    standin.ok("GET", &Standin::account_path("stray-account"), "");

    let first_key_file = ws.read("secrets/ci-primary.json");
    // Rotation: the key is past its age (`1s` here). The old key cannot be
    // deleted once: the new key is delivered and recorded first, so it stays, and
    // the next plan deletes the old one.
    ws.write(
        "nhi.yaml",
        &config(&standin, "", "").replace("rotate_after: 90d", "rotate_after: 1s"),
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let rotate = standin.nhi(&ws, &["plan", "-o", "rotate.plan"]);
    ok(&rotate);
    assert!(
        rotate
            .stdout
            .contains("Plan: 0 to create, 0 to update, 1 to rotate, 0 to delete."),
        "{}",
        rotate.stdout
    );
    let keys_before = standin.ok(
        "GET",
        &format!(
            "{}/keys?keyTypes=USER_MANAGED",
            Standin::account_path("ci-deployer")
        ),
        "",
    );
    standin.ok(
        "POST",
        "/_standin/faults",
        r#"{"method": "serviceAccounts.keys.delete", "fault": "500", "count": 1}"#,
    );
    std::fs::rename(
        ws.path().join("secrets/ci-primary.json"),
        ws.path().join("secrets/old.json"),
    )
    .unwrap();
    let failed = standin.nhi(&ws, &["apply", "rotate.plan", "--trust", "trust.yaml"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("`serviceAccounts.keys.delete` on key"),
        "{}",
        failed.stderr
    );
    let keys_after = standin.ok(
        "GET",
        &format!(
            "{}/keys?keyTypes=USER_MANAGED",
            Standin::account_path("ci-deployer")
        ),
        "",
    );
    assert_eq!(
        keys_after["keys"].as_array().unwrap().len(),
        2,
        "the new key stays beside the old one: {keys_after}"
    );
    assert!(
        ws.path().join("secrets/ci-primary.json").exists(),
        "the new key's file is delivered"
    );
    // The next plan deletes the old key, whose deletion failed.
    let rotate = standin.nhi(&ws, &["plan", "-o", "rotate2.plan"]);
    ok(&rotate);
    assert!(
        rotate.stdout.contains("a second live key named `primary`"),
        "{}",
        rotate.stdout
    );
    ok(&standin.nhi(&ws, &["apply", "rotate2.plan", "--trust", "trust.yaml"]));
    let keys_now = standin.ok(
        "GET",
        &format!(
            "{}/keys?keyTypes=USER_MANAGED",
            Standin::account_path("ci-deployer")
        ),
        "",
    );
    assert_eq!(keys_now["keys"].as_array().unwrap().len(), 1);
    assert_ne!(keys_now, keys_before);
    assert_ne!(ws.read("secrets/ci-primary.json"), first_key_file);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ws.read("secrets/ci-primary.json")).unwrap()
            ["private_key_id"]
            .as_str()
            .unwrap(),
        keys_now["keys"][0]["name"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap(),
        "the file holds the surviving key"
    );
}

#[test]
fn gcp_concurrent_policy_writer_and_quota_errors_are_ridden_out() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
    // Another writer changes the policy between nhi's read and its write, twice;
    // the IAM API answers one create and one listing with 429, each policy call
    // once with 503, and does not see the new account at once (404).
    standin.ok(
        "POST",
        "/_standin/faults",
        r#"[{"method": "setIamPolicy", "fault": "etag_race", "count": 2},
            {"method": "serviceAccounts.create", "fault": "429", "count": 1},
            {"method": "serviceAccounts.keys.list", "fault": "429", "count": 1},
            {"method": "getIamPolicy", "fault": "503", "count": 1},
            {"method": "setIamPolicy", "fault": "503", "count": 1},
            {"method": "serviceAccounts.keys.create", "fault": "404", "count": 1},
            {"method": "serviceAccounts.get", "fault": "404", "count": 2}]"#,
    );
    let applied = standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]);
    ok(&applied);
    let pending = standin.ok("GET", "/_standin/faults", "");
    assert_eq!(
        pending["faults"],
        serde_json::json!([]),
        "every fault was met"
    );
    assert_eq!(
        standin.roles_of("user:other-writer@example.com").len(),
        2,
        "the other writer's bindings survived"
    );
    assert_eq!(
        standin.roles_of(&member("app-runtime")),
        ["roles/logging.logWriter"]
    );
    no_changes(&standin, &ws);
}

#[test]
fn gcp_change_between_plan_and_apply_makes_the_plan_stale() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
    // Someone creates one of the planned accounts first.
    standin.ok(
        "POST",
        &format!("/v1/projects/{PROJECT}/serviceAccounts"),
        r#"{"accountId": "app-runtime", "serviceAccount": {}}"#,
    );
    let refused = standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::stale"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("`gcp.prod/identity/app-runtime`"),
        "{}",
        refused.stderr
    );
    let (status, _) = standin.call("GET", &Standin::account_path("ci-deployer"), "");
    assert_eq!(status, 404, "the refused plan changed nothing");
    assert!(!ws.path().join("secrets/ci-primary.json").exists());
}

#[test]
fn gcp_prune_with_disable_first_retires_then_deletes_and_reads_are_paged() {
    let standin = standin::start();
    let ws = workspace();
    let settings = "      on_delete: disable_first";
    ws.write(
        "nhi.yaml",
        &config(&standin, settings, "").replace("prune: false", "prune: true"),
    );
    plan_and_apply(&standin, &ws, "create.plan");
    // 150 accounts made by hand: the listing takes two pages of 100.
    for i in 0..150 {
        standin.ok(
            "POST",
            &format!("/v1/projects/{PROJECT}/serviceAccounts"),
            &format!(r#"{{"accountId": "stray-{i:04}"}}"#),
        );
    }
    standin.ok("DELETE", "/_standin/calls", "");
    let retire = standin.nhi(&ws, &["plan", "-o", "retire.plan", "--verbose"]);
    ok(&retire);
    let calls = standin.ok("GET", "/_standin/calls", "");
    assert_eq!(calls["counts"]["serviceAccounts.list"], 2, "{calls}");
    assert_eq!(calls["counts"]["getIamPolicy"], 1, "{calls}");
    assert_eq!(calls["counts"]["serviceAccounts.keys.list"], 152, "{calls}");
    assert!(
        retire
            .stdout
            .contains("Plan: 0 to create, 150 to update, 0 to rotate, 0 to delete."),
        "{}",
        retire.stdout
    );
    assert!(
        retire.stdout.contains("deleted by a later plan"),
        "{}",
        retire.stdout
    );
    ok(&standin.nhi(&ws, &["apply", "retire.plan", "--trust", "trust.yaml"]));
    let disabled = standin.ok("GET", &Standin::account_path("stray-0007"), "");
    assert_eq!(disabled["disabled"], true);
    assert_eq!(
        disabled.get("description"),
        None,
        "only disabled, not described"
    );

    let delete = standin.nhi(&ws, &["plan", "-o", "delete.plan"]);
    ok(&delete);
    assert!(
        delete
            .stdout
            .contains("Plan: 0 to create, 0 to update, 0 to rotate, 150 to delete."),
        "{}",
        delete.stdout
    );
    assert!(
        delete
            .stdout
            .contains("an undelete (possible for 30 days) restores the bare account only"),
        "{}",
        delete.stdout
    );
    ok(&standin.nhi(&ws, &["apply", "delete.plan", "--trust", "trust.yaml"]));
    let (status, _) = standin.call("GET", &Standin::account_path("stray-0007"), "");
    assert_eq!(status, 404);
    no_changes(&standin, &ws);
    // Google-created accounts are never in scope, prune or not.
    let compute = "/v1/projects/nhi-standin/serviceAccounts/283983694832-compute@developer.gserviceaccount.com";
    standin.ok("GET", compute, "");
}

#[test]
fn the_standin_matches_google_discovery_documents() {
    let python = repo().join(".venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the test tools are not installed: run scripts/moto-install"
        );
        return;
    }
    let out = std::process::Command::new(python)
        .arg(repo().join("providers/gcp/standin/check_discovery.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gcp_example_walkthrough_runs() {
    let stdout = crate::flow::walkthrough("gcp");
    assert!(
        stdout.contains("Plan: 7 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("gcp.prod/identity/web-runtime/binding/roles/owner will be deleted (differs"),
        "{stdout}"
    );
    assert!(stdout.contains("No changes."), "{stdout}");
}

#[test]
fn the_standin_passes_its_own_checks() {
    let out = std::process::Command::new("python3")
        .arg(repo().join("providers/gcp/standin/selftest.py"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gcp_secret_manager_sink_receives_the_key_file_and_nothing_else_does() {
    let standin = standin::start();
    let ws = workspace();
    let config = config(&standin, "", "").replace(
        "sink: {file: secrets/ci-primary.json}",
        "sink: {gcp_secret_manager: {secret_id: ci-deployer-key}}",
    );
    ws.write("nhi.yaml", &config);
    let planned = standin.nhi(&ws, &["plan", "-o", "create.plan"]);
    ok(&planned);
    assert!(
        planned
            .stdout
            .contains(r#"secret_sink = gcp secret manager "ci-deployer-key""#),
        "{}",
        planned.stdout
    );
    let applied = standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]);
    ok(&applied);
    let access = standin.ok(
        "GET",
        &format!("/v1/projects/{PROJECT}/secrets/ci-deployer-key/versions/latest:access"),
        "",
    );
    let encoded = access["payload"]["data"].as_str().unwrap().to_owned();
    let decoded = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64, sys; sys.stdout.write(base64.b64decode(sys.argv[1]).decode())",
        ])
        .arg(&encoded)
        .output()
        .unwrap();
    let key_file: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(key_file["type"], "service_account");
    let body = key_file["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap();
    let elsewhere = everything_but_secrets(&ws, &[&planned, &applied]);
    assert!(!elsewhere.contains(body), "key material outside its sink");
    assert!(
        !elsewhere.contains(&encoded[..40]),
        "key material outside its sink"
    );
    assert!(!ws.path().join("secrets").exists());
    let state = standin.ok("GET", "/_standin/state", "");
    assert!(
        !state.to_string().contains(&encoded[..40]),
        "the stand-in keeps payloads private"
    );
    let labels = &state["projects"][PROJECT]["secrets"][0]["labels"];
    assert_eq!(
        labels["nhi-identity"], "ci-deployer",
        "the secret names the identity it holds keys of: {state}"
    );
    no_changes(&standin, &ws);
}

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
    let times: Vec<f64> = calls["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "serviceAccounts.list")
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
    let again = plan_and_apply(&standin, &ws, "again.plan");
    assert!(
        again.contains("Plan: 4 to create, 0 to update, 0 to rotate, 0 to delete."),
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
