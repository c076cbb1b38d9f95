//! Keys as operators rotate them on the local provider: `retire_after` keeps
//! the old key of a rotation inactive for a grace period, and the first plan
//! after it deletes the key; `status: inactive` keeps a key as evidence.

use crate::flow::changes;
use crate::harness::Workspace;
use crate::target::{apply, estate, identity, open, says, secret};
use crate::team::{ok, rewrite_body, run};

const WEB: &str = "local.demo/identity/web-api/key/primary";
const SINK: &str = "secrets/web-api-primary.key";

/// The `(id, status)` of every key of `web-api`, oldest first.
fn web_keys(ws: &Workspace) -> Vec<(String, String)> {
    let mut keys: Vec<_> = identity(&estate(ws), "web-api")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["created"].as_str().unwrap().to_owned(),
                k["id"].as_str().unwrap().to_owned(),
                k["status"].as_str().unwrap_or("active").to_owned(),
            )
        })
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|(_, id, status)| (id, status))
        .collect()
}

/// Moves every key of `web-api` `days` into the past: the estate as a plan
/// `days` later sees it.
fn age_keys(ws: &Workspace, days: i64) {
    let mut doc = estate(ws);
    for i in doc["identities"].as_array_mut().unwrap() {
        if i["name"] != "web-api" {
            continue;
        }
        for k in i["keys"].as_array_mut().unwrap() {
            let created: jiff::Timestamp = k["created"].as_str().unwrap().parse().unwrap();
            let moved = created
                .checked_sub(jiff::SignedDuration::from_hours(24 * days))
                .unwrap();
            k["created"] = moved.to_string().into();
        }
    }
    ws.write("estate.json", &serde_json::to_string_pretty(&doc).unwrap());
}

fn edit_config(ws: &Workspace, from: &str, to: &str) {
    let text = ws.read("nhi.yaml");
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` is in nhi.yaml once"
    );
    ws.write("nhi.yaml", &text.replacen(from, to, 1));
}

#[test]
fn rotation_with_retire_after_keeps_the_old_key_inactive_until_the_grace_period_ends() {
    let ws = open();
    ok(&run(&ws, &["plan", "-o", "full.plan"]));
    ok(&apply(&ws, "full.plan"));
    let [(old_id, _)] = <[_; 1]>::try_from(web_keys(&ws)).unwrap();
    let old_secret = secret(&ws, SINK);
    edit_config(
        &ws,
        "        rotate_after: 90d\n        sink:\n          file: secrets/web-api-primary.key",
        "        rotate_after: 90d\n        retire_after: 7d\n        sink:\n          file: secrets/web-api-primary.key",
    );

    let planned = run(&ws, &["plan", "--replace", WEB, "-o", "r.plan"]);
    ok(&planned);
    says(
        &planned.stdout,
        "the old key is deactivated, and deleted by the first plan from",
    );
    ok(&apply(&ws, "r.plan"));
    // Both keys may carry the same second: tell them apart by id.
    let mut keys = web_keys(&ws);
    keys.sort_by_key(|(id, _)| *id != old_id);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], (old_id.clone(), "inactive".to_owned()));
    assert_ne!(keys[1].0, old_id);
    assert_eq!(keys[1].1, "active");
    assert_ne!(secret(&ws, SINK), old_secret, "the new key is in the sink");

    // Six days later the old key still waits.
    age_keys(&ws, 6);
    let waiting = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(waiting.code, 0, "{}", waiting.stdout);

    // Seven days after the rotation the first plan deletes it.
    age_keys(&ws, 1);
    let later = run(&ws, &["plan", "-o", "later.plan"]);
    ok(&later);
    assert_eq!(
        changes(&later.stdout),
        [format!(
            "{WEB}#{old_id} will be deleted (rotation due; risk: destructive)"
        )]
    );
    ok(&apply(&ws, "later.plan"));
    let new_id = keys[1].0.clone();
    assert_eq!(web_keys(&ws), [(new_id, "active".to_owned())]);
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn a_key_declared_inactive_is_deactivated_kept_and_then_converged() {
    let ws = open();
    ok(&run(&ws, &["plan", "-o", "full.plan"]));
    ok(&apply(&ws, "full.plan"));
    let [(id, _)] = <[_; 1]>::try_from(web_keys(&ws)).unwrap();
    edit_config(
        &ws,
        "        rotate_after: 90d\n        sink:\n          file: secrets/web-api-primary.key",
        "        rotate_after: 90d\n        status: inactive\n        sink:\n          file: secrets/web-api-primary.key",
    );
    let planned = run(&ws, &["plan", "-o", "d.plan"]);
    ok(&planned);
    assert_eq!(
        changes(&planned.stdout),
        [format!(
            "{WEB} will be updated in place (status declared; risk: privilege-reducing)"
        )]
    );
    // A deactivation is a plan's only for the declared status.
    ws.write("e.plan", &ws.read("d.plan"));
    rewrite_body(&ws, "e.plan", r#""reason":"status""#, r#""reason":"drift""#);
    let before = ws.bytes("estate.json");
    let refused = apply(&ws, "e.plan");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    says(
        &refused.stderr,
        "a plan deactivates a key only for its declared `status`",
    );
    assert_eq!(ws.bytes("estate.json"), before);
    ok(&apply(&ws, "d.plan"));
    assert_eq!(web_keys(&ws), [(id, "inactive".to_owned())]);
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn a_misspelt_key_status_is_refused_with_a_suggestion() {
    let ws = open();
    edit_config(
        &ws,
        "        rotate_after: 90d\n        sink:\n          file: secrets/web-api-primary.key",
        "        rotate_after: 90d\n        status: inactiv\n        sink:\n          file: secrets/web-api-primary.key",
    );
    let refused = run(&ws, &["validate"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    says(&refused.stderr, "`inactiv` is not a key status");
    says(&refused.stderr, "did you mean `inactive`?");
}
