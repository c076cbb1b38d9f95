//! Planted keys (issue 12 item 1, issue 13 item 1): whoever may write an AWS
//! user's tags, a Google service account's description or the local estate can
//! name a key they created `primary`. With the receipt log, the key nhi minted
//! stays `primary` and the planted one is the drift; a plan made without the
//! log that mistakes them is refused at apply; a console edit that drops or
//! garbles the record rotates nothing.

use std::time::Duration;

use crate::flow::{Cloud, changes, ok};
use crate::harness::{Run, Workspace};
use crate::standin::Standin;
use crate::team::{OPEN_TRUST, team};

const PLANTED_DETAIL: &str =
    "named `primary` by the provider's record, but nhi never minted it (not in the receipt log)";

/// The team's workspace with `config`, a receipt log, and `ci-deployer`'s key
/// `primary` minted by a signed apply; returns the minted key's id.
fn minted(cloud: &impl Cloud, ws: &Workspace, config: &str) -> String {
    ws.write("nhi.yaml", config);
    ws.write("trust.yaml", &format!("{OPEN_TRUST}receipt_log: log\n"));
    ok(&cloud.nhi(ws, &["plan", "-o", "mint.plan", "--trust", "trust.yaml"]));
    apply(cloud, ws, "mint.plan");
    let id = logged_key(ws, "ci-deployer", "primary");
    // The key minted now is older than anything planted after it.
    std::thread::sleep(Duration::from_millis(1100));
    id
}

fn apply(cloud: &impl Cloud, ws: &Workspace, plan: &str) {
    ok(&cloud.nhi(
        ws,
        &["apply", plan, "--trust", "trust.yaml", "--key", "carol.key"],
    ));
}

/// The id the receipt log records for the key minted as `identity`'s `key`.
fn logged_key(ws: &Workspace, identity: &str, key: &str) -> String {
    let suffix = format!("/identity/{identity}/key/{key}");
    let mut found = None;
    let mut names: Vec<_> = std::fs::read_dir(ws.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".receipt.json"))
        .collect();
    names.sort();
    for path in names {
        let envelope: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap();
        for change in body["changes"].as_array().unwrap() {
            if change["address"].as_str().unwrap().ends_with(&suffix)
                && let Some(id) = change["new_key_id"].as_str()
            {
                found = Some(id.to_owned());
            }
        }
    }
    found.expect("the log records the minted key")
}

