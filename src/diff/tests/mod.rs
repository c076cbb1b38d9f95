//! Unit and property tests of the diff engine.

mod adoption;
mod estates;
mod select;
mod status;

use std::collections::BTreeMap;

use nhi_provider_sdk::{
    Binding, Digest, Identity, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, Sink, Tags,
};
use proptest::prelude::*;

pub(crate) use self::estates::arb_estate;
use self::estates::simulate;
use super::{Action, Reason, Scope, diff};
use crate::config::{Config, DesiredIdentity, DesiredKey, ProviderBlock};

pub(crate) fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn block(prune: bool) -> ProviderBlock {
    ProviderBlock {
        name: "demo".into(),
        type_name: "local".into(),
        prune,
        settings: serde_json::json!({"state": "estate.json"}),
    }
}

fn identity(name: &str) -> Identity {
    Identity {
        name: name.into(),
        kind: "service_account".into(),
        owner: "team@example.com".into(),
        description: String::new(),
        tags: Tags::new(),
        attributes: BTreeMap::new(),
    }
}

fn desired(name: &str) -> DesiredIdentity {
    DesiredIdentity {
        provider: "demo".into(),
        identity: identity(name),
        expires: None,
        keys: vec![DesiredKey {
            name: "primary".into(),
            adopt: None,
            rotate_after: Some("90d".parse().unwrap()),
            retire_after: None,
            status: nhi_provider_sdk::KeyStatus::Active,
            expires: None,
            sink: Sink::File(format!("{name}.key")),
        }],
        bindings: vec![Binding {
            role: "viewer".into(),
            resource: "*".into(),
            policy: None,
        }],
    }
}

fn key(name: Option<&str>, id: &str, days_old: i64) -> ObservedKey {
    ObservedKey {
        id: id.into(),
        name: name.map(Into::into),
        created: now()
            .checked_sub(jiff::SignedDuration::from_hours(24 * days_old))
            .unwrap(),
        status: KeyStatus::Active,
        last_used: None,
        expires: None,
        leaked: None,
    }
}

fn observed_of(d: &DesiredIdentity) -> ObservedIdentity {
    ObservedIdentity {
        identity: d.identity.clone(),
        keys: d
            .keys
            .iter()
            .map(|k| {
                key(
                    Some(&k.name),
                    &format!("K-{}-{}", d.identity.name, k.name),
                    1,
                )
            })
            .collect(),
        bindings: d.bindings.clone(),
    }
}

fn config(identities: Vec<DesiredIdentity>, prune: bool) -> Config {
    Config {
        path: "nhi.yaml".into(),
        dir: ".".into(),
        digest: Digest::of(b""),
        providers: vec![block(prune)],
        identities,
        policy: crate::policy::PolicyRecord::default(),
        rego: Vec::new(),
    }
}

fn run(config: &Config, observed: &ObservedState) -> super::Diff {
    run_with_slots(config, observed, None)
}

fn run_with_slots(config: &Config, observed: &ObservedState, slots: Option<usize>) -> super::Diff {
    let scopes = [Scope {
        block: &config.providers[0],
        observed,
        key_slots: slots,
        retire: None,
        planted: &crate::diff::NO_PLANTED,
    }];
    diff(config, &scopes, now())
}

fn summary(d: &super::Diff) -> Vec<String> {
    d.changes
        .iter()
        .map(|c| format!("{} {} ({})", c.action.symbol(), c.address, c.reason))
        .collect()
}

#[test]
fn in_sync_estate_has_no_changes() {
    let cfg = config(vec![desired("a"), desired("b")], false);
    let observed = ObservedState {
        identities: cfg.identities.iter().map(observed_of).collect(),
    };
    let d = run(&cfg, &observed);
    assert!(d.changes.is_empty(), "{:?}", summary(&d));
    assert!(d.unmanaged.is_empty());
}

