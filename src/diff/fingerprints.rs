//! Fingerprints of live objects, addressed as the diff addresses them: what apply
//! compares with a plan's touched objects to find a stale plan.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use nhi_provider_sdk::{Address, Digest, ObservedIdentity, ObservedState};

use super::keys::key_addresses;

/// Fingerprints of the live objects of the named identities in one scope, by
/// address: each identity, its keys, its bindings, and its holdings
/// ([`Address::holdings`]): what apply compares with a plan's touched objects.
pub fn fingerprints<N, S>(
    prefix: &Address,
    observed: &ObservedState,
    identities: &std::collections::HashSet<N, S>,
) -> HashMap<Address, Digest>
where
    N: Borrow<str> + Hash + Eq,
    S: BuildHasher,
{
    let mut out = HashMap::new();
    for have in observed
        .identities
        .iter()
        .filter(|i| identities.contains(i.identity.name.as_str()))
    {
        let address = prefix.identity(&have.identity.name);
        let parts = parts(&address, have);
        out.insert(address.holdings(), holdings_of(&parts));
        out.extend(parts);
        out.insert(address, nhi_provider_sdk::fingerprint(&have.identity));
    }
    out
}

/// The fingerprint of everything a live identity holds: its keys and bindings,
/// by address. A plan that deletes the identity records it, so a key or binding
/// added after planning makes the plan stale before its first change.
pub(super) fn holdings(address: &Address, have: &ObservedIdentity) -> Digest {
    holdings_of(&parts(address, have))
}

fn parts(address: &Address, have: &ObservedIdentity) -> Vec<(Address, Digest)> {
    let mut parts: Vec<(Address, Digest)> = key_addresses(address, &have.keys)
        .into_iter()
        .map(|(a, key)| (a, key.fingerprint()))
        .chain(have.bindings.iter().map(|binding| {
            (
                address.binding(&binding.role, &binding.resource),
                nhi_provider_sdk::fingerprint(binding),
            )
        }))
        .collect();
    parts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    parts
}

fn holdings_of(parts: &[(Address, Digest)]) -> Digest {
    nhi_provider_sdk::fingerprint(&parts)
}
