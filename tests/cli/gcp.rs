//! End-to-end scenarios with the official Google Cloud clients against the local
//! stand-in: create a project's service accounts from nothing, converge, detect
//! and correct out-of-band drift, survive a concurrent policy writer and quota
//! errors, refuse stale plans, retire before deleting, and keep private keys in
//! their sinks.

use crate::flow::{Cloud as _, changes, no_changes, ok, plan_and_apply, workspace};
use crate::harness::{Workspace, repo};
use crate::standin::{self, PROJECT, Standin};

pub(crate) fn config(standin: &Standin, settings: &str, extra: &str) -> String {
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

pub(crate) fn member(id: &str) -> String {
    format!("serviceAccount:{id}@{PROJECT}.iam.gserviceaccount.com")
}

/// Adds `member` to `role` the way another tool would: read, modify, write with the etag.
pub(crate) fn grant(standin: &Standin, role: &str, member: &str) {
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
        // Enabling an account disabled by hand undoes a containment.
        "gcp.prod/identity/app-runtime will be updated in place (differs; risk: privilege-increasing)",
        "gcp.prod/identity/ci-deployer/binding/roles/editor will be deleted (differs; risk: privilege-reducing)",
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
    // Disabling stops whatever runs as the account: as destructive as deleting it.
    let retirements: Vec<&str> = retire
        .stdout
        .lines()
        .filter(|l| l.contains("will be updated in place"))
        .collect();
    assert_eq!(retirements.len(), 150, "{}", retire.stdout);
    assert!(
        retirements
            .iter()
            .all(|l| l.ends_with("risk: destructive)")),
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
