//! Tests of operation semantics: every operation, its idempotent re-run, and every
//! refusal, each leaving an exactly known estate.

use std::collections::BTreeMap;

use super::*;
use zeroize::Zeroizing;

fn identity(name: &str, kind: &str) -> Identity {
    Identity {
        name: name.to_owned(),
        kind: kind.to_owned(),
        owner: "team-a".to_owned(),
        description: String::new(),
        tags: nhi_provider_sdk::Tags::new(),
        attributes: BTreeMap::new(),
    }
}

fn observed(name: &str, keys: &[&str], bindings: &[&str]) -> ObservedIdentity {
    ObservedIdentity {
        identity: identity(name, "service_account"),
        keys: keys.iter().map(|id| key(id)).collect(),
        bindings: bindings.iter().map(|role| binding(role, None)).collect(),
    }
}

fn key(id: &str) -> ObservedKey {
    ObservedKey {
        id: (*id).to_owned(),
        name: Some("primary".to_owned()),
        created: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        status: KeyStatus::Active,
        last_used: None,
        expires: None,
        leaked: None,
    }
}

fn binding(role: &str, policy: Option<&str>) -> Binding {
    Binding {
        role: role.to_owned(),
        resource: "*".to_owned(),
        policy: policy.map(|p| serde_json::json!({ "p": p }).into()),
    }
}

/// Key ids `LKNEW1`, `LKNEW2`, … with secrets `secret-1`, … in order.
fn generator() -> impl FnMut() -> Result<NewKey, ProviderError> {
    let mut n = 0;
    move || {
        n += 1;
        Ok(NewKey {
            id: format!("LKNEW{n}"),
            secret: Zeroizing::new(format!("secret-{n}")),
            created: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        })
    }
}

/// What a case is called, the estate before, the operation, its result, the estate after.
type Case = (
    &'static str,
    Vec<ObservedIdentity>,
    Operation,
    Want,
    Vec<ObservedIdentity>,
);