#[test]
fn create_orders_identity_before_parts() {
    let cfg = config(vec![desired("a")], false);
    let d = run(&cfg, &ObservedState::default());
    assert_eq!(
        summary(&d),
        [
            "+ local.demo/identity/a (new)",
            "+ local.demo/identity/a/binding/viewer (new)",
            "+ local.demo/identity/a/key/primary (new)",
        ]
    );
    assert_eq!(d.changes[2].sink, Some(Sink::File("a.key".into())));
    assert!(d.touched.values().all(Option::is_none));
}

#[test]
fn table_of_single_drifts() {
    type Mutate = fn(&mut DesiredIdentity, &mut ObservedIdentity);
    let cases: &[(&str, Mutate, &[&str])] = &[
        (
            "owner drift",
            |_, o| o.identity.owner = "someone@else".into(),
            &["~ local.demo/identity/a (differs)"],
        ),
        (
            "kind drift replaces",
            |_, o| o.identity.kind = "user".into(),
            &[
                "- local.demo/identity/a/binding/viewer (differs)",
                "- local.demo/identity/a/key/primary (differs)",
                "-/+ local.demo/identity/a (differs)",
                "+ local.demo/identity/a/binding/viewer (new)",
                "+ local.demo/identity/a/key/primary (new)",
            ],
        ),
        (
            "extra binding",
            |_, o| {
                o.bindings.push(Binding {
                    role: "admin".into(),
                    resource: "*".into(),
                    policy: None,
                });
            },
            &["- local.demo/identity/a/binding/admin (differs)"],
        ),
        (
            "missing binding",
            |_, o| o.bindings.clear(),
            &["+ local.demo/identity/a/binding/viewer (new)"],
        ),
        (
            "policy drift",
            |d, o| {
                d.bindings[0].policy = Some(serde_json::json!({"a": 1}).into());
                o.bindings[0].policy = Some(serde_json::json!({"a": 2}).into());
            },
            &["~ local.demo/identity/a/binding/viewer (differs)"],
        ),
        (
            "policy key order is not drift",
            |d, o| {
                d.bindings[0].policy = Some(serde_json::json!({"a": 1, "b": 2}).into());
                o.bindings[0].policy = serde_json::from_str(r#"{"b": 2, "a": 1}"#).ok();
            },
            &[],
        ),
        (
            "extra unnamed key",
            |_, o| o.keys.push(key(None, "STRAY", 3)),
            &["- local.demo/identity/a/key/STRAY (differs)"],
        ),
        (
            "old key rotates",
            |_, o| o.keys[0] = key(Some("primary"), "OLD", 91),
            &["+/- local.demo/identity/a/key/primary (rotation due)"],
        ),
        (
            "young key stays",
            |_, o| o.keys[0] = key(Some("primary"), "OLD", 89),
            &[],
        ),
        (
            "inactive key rotates",
            |_, o| o.keys[0].status = KeyStatus::Inactive,
            &["+/- local.demo/identity/a/key/primary (differs)"],
        ),
        (
            "missing key",
            |_, o| o.keys.clear(),
            &["+ local.demo/identity/a/key/primary (new)"],
        ),
        (
            "duplicate key name",
            |_, o| o.keys.push(key(Some("primary"), "DUP", 5)),
            &["- local.demo/identity/a/key/primary#DUP (differs)"],
        ),
        (
            "expired key",
            |d, _| d.keys[0].expires = Some("2026-11-21".parse().unwrap()),
            &["- local.demo/identity/a/key/primary (expired)"],
        ),
        (
            "key expiring today stays",
            |d, _| d.keys[0].expires = Some("2026-11-22".parse().unwrap()),
            &[],
        ),
        (
            "expired identity",
            |d, _| d.expires = Some("2026-01-01".parse().unwrap()),
            &[
                "- local.demo/identity/a/binding/viewer (expired)",
                "- local.demo/identity/a/key/primary (expired)",
                "- local.demo/identity/a (expired)",
            ],
        ),
    ];
    for (name, mutate, want) in cases {
        let mut d = desired("a");
        let mut o = observed_of(&d);
        mutate(&mut d, &mut o);
        let cfg = config(vec![d], false);
        let got = run(
            &cfg,
            &ObservedState {
                identities: vec![o],
            },
        );
        assert_eq!(summary(&got), *want, "case `{name}`");
    }
}

#[test]
fn unmanaged_is_reported_and_pruned_only_when_asked() {
    let cfg = config(vec![], false);
    let stray = observed_of(&desired("stray"));
    let observed = ObservedState {
        identities: vec![stray],
    };
    let d = run(&cfg, &observed);
    assert!(d.changes.is_empty());
    assert_eq!(
        d.unmanaged
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["local.demo/identity/stray"]
    );

    let cfg = config(vec![], true);
    let d = run(&cfg, &observed);
    assert!(d.unmanaged.is_empty());
    assert_eq!(
        summary(&d),
        [
            "- local.demo/identity/stray/binding/viewer (unmanaged)",
            "- local.demo/identity/stray/key/primary (unmanaged)",
            "- local.demo/identity/stray (unmanaged)",
        ]
    );
}

#[test]
fn expired_and_absent_identity_is_not_created() {
    let mut d = desired("gone");
    d.expires = Some("2020-01-01".parse().unwrap());
    let got = run(&config(vec![d], false), &ObservedState::default());
    assert!(got.changes.is_empty());
}

#[test]
fn touched_records_parent_fingerprints() {
    let d = desired("a");
    let mut o = observed_of(&d);
    o.keys[0] = key(Some("primary"), "OLD", 100);
    let got = run(
        &config(vec![d], false),
        &ObservedState {
            identities: vec![o.clone()],
        },
    );
    let parent = got
        .touched
        .get(&"local.demo/identity/a".parse_address())
        .unwrap();
    assert_eq!(*parent, Some(nhi_provider_sdk::fingerprint(&o.identity)));
    let key_fp = got
        .touched
        .get(&"local.demo/identity/a/key/primary".parse_address())
        .unwrap();
    assert_eq!(*key_fp, Some(o.keys[0].fingerprint()));
}

trait ParseAddress {
    fn parse_address(&self) -> nhi_provider_sdk::Address;
}

impl ParseAddress for str {
    fn parse_address(&self) -> nhi_provider_sdk::Address {
        serde_json::from_value(serde_json::Value::String(self.to_owned())).unwrap()
    }
}

proptest! {
    #[test]
    fn diff_of_self_is_empty(estate in arb_estate()) {
        let (cfg, _) = estate;
        let today: jiff::civil::Date = "2026-11-22".parse().unwrap();
        let live: Vec<ObservedIdentity> = cfg.identities.iter()
            .filter(|d| d.expires.is_none_or(|e| e >= today))
            .map(observed_of).collect();
        let d = run(&cfg, &ObservedState { identities: live });
        prop_assert!(d.changes.is_empty(), "{:?}", summary(&d));
    }

    #[test]
    fn applying_the_changes_converges(estate in arb_estate()) {
        let (cfg, mut observed) = estate;
        let first = run(&cfg, &observed);
        let mut seq = 0;
        for change in &first.changes {
            simulate(&mut observed, &change.operation, now(), &mut seq);
        }
        let second = run(&cfg, &observed);
        prop_assert!(second.changes.is_empty(), "first: {:?}\nsecond: {:?}", summary(&first), summary(&second));
    }

    #[test]
    fn order_is_deterministic(estate in arb_estate()) {
        let (cfg, mut observed) = estate;
        let a = run(&cfg, &observed);
        observed.identities.reverse();
        let b = run(&cfg, &observed);
        prop_assert_eq!(summary(&a), summary(&b));
        prop_assert_eq!(a.touched, b.touched);
        // Every delete of an identity comes after the deletes of its parts.
        for (i, c) in a.changes.iter().enumerate() {
            if c.action == Action::Delete && c.address.identity_of() == c.address {
                prop_assert!(a.changes[i..].iter().all(|later| later.address.identity_of() != c.address || later.reason == Reason::New || later.address == c.address));
            }
        }
    }
}

#[test]
fn fingerprints_agree_with_touched_for_every_change() {
    // What apply recomputes from live state must equal what the plan recorded,
    // for every kind of change, or every plan would be refused as stale.
    let mut d = desired("a");
    d.keys.push(DesiredKey {
        name: "backup".into(),
        adopt: None,
        rotate_after: None,
        retire_after: None,
        status: nhi_provider_sdk::KeyStatus::Active,
        expires: None,
        sink: Sink::Stdout,
    });
    d.bindings[0].policy = Some(serde_json::json!({"x": 1}).into());
    let mut o = observed_of(&d);
    o.identity.owner = "drifted@x".into();
    o.keys[0] = key(Some("primary"), "OLD", 120);
    o.keys.push(key(Some("primary"), "OLDER", 300));
    o.keys.push(key(None, "STRAY", 2));
    o.bindings[0].policy = Some(serde_json::json!({"x": 2}).into());
    o.bindings.push(Binding {
        role: "extra".into(),
        resource: "r".into(),
        policy: None,
    });
    let observed = ObservedState {
        identities: vec![o],
    };
    let cfg = config(vec![d], false);
    let got = run(&cfg, &observed);
    assert_eq!(
        summary(&got),
        [
            "- local.demo/identity/a/binding/extra@r (differs)",
            "- local.demo/identity/a/key/STRAY (differs)",
            "- local.demo/identity/a/key/primary#OLDER (differs)",
            "~ local.demo/identity/a (differs)",
            "~ local.demo/identity/a/binding/viewer (differs)",
            "+/- local.demo/identity/a/key/primary (rotation due)",
        ]
    );
    let names = std::collections::HashSet::from(["a"]);
    let live = super::fingerprints(
        &nhi_provider_sdk::Address::provider("local", "demo"),
        &observed,
        &names,
    );
    for (address, recorded) in &got.touched {
        assert_eq!(live.get(address), recorded.as_ref(), "{address}");
    }
}

proptest! {
    #[test]
    fn touched_fingerprints_match_a_fresh_read(estate in arb_estate()) {
        let (cfg, observed) = estate;
        let got = run(&cfg, &observed);
        let names: std::collections::HashSet<&str> = observed.identities.iter().map(|i| i.identity.name.as_str()).collect();
        let live = super::fingerprints(&nhi_provider_sdk::Address::provider("local", "demo"), &observed, &names);
        for (address, recorded) in &got.touched {
            prop_assert_eq!(live.get(address), recorded.as_ref(), "{}", address);
        }
    }
}

#[test]
fn rotation_with_every_key_slot_taken_deletes_the_old_key_first() {
    let mut d = desired("a");
    d.keys.push(DesiredKey {
        name: "backup".into(),
        adopt: None,
        rotate_after: None,
        retire_after: None,
        status: nhi_provider_sdk::KeyStatus::Active,
        expires: None,
        sink: Sink::Stdout,
    });
    let mut o = observed_of(&d);
    o.keys[0] = key(Some("primary"), "OLD", 120);
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let scopes = [Scope {
        block: &cfg.providers[0],
        observed: &observed,
        key_slots: Some(2),
        retire: None,
        planted: &crate::diff::NO_PLANTED,
    }];
    let got = diff(&cfg, &scopes, now());
    assert_eq!(
        summary(&got),
        [
            "- local.demo/identity/a/key/primary (rotation due)",
            "+ local.demo/identity/a/key/primary (rotation due)",
        ]
    );
    assert!(
        got.changes[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("every key slot is in use (2 at most)")
    );
    // With a free slot the new key comes first.
    let scopes = [Scope {
        block: &cfg.providers[0],
        observed: &observed,
        key_slots: Some(3),
        retire: None,
        planted: &crate::diff::NO_PLANTED,
    }];
    assert_eq!(
        summary(&diff(&cfg, &scopes, now())),
        ["+/- local.demo/identity/a/key/primary (rotation due)"]
    );
}
