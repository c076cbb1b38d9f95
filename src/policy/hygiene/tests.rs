//! The hygiene rules, each on what it names and nothing else.

use std::collections::BTreeSet;

use nhi_provider_sdk::{Binding, Identity, ObservedIdentity, ObservedState, Tags};

use super::*;
use crate::policy::judge;

fn now() -> jiff::Timestamp {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn key(id: &str, created: &str, last_used: Option<&str>) -> ObservedKey {
    ObservedKey {
        id: id.into(),
        name: Some(format!("k-{id}")),
        created: created.parse().unwrap(),
        status: KeyStatus::Active,
        last_used: last_used.map(|t| t.parse().unwrap()),
        expires: None,
        leaked: None,
    }
}

fn identity(
    name: &str,
    owner: &str,
    keys: Vec<ObservedKey>,
    bindings: &[&str],
) -> ObservedIdentity {
    ObservedIdentity {
        identity: Identity {
            name: name.into(),
            kind: "service_account".into(),
            owner: owner.into(),
            description: String::new(),
            tags: Tags::default(),
            attributes: std::collections::BTreeMap::new(),
        },
        keys,
        bindings: bindings
            .iter()
            .map(|role| Binding {
                role: (*role).into(),
                resource: "*".into(),
                policy: None,
            })
            .collect(),
    }
}

/// `(rule, address suffix)` of every finding on one live identity, judged
/// with no changes; `unmanaged` says whether no configuration declares it.
fn judged(live: ObservedIdentity, unmanaged: bool, policy: &PolicyRecord) -> Vec<(String, String)> {
    let observed = ObservedState {
        identities: vec![live],
    };
    let prefix = Address::provider("local", "demo");
    let scopes = [ScopeInput {
        prefix: prefix.clone(),
        type_name: "local",
        reports_key_use: true,
        observed: &observed,
    }];
    let unmanaged: BTreeSet<Address> = if unmanaged {
        [prefix.identity(&observed.identities[0].identity.name)].into()
    } else {
        BTreeSet::new()
    };
    judge(&Judging {
        now: now(),
        policy,
        scopes: &scopes,
        changes: &[],
        unmanaged: &unmanaged,
        config: None,
    })
    .into_iter()
    .map(|f| {
        let suffix = f
            .address
            .as_str()
            .trim_start_matches("local.demo/identity/")
            .to_owned();
        (f.rule, suffix)
    })
    .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn each_hygiene_rule_fires_on_what_it_names_and_nothing_else() {
    type Case = (&'static str, ObservedIdentity, bool, Vec<(String, String)>);
    let fresh = "2026-11-01T00:00:00Z";
    let used = Some("2026-11-30T00:00:00Z");
    let policy = PolicyRecord::default();
    let cases: Vec<Case> = vec![
        (
            "a clean identity",
            identity(
                "ok",
                "team@example.com",
                vec![key("A", fresh, used)],
                &["reader"],
            ),
            false,
            vec![],
        ),
        (
            "an owner that is no contact",
            identity("x", "platform-team", vec![], &[]),
            false,
            pairs(&[("owner-missing", "x")]),
        ),
        (
            "an empty owner",
            identity("x", "", vec![], &[]),
            false,
            pairs(&[("owner-missing", "x")]),
        ),
        (
            "an https owner page",
            identity("x", "https://wiki.example.com/team", vec![], &[]),
            false,
            vec![],
        ),
        (
            "a key over 90 days",
            identity(
                "x",
                "t@example.com",
                vec![key("A", "2026-08-01T00:00:00Z", used)],
                &[],
            ),
            false,
            pairs(&[("key-max-age", "x/key/k-A")]),
        ),
        (
            "a key unused for 45 days",
            identity(
                "x",
                "t@example.com",
                vec![key("A", fresh, Some("2026-10-01T00:00:00Z"))],
                &[],
            ),
            false,
            pairs(&[("key-unused", "x/key/k-A")]),
        ),
        (
            "a key used 44 days ago",
            identity(
                "x",
                "t@example.com",
                vec![key("A", fresh, Some("2026-10-18T00:00:00Z"))],
                &[],
            ),
            false,
            vec![],
        ),
        (
            "a key never used for 45 days",
            identity(
                "x",
                "t@example.com",
                vec![key("A", "2026-10-01T00:00:00Z", None)],
                &[],
            ),
            false,
            pairs(&[("key-never-used", "x/key/k-A")]),
        ),
        (
            "a new key never used yet",
            identity("x", "t@example.com", vec![key("A", fresh, None)], &[]),
            false,
            vec![],
        ),
        (
            "two active keys",
            identity(
                "x",
                "t@example.com",
                vec![key("A", fresh, used), key("B", fresh, used)],
                &[],
            ),
            false,
            pairs(&[("two-active-keys", "x")]),
        ),
        (
            "an unmanaged identity holding a grant",
            identity("x", "t@example.com", vec![], &["reader"]),
            true,
            pairs(&[("shadow-identity", "x")]),
        ),
        (
            "an unmanaged identity holding nothing",
            identity("x", "t@example.com", vec![], &[]),
            true,
            vec![],
        ),
        (
            "a local admin grant",
            identity("x", "t@example.com", vec![], &["admin"]),
            false,
            pairs(&[("admin-privilege", "x/binding/admin")]),
        ),
    ];
    for (name, live, unmanaged, expected) in cases {
        assert_eq!(judged(live, unmanaged, &policy), expected, "{name}");
    }
}

#[test]
fn an_inactive_key_is_not_judged_for_age_or_use() {
    let mut old = key("A", "2020-01-01T00:00:00Z", None);
    old.status = KeyStatus::Inactive;
    let live = identity("x", "t@example.com", vec![old], &[]);
    assert_eq!(judged(live, false, &PolicyRecord::default()), vec![]);
}

#[test]
fn thresholds_enforcement_and_exceptions_come_from_the_policy() {
    let policy = PolicyRecord {
        key_max_age: "400d".parse().unwrap(),
        enforcement: [("default".to_owned(), crate::policy::Enforcement::Soft)].into(),
        exceptions: vec![crate::policy::Exception {
            rule: "owner-missing".into(),
            address: Address::raw("local.demo/identity/x"),
            justification: "migrating".into(),
            expires: jiff::civil::date(2026, 12, 1),
        }],
        ..PolicyRecord::default()
    };
    let live = identity(
        "x",
        "nobody",
        vec![key(
            "A",
            "2026-01-01T00:00:00Z",
            Some("2026-11-30T00:00:00Z"),
        )],
        &[],
    );
    let observed = ObservedState {
        identities: vec![live],
    };
    let scopes = [ScopeInput {
        prefix: Address::provider("local", "demo"),
        type_name: "local",
        reports_key_use: true,
        observed: &observed,
    }];
    let findings = judge(&Judging {
        now: now(),
        policy: &policy,
        scopes: &scopes,
        changes: &[],
        unmanaged: &BTreeSet::new(),
        config: None,
    });
    assert_eq!(findings.len(), 1, "the key is under 400 days: {findings:?}");
    assert_eq!(findings[0].rule, "owner-missing");
    assert_eq!(findings[0].enforcement, crate::policy::Enforcement::Soft);
    assert!(
        findings[0].exception.is_some(),
        "the exception holds on its last day"
    );
    assert!(!findings[0].counts());
}
