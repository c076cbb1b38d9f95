//! Adopting live keys: a declared key that names a live key's id (`adopt`), and
//! a declared key with no live match replacing an undeclared live one, created
//! before the live one is deleted.

use nhi_provider_sdk::{Address, ObservedKey, ObservedState};

use super::{config, desired, key, observed_of, run_with_slots, summary};
use crate::config::Config;

/// Identity `a` declaring key `primary` (adopting `adopt`), holding `keys`.
fn estate(adopt: Option<&str>, keys: Vec<ObservedKey>) -> (Config, ObservedState) {
    let mut d = desired("a");
    d.keys[0].adopt = adopt.map(Into::into);
    let mut o = observed_of(&d);
    o.keys = keys;
    let observed = ObservedState {
        identities: vec![o],
    };
    (config(vec![d], false), observed)
}

/// Plans `estate` within `slots`, checks that what apply recomputes from live
/// state is what the diff recorded, and returns the summary and the details.
fn plan(estate: &(Config, ObservedState), slots: usize) -> (Vec<String>, Vec<String>) {
    let (cfg, observed) = estate;
    let got = run_with_slots(cfg, observed, Some(slots));
    let names = std::collections::HashSet::from(["a"]);
    let live = crate::diff::fingerprints(&Address::provider("local", "demo"), observed, &names);
    for (address, recorded) in &got.touched {
        assert_eq!(live.get(address), recorded.as_ref(), "{address}");
    }
    let details = got
        .changes
        .iter()
        .map(|c| c.detail.clone().unwrap_or_default())
        .collect();
    (summary(&got), details)
}

#[test]
fn adopted_keys_match_plan_and_rotate() {
    // What, the adopted id, the live keys, the key slots, the changes, and
    // what some change's detail says.
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Vec<ObservedKey>,
        usize,
        &'a [&'a str],
        &'a str,
    );
    let cases: &[Case<'_>] = &[
        (
            "an adopted live key is the declared key",
            Some("LIVE1"),
            vec![key(None, "LIVE1", 10)],
            2,
            &[],
            "",
        ),
        (
            "an adopted key due for rotation is replaced, then deleted",
            Some("LIVE1"),
            vec![key(None, "LIVE1", 120)],
            2,
            &[
                "+ local.demo/identity/a/key/primary (rotation due)",
                "- local.demo/identity/a/key/LIVE1 (rotation due)",
            ],
            "deleted after `local.demo/identity/a/key/primary` is created",
        ),
        (
            "with every slot taken, an adopted key is deleted first",
            Some("LIVE1"),
            vec![key(None, "LIVE1", 120)],
            1,
            &[
                "- local.demo/identity/a/key/LIVE1 (rotation due)",
                "+ local.demo/identity/a/key/primary (rotation due)",
            ],
            "so the old key is deleted before its replacement is created",
        ),
        (
            "after rotation the adopted id is gone and the name matches",
            Some("LIVE1"),
            vec![key(Some("primary"), "NEW", 1)],
            2,
            &[],
            "",
        ),
        (
            "a live key carrying the name wins over the adopted id",
            Some("LIVE1"),
            vec![key(Some("primary"), "NEW", 1), key(None, "LIVE1", 120)],
            2,
            &["- local.demo/identity/a/key/LIVE1 (differs)"],
            "",
        ),
        (
            "with key slots full, the live keys are deleted first",
            None,
            vec![key(None, "LIVE1", 10), key(None, "LIVE2", 5)],
            2,
            &[
                "- local.demo/identity/a/key/LIVE1 (differs)",
                "- local.demo/identity/a/key/LIVE2 (differs)",
                "+ local.demo/identity/a/key/primary (new)",
            ],
            "every key slot is in use (2 at most)",
        ),
    ];
    for (what, adopt, keys, slots, want, says) in cases {
        let (got, details) = plan(&estate(*adopt, keys.clone()), *slots);
        assert_eq!(got, *want, "{what}");
        assert!(
            says.is_empty() || details.iter().any(|d| d.contains(says)),
            "{what}: {details:?}"
        );
    }
}

#[test]
fn declaring_an_existing_identity_creates_its_key_before_deleting_the_live_one() {
    let (got, details) = plan(&estate(None, vec![key(None, "LIVE1", 10)]), 2);
    assert_eq!(
        got,
        [
            "+ local.demo/identity/a/key/primary (new)",
            "- local.demo/identity/a/key/LIVE1 (differs)",
        ]
    );
    assert!(
        details[1].contains("deleted after `local.demo/identity/a/key/primary` is created"),
        "{}",
        details[1]
    );
}
