//! Adopting live keys: a declared key that names a live key's id (`adopt`), and
//! a declared key with no live match replacing an undeclared live one, created
//! before the live one is deleted.

use nhi_provider_sdk::{Address, ObservedState};

use super::{config, desired, key, now, observed_of, summary};
use crate::diff::{Scope, diff};

fn run_with_slots(
    cfg: &crate::config::Config,
    observed: &ObservedState,
    slots: Option<usize>,
) -> crate::diff::Diff {
    let scopes = [Scope {
        block: &cfg.providers[0],
        observed,
        key_slots: slots,
        retire: None,
    }];
    diff(cfg, &scopes, now())
}

/// What apply recomputes from live state must be what the diff recorded.
fn assert_touched_match_live(got: &crate::diff::Diff, observed: &ObservedState) {
    let names: std::collections::HashSet<&str> = observed
        .identities
        .iter()
        .map(|i| i.identity.name.as_str())
        .collect();
    let live = crate::diff::fingerprints(&Address::provider("local", "demo"), observed, &names);
    for (address, recorded) in &got.touched {
        assert_eq!(live.get(address), recorded.as_ref(), "{address}");
    }
}

#[test]
fn an_adopted_live_key_is_the_declared_key() {
    let mut d = desired("a");
    d.keys[0].adopt = Some("LIVE1".into());
    let mut o = observed_of(&d);
    o.keys = vec![key(None, "LIVE1", 10)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(2));
    assert!(got.changes.is_empty(), "{:?}", summary(&got));
}

#[test]
fn an_adopted_key_due_for_rotation_is_replaced_then_deleted() {
    let mut d = desired("a");
    d.keys[0].adopt = Some("LIVE1".into());
    let mut o = observed_of(&d);
    o.keys = vec![key(None, "LIVE1", 120)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(2));
    assert_eq!(
        summary(&got),
        [
            "+ local.demo/identity/a/key/primary (rotation due)",
            "- local.demo/identity/a/key/LIVE1 (rotation due)",
        ]
    );
    let retire = got.changes[1].detail.as_deref().unwrap_or_default();
    assert!(retire.contains("deleted after"), "{retire}");
    assert_touched_match_live(&got, &observed);
}

#[test]
fn an_adopted_key_with_every_slot_taken_is_deleted_first() {
    let mut d = desired("a");
    d.keys[0].adopt = Some("LIVE1".into());
    let mut o = observed_of(&d);
    o.keys = vec![key(None, "LIVE1", 120)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(1));
    assert_eq!(
        summary(&got),
        [
            "- local.demo/identity/a/key/LIVE1 (rotation due)",
            "+ local.demo/identity/a/key/primary (rotation due)",
        ]
    );
    assert_touched_match_live(&got, &observed);
}

#[test]
fn after_rotation_the_declared_key_matches_by_name() {
    // The adopted id is gone; the key nhi minted carries the name.
    let mut d = desired("a");
    d.keys[0].adopt = Some("LIVE1".into());
    let mut o = observed_of(&d);
    o.keys = vec![key(Some("primary"), "NEW", 1)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(2));
    assert!(got.changes.is_empty(), "{:?}", summary(&got));
}

#[test]
fn a_live_key_carrying_the_name_wins_over_the_adopted_id() {
    // A rotation that created the new key but failed to delete the old one.
    let mut d = desired("a");
    d.keys[0].adopt = Some("LIVE1".into());
    let mut o = observed_of(&d);
    o.keys = vec![key(Some("primary"), "NEW", 1), key(None, "LIVE1", 120)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(2));
    assert_eq!(
        summary(&got),
        ["- local.demo/identity/a/key/LIVE1 (differs)"]
    );
    assert_touched_match_live(&got, &observed);
}

#[test]
fn declaring_an_existing_identity_creates_its_key_before_deleting_the_live_one() {
    let d = desired("a");
    let mut o = observed_of(&d);
    o.keys = vec![key(None, "LIVE1", 10)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(2));
    assert_eq!(
        summary(&got),
        [
            "+ local.demo/identity/a/key/primary (new)",
            "- local.demo/identity/a/key/LIVE1 (differs)",
        ]
    );
    let delete = got.changes[1].detail.as_deref().unwrap_or_default();
    assert!(
        delete.contains("deleted after `local.demo/identity/a/key/primary` is created"),
        "{delete}"
    );
    assert_touched_match_live(&got, &observed);
}

#[test]
fn declaring_an_identity_whose_key_slots_are_full_deletes_first_and_says_so() {
    let d = desired("a");
    let mut o = observed_of(&d);
    o.keys = vec![key(None, "LIVE1", 10), key(None, "LIVE2", 5)];
    let cfg = config(vec![d], false);
    let observed = ObservedState {
        identities: vec![o],
    };
    let got = run_with_slots(&cfg, &observed, Some(2));
    assert_eq!(
        summary(&got),
        [
            "- local.demo/identity/a/key/LIVE1 (differs)",
            "- local.demo/identity/a/key/LIVE2 (differs)",
            "+ local.demo/identity/a/key/primary (new)",
        ]
    );
    let delete = got.changes[0].detail.as_deref().unwrap_or_default();
    assert!(
        delete.contains("every key slot is in use (2 at most)"),
        "{delete}"
    );
    assert_touched_match_live(&got, &observed);
}
