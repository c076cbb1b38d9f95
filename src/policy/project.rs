//! The estate as it will be after apply: each scope's live state with the
//! plan's changes carried out, in memory. Identities no change touches are
//! borrowed as they are, so projecting a large estate copies little.

use std::borrow::Cow;
use std::collections::HashMap;

use nhi_provider_sdk::{
    Binding, Identity, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, Operation,
};

use crate::diff::Change;

/// One identity after apply.
#[derive(Debug, Clone)]
pub(crate) struct Projected<'a> {
    pub identity: Cow<'a, Identity>,
    pub keys: Cow<'a, [ObservedKey]>,
    pub bindings: Cow<'a, [Binding]>,
}

/// Calls `each` with every identity of one scope after `changes` (those whose
/// address starts with `prefix`): live identities in their order, then those the
/// plan creates; deleted identities are skipped. A key minted by the plan has an
/// empty id, is active, and was created `now`.
pub(crate) fn project<'a>(
    prefix: &str,
    observed: &'a ObservedState,
    changes: &'a [Change],
    now: jiff::Timestamp,
    each: &mut dyn FnMut(&Projected<'_>),
) {
    let mut touched: HashMap<&str, Vec<&Operation>> = HashMap::new();
    for change in changes {
        if change.address.provider_prefix() == prefix {
            touched
                .entry(change.operation.identity_name())
                .or_default()
                .push(&change.operation);
        }
    }
    for live in &observed.identities {
        let projected = match touched.remove(live.identity.name.as_str()) {
            None => Some(Projected {
                identity: Cow::Borrowed(&live.identity),
                keys: Cow::Borrowed(&live.keys),
                bindings: Cow::Borrowed(&live.bindings),
            }),
            Some(ops) => carry_out(Some(live), &ops, now),
        };
        if let Some(projected) = projected {
            each(&projected);
        }
    }
    // Identities the plan creates, in name order.
    let mut created: Vec<_> = touched.into_values().collect();
    created.sort_by_key(|ops| ops[0].identity_name());
    for ops in created {
        if let Some(projected) = carry_out(None, &ops, now) {
            each(&projected);
        }
    }
}

fn carry_out<'a>(
    live: Option<&'a ObservedIdentity>,
    ops: &[&'a Operation],
    now: jiff::Timestamp,
) -> Option<Projected<'a>> {
    let mut identity = live.map(|l| Cow::Borrowed(&l.identity));
    let mut keys: Vec<ObservedKey> = live.map(|l| l.keys.clone()).unwrap_or_default();
    let mut bindings: Vec<Binding> = live.map(|l| l.bindings.clone()).unwrap_or_default();
    let minted = |key: &str| ObservedKey {
        id: String::new(),
        name: Some(key.to_owned()),
        created: now,
        status: KeyStatus::Active,
        last_used: None,
        expires: None,
        leaked: None,
    };
    for op in ops {
        match op {
            Operation::CreateIdentity { identity: new }
            | Operation::UpdateIdentity { after: new, .. }
            | Operation::ReplaceIdentity { after: new, .. } => {
                identity = Some(Cow::Borrowed(new));
            }
            Operation::DeleteIdentity { .. } => {
                identity = None;
                keys.clear();
                bindings.clear();
            }
            Operation::CreateKey { key, .. } => keys.push(minted(key)),
            Operation::RotateKey { key, old, .. } => {
                keys.retain(|k| k.id != old.id);
                keys.push(minted(key));
            }
            Operation::DeleteKey { key, .. } => keys.retain(|k| k.id != key.id),
            Operation::CreateBinding { binding, .. } => bindings.push(binding.clone()),
            Operation::UpdateBinding { after, .. } => {
                bindings.retain(|b| !b.same_object(after));
                bindings.push(after.clone());
            }
            Operation::DeleteBinding { binding, .. } => {
                bindings.retain(|b| !b.same_object(binding));
            }
            Operation::DeactivateKey { key, .. } => {
                for k in keys.iter_mut().filter(|k| k.id == key.id) {
                    k.status = nhi_provider_sdk::KeyStatus::Inactive;
                }
            }
            Operation::RevokeSessions { .. } => {}
        }
    }
    Some(Projected {
        identity: identity?,
        keys: Cow::Owned(keys),
        bindings: Cow::Owned(bindings),
    })
}
