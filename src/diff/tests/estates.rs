//! Arbitrary estates (a configuration and what a scope holds) and a model of what
//! a provider does with each operation, for the engine's properties.

use nhi_provider_sdk::{
    Age, Binding, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, Operation, Sink,
};
use proptest::prelude::*;

use super::{config, desired, identity, key};
use crate::config::{Config, DesiredIdentity, DesiredKey};

/// A model of what a provider does with each operation, for the convergence property.
pub(crate) fn simulate(
    observed: &mut ObservedState,
    operation: &Operation,
    now: jiff::Timestamp,
    seq: &mut u32,
) {
    let find = |o: &mut ObservedState, name: &str| {
        o.identities.iter().position(|i| i.identity.name == name)
    };
    match operation {
        Operation::CreateIdentity { identity } => {
            observed.identities.push(ObservedIdentity {
                identity: identity.clone(),
                keys: vec![],
                bindings: vec![],
            });
        }
        Operation::UpdateIdentity { after, .. } | Operation::ReplaceIdentity { after, .. } => {
            let i = find(observed, &after.name).unwrap();
            observed.identities[i].identity = after.clone();
        }
        Operation::DeleteIdentity { identity } => {
            let i = find(observed, &identity.name).unwrap();
            assert!(
                observed.identities[i].keys.is_empty()
                    && observed.identities[i].bindings.is_empty(),
                "parts deleted first"
            );
            observed.identities.remove(i);
        }
        Operation::CreateKey { identity, key } | Operation::RotateKey { identity, key, .. } => {
            let i = find(observed, identity).unwrap();
            *seq += 1;
            observed.identities[i].keys.push(ObservedKey {
                id: format!("NEW{seq}"),
                name: Some(key.clone()),
                created: now,
                status: KeyStatus::Active,
                last_used: None,
                expires: None,
                leaked: None,
            });
            if let Operation::RotateKey { old, .. } = operation {
                observed.identities[i].keys.retain(|k| k.id != old.id);
            }
        }
        Operation::DeleteKey { identity, key } => {
            let i = find(observed, identity).unwrap();
            observed.identities[i].keys.retain(|k| k.id != key.id);
        }
        Operation::CreateBinding { identity, binding } => {
            let i = find(observed, identity).unwrap();
            observed.identities[i].bindings.push(binding.clone());
        }
        Operation::UpdateBinding {
            identity, after, ..
        } => {
            let i = find(observed, identity).unwrap();
            let b = observed.identities[i]
                .bindings
                .iter_mut()
                .find(|b| b.same_object(after))
                .unwrap();
            *b = after.clone();
        }
        Operation::DeleteBinding { identity, binding } => {
            let i = find(observed, identity).unwrap();
            observed.identities[i]
                .bindings
                .retain(|b| !b.same_object(binding));
        }
        Operation::DeactivateKey { .. } | Operation::RevokeSessions { .. } => {
            unreachable!("plans never revoke")
        }
    }
    observed
        .identities
        .sort_by(|a, b| a.identity.name.cmp(&b.identity.name));
}

fn arb_identity(name: String) -> impl Strategy<Value = (DesiredIdentity, ObservedIdentity)> {
    (
        prop::sample::select(vec!["service_account", "user"]),
        prop::sample::select(vec!["a@x", "b@x"]),
        prop::collection::btree_map("[a-c]", "[x-z]", 0..3),
        prop::collection::vec(
            (
                prop::sample::select(vec!["primary", "backup"]),
                0i64..200,
                any::<bool>(),
                // A live key nhi did not name, which a declared key adopts by id.
                prop::sample::select(vec![false, false, true]),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                prop::sample::select(vec!["viewer", "editor", "admin"]),
                prop::sample::select(vec!["*", "r1"]),
                prop::option::of(0u8..3),
            ),
            0..4,
        ),
        prop::option::of(prop::sample::select(vec!["2026-01-01", "2027-01-01"])),
        any::<u64>(),
    )
        .prop_map(move |(kind, owner, tags, keys, bindings, expires, seed)| {
            let mut d = desired(&name);
            d.identity.kind = kind.into();
            d.identity.owner = owner.into();
            d.identity.tags = tags.into();
            d.expires = expires.map(|e| e.parse().unwrap());
            d.keys = vec![];
            d.bindings = vec![];
            let mut o = ObservedIdentity {
                identity: identity(&name),
                keys: vec![],
                bindings: vec![],
            };
            for (i, (k, age, declared, unnamed)) in keys.into_iter().enumerate() {
                let id = format!("K{i}");
                if declared && !d.keys.iter().any(|x| x.name == k) {
                    d.keys.push(DesiredKey {
                        name: k.into(),
                        adopt: unnamed.then(|| id.clone()),
                        rotate_after: Some(Age::from_str_days(90)),
                        retire_after: None,
                        status: nhi_provider_sdk::KeyStatus::Active,
                        expires: None,
                        sink: Sink::Stdout,
                    });
                }
                o.keys.push(key((!unnamed).then_some(k), &id, age));
            }
            for (role, resource, policy) in bindings {
                let b = Binding {
                    role: role.into(),
                    resource: resource.into(),
                    policy: policy.map(|p| serde_json::json!({"p": p}).into()),
                };
                if seed % 2 == 0 && !o.bindings.iter().any(|x| x.same_object(&b)) {
                    o.bindings.push(b.clone());
                }
                if !d.bindings.iter().any(|x| x.same_object(&b)) {
                    d.bindings.push(b.clone());
                }
                if seed % 3 == 0 && !o.bindings.iter().any(|x| x.same_object(&b)) {
                    o.bindings.push(Binding { policy: None, ..b });
                }
            }
            (d, o)
        })
}

trait AgeDays {
    fn from_str_days(days: u32) -> Age;
}

impl AgeDays for Age {
    fn from_str_days(days: u32) -> Age {
        format!("{days}d").parse().unwrap()
    }
}

pub(crate) fn arb_estate() -> impl Strategy<Value = (Config, ObservedState)> {
    (
        prop::collection::vec(any::<(bool, bool)>(), 1..6),
        any::<bool>(),
    )
        .prop_flat_map(|(slots, prune)| {
            let parts: Vec<_> = slots
                .iter()
                .enumerate()
                .map(|(i, _)| arb_identity(format!("id{i}")))
                .collect();
            (parts, Just(slots), Just(prune))
        })
        .prop_map(|(parts, slots, prune)| {
            let mut desired_ids = vec![];
            let mut observed = vec![];
            for ((d, o), (declared, live)) in parts.into_iter().zip(slots) {
                if declared {
                    desired_ids.push(d);
                }
                if live {
                    observed.push(o);
                }
            }
            (
                config(desired_ids, prune),
                ObservedState {
                    identities: observed,
                },
            )
        })
}
