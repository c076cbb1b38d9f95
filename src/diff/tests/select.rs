//! `--target` and `--replace`: which changes a request keeps, and which
//! addresses it refuses.

use std::collections::BTreeSet;

use nhi_provider_sdk::{Address, ObservedState};

use super::{block, config, desired, key, now, observed_of, summary};
use crate::diff::{Request, Scope, SelectError, check_request, diff_replacing, select};

fn a(text: &str) -> Address {
    Address::raw(text)
}

fn request(targets: &[&str], replace: &[&str]) -> Request {
    Request {
        targets: targets.iter().map(|t| a(t)).collect(),
        replace: replace.iter().map(|t| a(t)).collect(),
    }
}

/// `a` drifts (an extra binding), `b` is new, `c` has a key due for rotation.
fn estate() -> (crate::config::Config, ObservedState) {
    let cfg = config(vec![desired("a"), desired("b"), desired("c")], false);
    let mut oa = observed_of(&cfg.identities[0]);
    oa.bindings.push(nhi_provider_sdk::Binding {
        role: "admin".into(),
        resource: "*".into(),
        policy: None,
    });
    let mut oc = observed_of(&cfg.identities[2]);
    oc.keys[0] = key(Some("primary"), "OLD", 120);
    (
        cfg,
        ObservedState {
            identities: vec![oa, oc],
        },
    )
}

/// The request checked, diffed and selected, as `plan::plan` does it.
fn planned(
    cfg: &crate::config::Config,
    observed: &ObservedState,
    slots: Option<usize>,
    request: &Request,
) -> Result<(super::super::Diff, u64), SelectError> {
    let scopes = [Scope {
        block: &cfg.providers[0],
        observed,
        key_slots: slots,
        retire: None,
        planted: &crate::diff::NO_PLANTED,
    }];
    check_request(cfg, &scopes, request, &|_| true)?;
    let mut d = diff_replacing(cfg, &scopes, now(), &request.replace);
    let selected = select(&mut d, request)?;
    Ok((d, selected.left_out))
}

#[test]
fn a_target_keeps_what_it_names_and_what_that_needs_first() {
    let (cfg, observed) = estate();
    let cases: &[(&[&str], &[&str], u64)] = &[
        // An identity: its own changes, keys and bindings.
        (
            &["local.demo/identity/a"],
            &["- local.demo/identity/a/binding/admin (differs)"],
            4,
        ),
        // A key of a new identity: the identity first, not its binding.
        (
            &["local.demo/identity/b/key/primary"],
            &[
                "+ local.demo/identity/b (new)",
                "+ local.demo/identity/b/key/primary (new)",
            ],
            3,
        ),
        // A part of a live identity alone.
        (
            &["local.demo/identity/c/key/primary"],
            &["+/- local.demo/identity/c/key/primary (rotation due)"],
            4,
        ),
        // Named, but nothing to do.
        (&["local.demo/identity/c/binding/viewer"], &[], 5),
        (
            &["local.demo/identity/a", "local.demo/identity/b"],
            &[
                "- local.demo/identity/a/binding/admin (differs)",
                "+ local.demo/identity/b (new)",
                "+ local.demo/identity/b/binding/viewer (new)",
                "+ local.demo/identity/b/key/primary (new)",
            ],
            1,
        ),
    ];
    for (targets, want, left_out) in cases {
        let (got, out) = planned(&cfg, &observed, None, &request(targets, &[])).unwrap();
        assert_eq!(summary(&got), *want, "{targets:?}");
        assert_eq!(out, *left_out, "{targets:?}");
        // Only what the kept changes touch is fingerprinted.
        let touched: BTreeSet<String> = got.touched.keys().map(ToString::to_string).collect();
        for t in &touched {
            assert!(
                got.changes
                    .iter()
                    .any(|c| c.address.as_str() == t || c.address.identity_of().as_str() == t),
                "{targets:?}: {t}"
            );
        }
    }
}

#[test]
fn without_targets_a_replacement_keeps_every_change() {
    let (cfg, observed) = estate();
    let full = planned(&cfg, &observed, None, &Request::default()).unwrap();
    let (got, left_out) = planned(
        &cfg,
        &observed,
        None,
        &request(&[], &["local.demo/identity/a/key/primary"]),
    )
    .unwrap();
    assert_eq!(left_out, 0);
    assert_eq!(got.changes.len(), full.0.changes.len() + 1);
    assert!(
        summary(&got)
            .contains(&"+/- local.demo/identity/a/key/primary (replace requested)".to_owned())
    );
}