/// A plan with the log keeps the minted key and deletes the planted one, with
/// the reason; a plan without it (as CI makes it) is refused at apply with the
/// exact diagnostic and changes nothing; the plan with the log converges.
fn planted_key_is_the_drift(
    cloud: &impl Cloud,
    ws: &Workspace,
    minted: &str,
    planted: &str,
    live_keys: &dyn Fn() -> Vec<String>,
) {
    let prefix = ws
        .read("nhi.yaml")
        .lines()
        .find_map(|l| l.trim().strip_prefix("type: ").map(str::to_owned))
        .unwrap();
    let identity = format!("{prefix}.prod/identity/ci-deployer");
    let checked = cloud.nhi(ws, &["plan", "--trust", "trust.yaml"]);
    ok(&checked);
    let found = changes(&checked.stdout);
    assert_eq!(found.len(), 1, "{}", checked.stdout);
    assert!(
        found[0].starts_with(&format!(
            "{identity}/key/{planted} will be deleted (differs"
        )),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains(PLANTED_DETAIL),
        "{}",
        checked.stdout
    );
    assert!(!checked.stdout.contains(minted), "{}", checked.stdout);
    assert!(!checked.stderr.contains("unverified"), "{}", checked.stderr);

    let blind = cloud.nhi(ws, &["plan", "-o", "blind.plan"]);
    ok(&blind);
    assert!(
        changes(&blind.stdout)
            .iter()
            .any(|c| c.contains(minted) && c.contains("will be deleted")),
        "without the log the plan deletes the minted key: {}",
        blind.stdout
    );
    assert!(
        blind.stderr.contains("the key records are unverified"),
        "{}",
        blind.stderr
    );
    let refused = cloud.nhi(
        ws,
        &[
            "apply",
            "blind.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    );
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    let stderr = refused
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(stderr.contains("nhi::apply::unminted_key"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`{minted}`, the key nhi minted as `primary`, would be deleted, and `{planted}` kept"
        )),
        "{stderr}"
    );
    let mut before = vec![minted.to_owned(), planted.to_owned()];
    before.sort();
    assert_eq!(live_keys(), before, "a refused apply changes nothing");

    ok(&cloud.nhi(ws, &["plan", "-o", "fix.plan", "--trust", "trust.yaml"]));
    apply(cloud, ws, "fix.plan");
    assert_eq!(live_keys(), [minted.to_owned()]);
    clean(cloud, ws);
}

/// The plan with the log has nothing to do.
fn clean(cloud: &impl Cloud, ws: &Workspace) {
    let again = cloud.nhi(
        ws,
        &["plan", "--trust", "trust.yaml", "--detailed-exitcode"],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}

fn no_key_changes(run: &Run) {
    ok(run);
    let keys: Vec<&str> = changes(&run.stdout)
        .into_iter()
        .filter(|c| c.contains("/key/"))
        .collect();
    assert!(keys.is_empty(), "{}", run.stdout);
}

// --- AWS, on moto -----------------------------------------------------------

fn aws_keys(moto: &crate::moto::Moto) -> Vec<String> {
    let out = moto.boto(
        "print(' '.join(sorted(k['AccessKeyId'] for k in iam.list_access_keys(UserName='ci-deployer')['AccessKeyMetadata'])))",
    );
    out.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn aws_a_key_planted_with_a_forged_primary_tag_is_deleted_and_the_minted_key_kept() {
    let Some(moto) = crate::moto::start() else {
        return;
    };
    let ws = team();
    let minted = minted(&moto, &ws, &crate::aws::config(false, ""));
    let planted = moto.boto(
        "k = iam.create_access_key(UserName='ci-deployer')['AccessKey']['AccessKeyId']\n\
         iam.tag_user(UserName='ci-deployer', Tags=[{'Key': 'nhi:key:' + k, 'Value': 'primary'}])\n\
         print(k)",
    );
    let planted = planted.trim();
    planted_key_is_the_drift(&moto, &ws, &minted, planted, &|| aws_keys(&moto));
}

// --- Google Cloud, on the stand-in ------------------------------------------

fn gcp_keys(standin: &Standin) -> Vec<String> {
    let listed = standin.ok(
        "GET",
        &format!(
            "{}/keys?keyTypes=USER_MANAGED",
            Standin::account_path("ci-deployer")
        ),
        "",
    );
    let mut ids: Vec<String> = listed["keys"]
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
        .collect();
    ids.sort();
    ids
}

fn gcp_description(standin: &Standin) -> String {
    let account = standin.ok("GET", &Standin::account_path("ci-deployer"), "");
    account["description"].as_str().unwrap().to_owned()
}

/// Rewrites the service account's description, as `iam.serviceAccounts.update`
/// (which Editor holds) allows.
fn set_gcp_description(standin: &Standin, description: &str) {
    standin.ok(
        "PATCH",
        &Standin::account_path("ci-deployer"),
        &serde_json::json!({
            "serviceAccount": {"description": description},
            "updateMask": "description",
        })
        .to_string(),
    );
}

/// The description with its record's key map replaced by `keys`.
fn with_record_keys(description: &str, keys: serde_json::Value) -> String {
    let (text, record) = description.rsplit_once("\nnhi:").unwrap();
    let mut record: serde_json::Value = serde_json::from_str(record).unwrap();
    record["keys"] = keys;
    format!("{text}\nnhi:{record}")
}

fn gcp_plant(standin: &Standin) -> String {
    let created = standin.ok(
        "POST",
        &format!("{}/keys", Standin::account_path("ci-deployer")),
        "{}",
    );
    created["name"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn gcp_a_planted_key_the_record_maps_to_primary_is_deleted_and_the_minted_key_kept() {
    let standin = crate::standin::start();
    let ws = team();
    let minted = minted(&standin, &ws, &crate::gcp::config(&standin, "", ""));
    let planted = gcp_plant(&standin);
    let forged = with_record_keys(
        &gcp_description(&standin),
        serde_json::json!({ planted.clone(): "primary" }),
    );
    set_gcp_description(&standin, &forged);
    planted_key_is_the_drift(&standin, &ws, &minted, &planted, &|| gcp_keys(&standin));
}

#[test]
fn gcp_a_newer_planted_key_mapped_to_primary_beside_the_minted_key_is_deleted() {
    let standin = crate::standin::start();
    let ws = team();
    let minted = minted(&standin, &ws, &crate::gcp::config(&standin, "", ""));
    let planted = gcp_plant(&standin);
    let forged = with_record_keys(
        &gcp_description(&standin),
        serde_json::json!({ minted.clone(): "primary", planted.clone(): "primary" }),
    );
    set_gcp_description(&standin, &forged);
    planted_key_is_the_drift(&standin, &ws, &minted, &planted, &|| gcp_keys(&standin));
}

#[test]
fn gcp_a_console_edit_of_the_record_does_not_rotate_the_minted_key() {
    let standin = crate::standin::start();
    let ws = team();
    let minted = minted(&standin, &ws, &crate::gcp::config(&standin, "", ""));
    let recorded = gcp_description(&standin);
    assert!(recorded.contains(&minted), "{recorded}");
    let (text, _) = recorded.rsplit_once("\nnhi:").unwrap();
    for edited in [text.to_owned(), format!("{recorded}\n")] {
        set_gcp_description(&standin, &edited);
        let planned = standin.nhi(&ws, &["plan", "-o", "edit.plan", "--trust", "trust.yaml"]);
        no_key_changes(&planned);
        apply(&standin, &ws, "edit.plan");
        no_key_changes(&standin.nhi(&ws, &["plan", "--trust", "trust.yaml"]));
        assert_eq!(
            gcp_keys(&standin),
            std::slice::from_ref(&minted),
            "{edited:?}"
        );
    }
    // A plan made without the log would rotate it; apply refuses that plan.
    let blind = standin.nhi(&ws, &["plan", "-o", "blind.plan"]);
    ok(&blind);
    if changes(&blind.stdout).iter().any(|c| c.contains(&minted)) {
        let refused = standin.nhi(
            &ws,
            &[
                "apply",
                "blind.plan",
                "--trust",
                "trust.yaml",
                "--key",
                "carol.key",
            ],
        );
        assert_eq!(refused.code, 1, "{}", refused.stderr);
        assert!(
            refused.stderr.contains("nhi::apply::unminted_key"),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(gcp_keys(&standin), [minted]);
}

// --- The local provider -----------------------------------------------------

/// The local provider needs no server; its estate file is the cloud.
struct Local;

impl Cloud for Local {
    fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run {
        ws.run_env(args, &[("NHI_NOW", &crate::team::now())])
    }
}

const LOCAL: &str = "version: 1
providers:
  - name: prod
    type: local
    settings:
      state: estate.json
identities:
  - name: ci-deployer
    provider: prod
    owner: platform@example.com
    keys:
      - name: primary
        rotate_after: 90d
        sink: {file: secrets/ci-primary.key}
  - name: legacy
    provider: prod
    owner: platform@example.com
    keys:
      - name: primary
        sink: {file: secrets/legacy-primary.key}
";

/// `legacy`'s key, minted before the receipt log existed.
const BEFORE_THE_LOG: &str = r#"{"nhi_local_estate":1,"identities":[
{"name":"legacy","kind":"service_account","owner":"platform@example.com","description":"","tags":{},"keys":[{"id":"LKLEGACY00000000001","name":"primary","created":"2026-01-01T00:00:00Z","status":"active"}],"bindings":[]}
]}"#;

fn estate(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.read("estate.json")).unwrap()
}

fn local_keys(ws: &Workspace) -> Vec<String> {
    let estate = estate(ws);
    let mut ids: Vec<String> = estate["identities"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Edits `ci-deployer`'s keys in the estate file, as a hand edit would.
fn edit_local_keys(ws: &Workspace, edit: impl FnOnce(&mut Vec<serde_json::Value>)) {
    let mut estate = estate(ws);
    edit(estate["identities"][0]["keys"].as_array_mut().unwrap());
    ws.write("estate.json", &estate.to_string());
}

#[test]
fn local_a_key_planted_with_a_hand_edited_estate_name_is_deleted_and_the_minted_key_kept() {
    let ws = team();
    ws.write("estate.json", BEFORE_THE_LOG);
    let cloud = Local;
    let minted = minted(&cloud, &ws, LOCAL);
    let planted = "LKPLANTED0000000001";
    edit_local_keys(&ws, |keys| {
        keys.push(serde_json::json!({
            "id": planted,
            "name": "primary",
            "created": crate::team::now(),
            "status": "active",
        }));
    });
    // The nightly drift job reports it too; the key older than the log is
    // `legacy`'s `primary` still, so nothing else is drift.
    let drift = cloud.nhi(&ws, &["drift", "--trust", "trust.yaml"]);
    assert!(drift.stdout.contains(planted), "{}", drift.stdout);
    assert!(drift.stdout.contains(PLANTED_DETAIL), "{}", drift.stdout);
    assert!(!drift.stdout.contains("LKLEGACY"), "{}", drift.stdout);
    planted_key_is_the_drift(&cloud, &ws, &minted, planted, &|| local_keys(&ws));

    // A name dropped by hand loses nothing.
    edit_local_keys(&ws, |keys| keys[0]["name"] = serde_json::Value::Null);
    no_key_changes(&cloud.nhi(&ws, &["plan", "--trust", "trust.yaml"]));
}
