//! `nhi plan --replace`: a live key rotated now (a new secret delivered, the
//! old key deleted) and an identity replaced with its keys and bindings.

use crate::flow::changes;
use crate::target::{apply, body_of, estate, identity, open, says, secret};
use crate::team::{ok, run};

#[test]
fn replace_of_a_key_rotates_it_delivers_a_new_secret_and_deletes_the_old_key() {
    let ws = open();
    ok(&run(&ws, &["plan", "-o", "full.plan"]));
    ok(&apply(&ws, "full.plan"));
    let sink = "secrets/web-api-primary.key";
    let (old_secret, old_key) = (
        secret(&ws, sink),
        identity(&estate(&ws), "web-api")["keys"][0].clone(),
    );
    let address = "local.demo/identity/web-api/key/primary";
    let planned = run(&ws, &["plan", "--replace", address, "-o", "r.plan"]);
    ok(&planned);
    assert_eq!(
        changes(&planned.stdout),
        [
            "local.demo/identity/web-api/key/primary will be rotated (replace requested; risk: credential)"
        ]
    );
    says(
        &planned.stdout,
        "Replacement requested (`--replace`): `local.demo/identity/web-api/key/primary`; rotated or replaced although nothing else calls for it.",
    );
    assert!(!planned.stdout.contains("Partial"), "{}", planned.stdout);
    let body = body_of(&ws, "r.plan");
    assert_eq!(body["changes"][0]["reason"], "replace_requested");
    assert_eq!(
        body["selection"],
        serde_json::json!({"targets": [], "replace": [address], "left_out": 0})
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&ws, &["show", "r.plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["changes"][0]["reason"], "replace_requested");
    assert_eq!(json["partial"], false);

    ok(&apply(&ws, "r.plan"));
    let keys = identity(&estate(&ws), "web-api")["keys"].clone();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1, "the old key is deleted");
    assert_ne!(keys[0]["id"], old_key["id"]);
    assert_eq!(keys[0]["name"], "primary");
    assert_ne!(secret(&ws, sink), old_secret, "a new secret was delivered");
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn replace_of_an_identity_recreates_it_with_its_keys_and_bindings() {
    let ws = open();
    ok(&run(&ws, &["plan", "-o", "full.plan"]));
    ok(&apply(&ws, "full.plan"));
    let before = identity(&estate(&ws), "web-api").clone();
    let planned = run(
        &ws,
        &[
            "plan",
            "--replace",
            "local.demo/identity/web-api",
            "-o",
            "r.plan",
        ],
    );
    ok(&planned);
    assert_eq!(
        changes(&planned.stdout),
        [
            "local.demo/identity/web-api/binding/queue-publisher@queue/orders will be deleted (replace requested; risk: privilege-reducing)",
            "local.demo/identity/web-api/binding/secrets-reader@vault/web will be deleted (replace requested; risk: privilege-reducing)",
            "local.demo/identity/web-api/key/primary will be deleted (replace requested; risk: destructive)",
            "local.demo/identity/web-api will be replaced (replace requested; risk: destructive)",
            "local.demo/identity/web-api/binding/queue-publisher@queue/orders will be created (new; risk: privilege-increasing)",
            "local.demo/identity/web-api/binding/secrets-reader@vault/web will be created (new; risk: privilege-increasing)",
            "local.demo/identity/web-api/key/primary will be created (new; risk: credential)",
        ]
    );
    ok(&apply(&ws, "r.plan"));
    let after = identity(&estate(&ws), "web-api").clone();
    assert_eq!(after["bindings"], before["bindings"]);
    assert_eq!(after["owner"], before["owner"]);
    assert_eq!(after["keys"].as_array().unwrap().len(), 1);
    assert_ne!(after["keys"][0]["id"], before["keys"][0]["id"]);
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}
