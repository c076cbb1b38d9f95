//! Apply's check that the plan saw the keys as the receipt log says: a plan
//! made without the log (a CI plan, say) may take a key someone planted and
//! named by its tag for the key nhi minted. Each key change must address its
//! key as the recognised live state does, or the plan is refused before the
//! first change.

use nhi_provider_sdk::ObservedState;

use super::ApplyError;
use crate::diff::{Change, Planted, key_addresses};

pub(super) fn check(
    changes: &[Change],
    states: &[(String, ObservedState)],
    planted: &[(String, Planted)],
) -> Result<(), ApplyError> {
    if planted.is_empty() {
        return Ok(());
    }
    for change in changes {
        let Some(key) = change.operation.live_key() else {
            continue;
        };
        let prefix = change.address.provider_prefix();
        let Some((_, state)) = states.iter().find(|(p, _)| p == prefix) else {
            continue;
        };
        let identity = change.operation.identity_name();
        let Ok(at) = state
            .identities
            .binary_search_by(|i| i.identity.name.as_str().cmp(identity))
        else {
            continue;
        };
        let identity_address = change.address.identity_of();
        let keys = &state.identities[at].keys;
        // A key gone since planning is the stale check's to report.
        let Some((address, seen)) = key_addresses(&identity_address, keys)
            .into_iter()
            .find(|(_, k)| k.id == key.id)
        else {
            continue;
        };
        if address == change.address && seen.name == key.name {
            continue;
        }
        let claims = planted
            .iter()
            .find(|(p, _)| p == prefix)
            .map_or(&crate::diff::NO_PLANTED, |(_, p)| p);
        let detail = if let Some(claimed) = claims.claim(identity, &key.id) {
            format!(
                "it takes `{}` for key `{claimed}`, but nhi never minted that key (not in the \
                 receipt log): only the provider's record names it",
                key.id
            )
        } else if let Some(name) = &seen.name {
            let impostor = claims
                .iter()
                .find(|(i, _, claimed)| *i == identity && claimed == name)
                .map(|(_, id, _)| id);
            match impostor {
                Some(impostor) => format!(
                    "`{}`, the key nhi minted as `{name}`, would be {}, and `{impostor}` kept, \
                     which the provider's record names `{name}` but nhi never minted (not in the \
                     receipt log)",
                    key.id,
                    change.action.verb()
                ),
                None => format!(
                    "the receipt log says `{}` is key `{name}`, which the plan addresses as `{}`",
                    key.id, change.address
                ),
            }
        } else {
            format!(
                "key `{}` is `{address}` by the receipt log, but the plan addresses it as `{}`",
                key.id, change.address
            )
        };
        return Err(ApplyError::UnmintedKey {
            change: change.address.to_string(),
            detail,
        });
    }
    Ok(())
}