enum Want {
    Changed,
    Unchanged,
    Secret(&'static str),
    Fails(&'static str),
}

#[test]
fn operations() {
    let ci = || observed("ci", &[], &[]);
    let ci_user = || ObservedIdentity {
        identity: identity("ci", "user"),
        ..ci()
    };
    let ci_busy = || observed("ci", &["LK1"], &["viewer", "editor"]);
    let with_keys = |keys: &[&str]| observed("ci", keys, &[]);
    // Minted keys carry no name until their secret is delivered (`record_key`).
    let new_key = |id: &str| ObservedKey {
        id: id.to_owned(),
        name: None,
        ..key(id)
    };
    let ci_new_key = |ids: &[&str]| ObservedIdentity {
        keys: ids.iter().map(|id| new_key(id)).collect(),
        ..ci()
    };
    let with_bindings = |b: Vec<Binding>| ObservedIdentity {
        bindings: b,
        ..ci()
    };
    let renamed = Operation::UpdateIdentity {
        before: identity("ci", "user"),
        after: identity("cd", "user"),
    };
    let described = Identity {
        description: "new".to_owned(),
        ..identity("ci", "service_account")
    };

    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("create", vec![observed("a", &[], &[]), observed("z", &[], &[])],
            Operation::CreateIdentity { identity: identity("ci", "service_account") }, Want::Changed,
            vec![observed("a", &[], &[]), ci(), observed("z", &[], &[])]),
        ("create again", vec![ci_busy()],
            Operation::CreateIdentity { identity: identity("ci", "service_account") }, Want::Unchanged, vec![ci_busy()]),
        ("create different", vec![ci()],
            Operation::CreateIdentity { identity: identity("ci", "user") }, Want::Fails("identity `ci` already exists"), vec![ci()]),
        ("update", vec![ci()],
            Operation::UpdateIdentity { before: identity("ci", "service_account"), after: described.clone() }, Want::Changed,
            vec![ObservedIdentity { identity: described.clone(), ..ci() }]),
        ("update again", vec![ObservedIdentity { identity: described.clone(), ..ci() }],
            Operation::UpdateIdentity { before: identity("ci", "service_account"), after: described.clone() }, Want::Unchanged,
            vec![ObservedIdentity { identity: described.clone(), ..ci() }]),
        ("update missing", vec![],
            Operation::UpdateIdentity { before: identity("ci", "user"), after: described.clone() }, Want::Fails("identity `ci` does not exist"), vec![]),
        ("update renames", vec![ci()], renamed, Want::Fails("the local provider cannot rename identity `ci` to `cd`"), vec![ci()]),
        ("replace", vec![ci()],
            Operation::ReplaceIdentity { before: identity("ci", "service_account"), after: identity("ci", "user") }, Want::Changed, vec![ci_user()]),
        ("replace again", vec![ci_user()],
            Operation::ReplaceIdentity { before: identity("ci", "service_account"), after: identity("ci", "user") }, Want::Unchanged, vec![ci_user()]),
        ("replace absent", vec![],
            Operation::ReplaceIdentity { before: identity("ci", "service_account"), after: identity("ci", "user") }, Want::Changed, vec![ci_user()]),
        ("replace busy", vec![ci_busy()],
            Operation::ReplaceIdentity { before: identity("ci", "service_account"), after: identity("ci", "user") },
            Want::Fails("identity `ci` still has 1 key and 2 bindings"), vec![ci_busy()]),
        ("delete", vec![observed("a", &[], &[]), ci()],
            Operation::DeleteIdentity { identity: identity("ci", "service_account") }, Want::Changed, vec![observed("a", &[], &[])]),
        ("delete absent", vec![],
            Operation::DeleteIdentity { identity: identity("ci", "service_account") }, Want::Unchanged, vec![]),
        ("delete busy", vec![ci_busy()],
            Operation::DeleteIdentity { identity: identity("ci", "service_account") },
            Want::Fails("identity `ci` still has 1 key and 2 bindings"), vec![ci_busy()]),
        ("delete with keys", vec![with_keys(&["LK1", "LK2"])],
            Operation::DeleteIdentity { identity: identity("ci", "service_account") },
            Want::Fails("identity `ci` still has 2 keys"), vec![with_keys(&["LK1", "LK2"])]),
        ("delete with a binding", vec![observed("ci", &[], &["viewer"])],
            Operation::DeleteIdentity { identity: identity("ci", "service_account") },
            Want::Fails("identity `ci` still has 1 binding"), vec![observed("ci", &[], &["viewer"])]),
        ("create key", vec![ci()],
            Operation::CreateKey { identity: "ci".into(), key: "primary".into() }, Want::Secret("secret-1"), vec![ci_new_key(&["LKNEW1"])]),
        ("create second key", vec![with_keys(&["LK1"])],
            Operation::CreateKey { identity: "ci".into(), key: "primary".into() }, Want::Secret("secret-1"),
            vec![ObservedIdentity { keys: vec![key("LK1"), new_key("LKNEW1")], ..ci() }]),
        ("create third key", vec![with_keys(&["LK1", "LK2"])],
            Operation::CreateKey { identity: "ci".into(), key: "primary".into() },
            Want::Fails("identity `ci` already has 2 keys, the most the local provider allows"), vec![with_keys(&["LK1", "LK2"])]),
        ("create key missing", vec![],
            Operation::CreateKey { identity: "ci".into(), key: "primary".into() }, Want::Fails("identity `ci` does not exist"), vec![]),
        ("rotate is the engine's", vec![with_keys(&["LK1"])],
            Operation::RotateKey { identity: "ci".into(), key: "primary".into(), old: key("LK1"), deactivate_old: false },
            Want::Fails("a rotation is applied as a new key, then the deletion of the old one"), vec![with_keys(&["LK1"])]),
        ("delete key", vec![with_keys(&["LK1", "LK2"])],
            Operation::DeleteKey { identity: "ci".into(), key: key("LK1") }, Want::Changed, vec![with_keys(&["LK2"])]),
        ("delete key absent", vec![with_keys(&["LK2"])],
            Operation::DeleteKey { identity: "ci".into(), key: key("LK1") }, Want::Unchanged, vec![with_keys(&["LK2"])]),
        ("delete key missing identity", vec![],
            Operation::DeleteKey { identity: "ci".into(), key: key("LK1") }, Want::Fails("identity `ci` does not exist"), vec![]),
        ("create binding", vec![with_bindings(vec![binding("a", None)])],
            Operation::CreateBinding { identity: "ci".into(), binding: binding("b", Some("x")) }, Want::Changed,
            vec![with_bindings(vec![binding("a", None), binding("b", Some("x"))])]),
        ("create binding again", vec![with_bindings(vec![binding("b", Some("x"))])],
            Operation::CreateBinding { identity: "ci".into(), binding: binding("b", Some("x")) }, Want::Unchanged,
            vec![with_bindings(vec![binding("b", Some("x"))])]),
        ("create binding different", vec![with_bindings(vec![binding("b", Some("x"))])],
            Operation::CreateBinding { identity: "ci".into(), binding: binding("b", Some("y")) },
            Want::Fails("binding `b` on `*` of identity `ci` already exists"), vec![with_bindings(vec![binding("b", Some("x"))])]),
        ("create binding missing identity", vec![],
            Operation::CreateBinding { identity: "ci".into(), binding: binding("b", None) }, Want::Fails("identity `ci` does not exist"), vec![]),
        ("update binding", vec![with_bindings(vec![binding("a", None), binding("b", Some("x"))])],
            Operation::UpdateBinding { identity: "ci".into(), before: binding("b", Some("x")), after: binding("b", Some("y")) }, Want::Changed,
            vec![with_bindings(vec![binding("a", None), binding("b", Some("y"))])]),
        ("update binding again", vec![with_bindings(vec![binding("b", Some("y"))])],
            Operation::UpdateBinding { identity: "ci".into(), before: binding("b", Some("x")), after: binding("b", Some("y")) }, Want::Unchanged,
            vec![with_bindings(vec![binding("b", Some("y"))])]),
        ("update binding absent", vec![ci()],
            Operation::UpdateBinding { identity: "ci".into(), before: binding("b", None), after: binding("b", Some("y")) },
            Want::Fails("binding `b` on `*` of identity `ci` does not exist"), vec![ci()]),
        ("update binding onto another", vec![with_bindings(vec![binding("a", None), binding("b", None)])],
            Operation::UpdateBinding { identity: "ci".into(), before: binding("a", None), after: binding("b", Some("y")) },
            Want::Fails("binding `b` on `*` of identity `ci` already exists"), vec![with_bindings(vec![binding("a", None), binding("b", None)])]),
        ("delete binding", vec![with_bindings(vec![binding("a", None), binding("b", Some("x"))])],
            Operation::DeleteBinding { identity: "ci".into(), binding: binding("a", Some("ignored")) }, Want::Changed,
            vec![with_bindings(vec![binding("b", Some("x"))])]),
        ("delete binding absent", vec![ci()],
            Operation::DeleteBinding { identity: "ci".into(), binding: binding("a", None) }, Want::Unchanged, vec![ci()]),
        ("delete binding missing identity", vec![],
            Operation::DeleteBinding { identity: "ci".into(), binding: binding("a", None) }, Want::Fails("identity `ci` does not exist"), vec![]),
    ];

    for (what, mut estate, operation, want, after) in cases {
        let got = execute(&mut estate, operation, &mut generator());
        match (want, got) {
            (Want::Changed, Ok(outcome)) => assert!(
                outcome.changed && outcome.secret.is_none(),
                "{what}: {outcome:?}"
            ),
            (Want::Unchanged, Ok(outcome)) => assert!(
                !outcome.changed && outcome.secret.is_none(),
                "{what}: {outcome:?}"
            ),
            (
                Want::Secret(secret),
                Ok(Outcome {
                    changed: true,
                    secret: Some(material),
                }),
            ) => {
                assert_eq!(material.secret.as_str(), secret, "{what}");
                assert_eq!(material.key_id, "LKNEW1", "{what}");
            }
            (Want::Fails(message), Err(err)) => assert_eq!(err.to_string(), message, "{what}"),
            (_, got) => panic!("{what}: unexpected {got:?}"),
        }
        assert_eq!(estate, after, "{what}");
    }
}

#[test]
fn a_minted_key_is_named_only_when_its_delivery_is_recorded() {
    let mut estate = vec![observed("ci", &[], &[])];
    let operation = Operation::CreateKey {
        identity: "ci".into(),
        key: "primary".into(),
    };
    execute(&mut estate, operation, &mut generator()).unwrap();
    assert_eq!(estate[0].keys[0].name, None);
    let recorded = record_key(&mut estate, "ci", "primary", "LKNEW1").unwrap();
    assert!(recorded.changed);
    assert_eq!(estate[0].keys[0].name.as_deref(), Some("primary"));
    assert!(
        !record_key(&mut estate, "ci", "primary", "LKNEW1")
            .unwrap()
            .changed
    );
    assert_eq!(
        record_key(&mut estate, "ci", "primary", "LKGONE")
            .unwrap_err()
            .to_string(),
        "key `LKGONE` of identity `ci` does not exist"
    );
}

#[test]
fn failed_key_generation_changes_nothing() {
    let mut estate = vec![observed("ci", &["LK1"], &[])];
    let mut failing = || Err(ProviderError::Other("no randomness".into()));
    let operation = Operation::CreateKey {
        identity: "ci".into(),
        key: "primary".into(),
    };
    let err = execute(&mut estate, operation, &mut failing).unwrap_err();
    assert_eq!(err.to_string(), "no randomness");
    assert_eq!(estate, vec![observed("ci", &["LK1"], &[])]);
}
