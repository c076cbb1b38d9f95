//! A key's declared `status` and the grace period of `retire_after`: which
//! combination of declared and live status changes what, and when the old key
//! of a rotation is deleted.

use nhi_provider_sdk::{KeyStatus, ObservedKey, ObservedState, Operation};

use super::{config, desired, key, observed_of, run_with_slots, summary};

fn with_status(mut key: ObservedKey, status: KeyStatus) -> ObservedKey {
    key.status = status;
    key
}

/// One identity `a` whose key `primary` declares `declared` and `retire_after`
/// (`rotate_after` 90d), against `live`, in a scope of `slots` key slots.
fn plan(
    declared: KeyStatus,
    retire_after: Option<&str>,
    live: Vec<ObservedKey>,
    slots: Option<usize>,
) -> super::super::Diff {
    let mut want = desired("a");
    want.keys[0].status = declared;
    want.keys[0].retire_after = retire_after.map(|r| r.parse().unwrap());
    let mut have = observed_of(&want);
    have.keys = live;
    let cfg = config(vec![want], false);
    let observed = ObservedState {
        identities: vec![have],
    };
    run_with_slots(&cfg, &observed, slots)
}

/// What, the declared status, the live keys, the changes, and a part of the
/// first change's detail.
type Case = (
    &'static str,
    KeyStatus,
    Vec<ObservedKey>,
    Vec<&'static str>,
    &'static str,
);

#[test]
fn declared_and_live_status() {
    use KeyStatus::{Active, Inactive};
    let primary = |days, status| with_status(key(Some("primary"), "K1", days), status);
    let cases: Vec<Case> = vec![
        (
            "inactive and inactive is converged",
            Inactive,
            vec![primary(1, Inactive)],
            vec![],
            "",
        ),
        (
            "inactive over active deactivates",
            Inactive,
            vec![primary(1, Active)],
            vec!["~ local.demo/identity/a/key/primary (status declared)"],
            "declared `status: inactive`; the key is kept",
        ),
        (
            "inactive is never rotated, even when due",
            Inactive,
            vec![primary(200, Inactive)],
            vec![],
            "",
        ),
        (
            "active over inactive rotates and says so",
            Active,
            vec![primary(1, Inactive)],
            vec!["+/- local.demo/identity/a/key/primary (differs)"],
            "a new active key replaces it and the inactive one is deleted",
        ),
        (
            "inactive without a live key is not created",
            Inactive,
            vec![],
            vec![],
            "",
        ),
        (
            "active and active is converged",
            Active,
            vec![primary(1, Active)],
            vec![],
            "",
        ),
    ];
    for (what, declared, live, want, detail) in cases {
        let d = plan(declared, None, live, None);
        assert_eq!(summary(&d), want, "{what}");
        if let Some(change) = d.changes.first() {
            let text = change.detail.as_deref().unwrap_or_default();
            assert!(text.contains(detail), "{what}: {text}");
            if declared == Inactive {
                assert!(
                    matches!(change.operation, Operation::DeactivateKey { .. }),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn rotation_with_a_grace_period_deactivates_the_old_key() {
    let d = plan(
        KeyStatus::Active,
        Some("7d"),
        vec![key(Some("primary"), "K1", 100)],
        None,
    );
    assert_eq!(
        summary(&d),
        ["+/- local.demo/identity/a/key/primary (rotation due)"]
    );
    let change = &d.changes[0];
    assert!(matches!(
        change.operation,
        Operation::RotateKey {
            deactivate_old: true,
            ..
        }
    ));
    let detail = change.detail.as_deref().unwrap();
    assert!(
        detail.ends_with(
            "the old key is deactivated, and deleted by the first plan from 2026-11-29 \
             (retire_after is 7d)"
        ),
        "{detail}"
    );
}

#[test]
fn the_old_key_is_deleted_once_the_new_key_is_retire_after_old() {
    let cases = [
        (0, vec![]),
        (6, vec![]),
        (
            7,
            vec!["- local.demo/identity/a/key/primary#OLD (rotation due)"],
        ),
        (
            30,
            vec!["- local.demo/identity/a/key/primary#OLD (rotation due)"],
        ),
    ];
    for (day, want) in cases {
        let live = vec![
            with_status(key(Some("primary"), "OLD", 100 + day), KeyStatus::Inactive),
            key(Some("primary"), "NEW", day),
        ];
        let d = plan(KeyStatus::Active, Some("7d"), live, Some(2));
        assert_eq!(summary(&d), want, "day {day}");
        if let Some(change) = d.changes.first() {
            assert_eq!(
                change.detail.as_deref(),
                Some(&*format!(
                    "inactive since its rotation {day} days ago; retire_after is 7d"
                )),
            );
        }
    }
}

#[test]
fn a_rotation_needing_the_slot_of_a_waiting_key_deletes_it_first() {
    let mut want = desired("a");
    want.keys[0].retire_after = Some("7d".parse().unwrap());
    want.keys[0].rotate_after = Some("5d".parse().unwrap());
    let mut have = observed_of(&want);
    have.keys = vec![
        with_status(key(Some("primary"), "OLD", 106), KeyStatus::Inactive),
        key(Some("primary"), "NEW", 6),
    ];
    let cfg = config(vec![want], false);
    let observed = ObservedState {
        identities: vec![have],
    };
    let d = run_with_slots(&cfg, &observed, Some(2));
    assert_eq!(
        summary(&d),
        [
            "- local.demo/identity/a/key/primary#OLD (rotation due)",
            "+/- local.demo/identity/a/key/primary (rotation due)"
        ]
    );
    assert!(
        d.changes[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("deleted before its grace period ends")
    );
    // With a free slot the waiting key stays.
    let d = run_with_slots(&cfg, &observed, Some(3));
    assert_eq!(
        summary(&d),
        ["+/- local.demo/identity/a/key/primary (rotation due)"]
    );
}

#[test]
fn an_active_old_key_is_deleted_whatever_the_grace_period() {
    // The deactivation after a rotation failed: the old key is still active.
    let live = vec![
        key(Some("primary"), "OLD", 101),
        key(Some("primary"), "NEW", 1),
    ];
    let d = plan(KeyStatus::Active, Some("7d"), live, None);
    assert_eq!(
        summary(&d),
        ["- local.demo/identity/a/key/primary#OLD (differs)"]
    );
}