#[test]
fn a_replaced_key_is_rotated_within_the_key_slots() {
    let (cfg, observed) = estate();
    let replace = request(
        &["local.demo/identity/a/key/primary"],
        &["local.demo/identity/a/key/primary"],
    );
    let (got, _) = planned(&cfg, &observed, None, &replace).unwrap();
    assert_eq!(
        summary(&got),
        ["+/- local.demo/identity/a/key/primary (replace requested)"]
    );
    assert_eq!(got.changes[0].detail.as_deref(), Some("replace requested"));
    // One slot, taken: the old key goes first.
    let (got, _) = planned(&cfg, &observed, Some(1), &replace).unwrap();
    assert_eq!(
        summary(&got),
        [
            "- local.demo/identity/a/key/primary (replace requested)",
            "+ local.demo/identity/a/key/primary (replace requested)",
        ]
    );
}

#[test]
fn a_replaced_identity_goes_with_what_it_holds_and_comes_back_with_it() {
    let (cfg, observed) = estate();
    let (got, _) = planned(
        &cfg,
        &observed,
        None,
        &request(&["local.demo/identity/c"], &["local.demo/identity/c"]),
    )
    .unwrap();
    assert_eq!(
        summary(&got),
        [
            "- local.demo/identity/c/binding/viewer (replace requested)",
            "- local.demo/identity/c/key/primary (replace requested)",
            "-/+ local.demo/identity/c (replace requested)",
            "+ local.demo/identity/c/binding/viewer (new)",
            "+ local.demo/identity/c/key/primary (new)",
        ]
    );
    // A key of an identity being replaced brings the whole replacement.
    let (whole, _) = planned(
        &cfg,
        &observed,
        None,
        &request(
            &["local.demo/identity/c/binding/viewer"],
            &["local.demo/identity/c"],
        ),
    )
    .unwrap();
    assert_eq!(summary(&whole), summary(&got));
}

#[test]
fn addresses_that_name_nothing_are_refused() {
    let (cfg, mut observed) = estate();
    observed.identities.push(observed_of(&desired("stray")));
    let target = |t: &str| request(&[t], &[]);
    let replace = |r: &str| request(&[], &[r]);
    let cases: Vec<(Request, &str)> = vec![
        (
            target("local.demo/identity/ab"),
            "`--target local.demo/identity/ab` names nothing in the configuration or in live state; did you mean `local.demo/identity/a`?",
        ),
        (
            target("local.demo/identity/a/key/primry"),
            "`--target local.demo/identity/a/key/primry` names nothing in the configuration or in live state; did you mean `local.demo/identity/a/key/primary`?",
        ),
        (
            target("local.demo/identity/zzzzzzzz"),
            "`--target local.demo/identity/zzzzzzzz` names nothing in the configuration or in live state; addresses are those `nhi plan` shows: `<type>.<provider>/identity/<name>`, followed by `/key/<name>` or `/binding/<role>`",
        ),
        (
            replace("local.demo/identity/b"),
            "`--replace local.demo/identity/b` names no live key or identity; did you mean `local.demo/identity/a`?",
        ),
        (
            replace("local.demo/identity/a/binding/viewer"),
            "`--replace local.demo/identity/a/binding/viewer` names no live key or identity; `--replace` takes the address of a live key (`.../key/<name>`) or identity, as `nhi plan` shows it",
        ),
        (
            replace("local.demo/identity/stray"),
            "`--replace local.demo/identity/stray` cannot be replaced: the configuration does not declare it, so nothing would take its place",
        ),
    ];
    for (request, want) in cases {
        let err = planned(&cfg, &observed, None, &request).unwrap_err();
        let help = miette::Diagnostic::help(&err).map(|h| h.to_string());
        let shown = match help {
            Some(h) if !matches!(err, SelectError::CannotReplace { .. }) => format!("{err}; {h}"),
            _ => err.to_string(),
        };
        assert_eq!(shown, want);
    }
    // A provider that cannot replace identities says so.
    let scopes = [Scope {
        block: &cfg.providers[0],
        observed: &observed,
        key_slots: None,
        retire: None,
        planted: &crate::diff::NO_PLANTED,
    }];
    let err =
        check_request(&cfg, &scopes, &replace("local.demo/identity/a"), &|_| false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`--replace local.demo/identity/a` cannot be replaced: the provider of `local.demo` cannot replace an identity"
    );
}

#[test]
fn a_replacement_the_diff_does_not_plan_is_refused() {
    let mut cfg = config(vec![desired("a")], false);
    let observed = ObservedState {
        identities: vec![observed_of(&cfg.identities[0])],
    };
    cfg.identities[0].keys[0].expires = Some("2026-01-01".parse().unwrap());
    let err = planned(
        &cfg,
        &observed,
        None,
        &request(&[], &["local.demo/identity/a/key/primary"]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`--replace local.demo/identity/a/key/primary` cannot be replaced: the plan already has it deleted (expired)"
    );
    let _ = block(false);
}
