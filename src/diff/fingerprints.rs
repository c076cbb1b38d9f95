//! Fingerprints of live objects, addressed as the diff addresses them: what apply
//! compares with a plan's touched objects to find a stale plan.

use std::collections::HashMap;

use nhi_provider_sdk::{Address, Digest, ObservedState};

use super::keys::key_addresses;

/// Fingerprints of the live objects of the named identities in one scope, by
/// address: what apply compares with a plan's touched objects.
pub fn fingerprints<S: std::hash::BuildHasher>(
    prefix: &Address,
    observed: &ObservedState,
    identities: &std::collections::HashSet<&str, S>,
) -> HashMap<Address, Digest> {
    let mut out = HashMap::new();
    for have in observed
        .identities
        .iter()
        .filter(|i| identities.contains(i.identity.name.as_str()))
    {
        let address = prefix.identity(&have.identity.name);
        for (key_address, key) in key_addresses(&address, &have.keys) {
            out.insert(key_address, key.fingerprint());
        }
        for binding in &have.bindings {
            out.insert(
                address.binding(&binding.role, &binding.resource),
                nhi_provider_sdk::fingerprint(binding),
            );
        }
        out.insert(address, nhi_provider_sdk::fingerprint(&have.identity));
    }
    out
}
