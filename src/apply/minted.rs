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

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{
        Address, Identity, KeyStatus, ObservedIdentity, ObservedKey, Operation, Tags,
    };

    use super::*;
    use crate::diff::{Action, MintedKeys, Reason, Risk, recognise};

    fn key(id: &str, name: Option<&str>, created: &str) -> ObservedKey {
        ObservedKey {
            id: id.into(),
            name: name.map(Into::into),
            created: created.parse().unwrap(),
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        }
    }

    fn change(address: &str, operation: Operation) -> Change {
        Change {
            address: Address::raw(address),
            action: Action::of(&operation),
            reason: Reason::Drift,
            risk: Risk::of(&operation),
            detail: None,
            operation,
            sink: None,
        }
    }

    fn delete(address: &str, key: ObservedKey) -> Change {
        change(
            address,
            Operation::DeleteKey {
                identity: "ci".into(),
                key,
            },
        )
    }

    /// `ci` holds the key nhi minted as `primary` and, newer, one planted under
    /// that name (the provider's record says `provider_names`), as apply reads
    /// it with the receipt log.
    fn live(provider_names: [Option<&str>; 2]) -> (Vec<(String, ObservedState)>, Planted) {
        let prefix = Address::provider("aws", "prod");
        let mut state = ObservedState {
            identities: vec![ObservedIdentity {
                identity: Identity {
                    name: "ci".into(),
                    kind: "user".into(),
                    owner: "o".into(),
                    description: String::new(),
                    tags: Tags::new(),
                    attributes: std::collections::BTreeMap::new(),
                },
                keys: vec![
                    key("MINTED", provider_names[0], "2026-07-01T00:00:00Z"),
                    key("PLANTED", provider_names[1], "2026-08-01T00:00:00Z"),
                ],
                bindings: Vec::new(),
            }],
        };
        let mut minted = MintedKeys::default();
        minted.vouch_from("2026-06-01T00:00:00Z".parse().unwrap());
        minted.record(&prefix.identity("ci").key("primary"), "MINTED");
        let planted = recognise(&prefix, &mut state, &minted);
        (vec![("aws.prod".into(), state)], planted)
    }

    const CI: &str = "aws.prod/identity/ci";

    /// What, the provider's names, the planned change, the refusal's detail.
    type Case<'a> = (&'a str, [Option<&'a str>; 2], Change, Option<&'a str>);

    #[test]
    fn a_plan_that_mistook_a_planted_key_for_the_minted_one_is_refused() {
        let primary = Some("primary");
        let cases: &[Case<'_>] = &[
            (
                "the minted key deleted as a second key named primary",
                [primary, primary],
                delete(
                    &format!("{CI}/key/primary#MINTED"),
                    key("MINTED", primary, "2026-07-01T00:00:00Z"),
                ),
                Some(
                    "`MINTED`, the key nhi minted as `primary`, would be deleted, and `PLANTED` kept",
                ),
            ),
            (
                "the planted key rotated as primary",
                [primary, primary],
                change(
                    &format!("{CI}/key/primary"),
                    Operation::RotateKey {
                        identity: "ci".into(),
                        key: "primary".into(),
                        old: key("PLANTED", primary, "2026-08-01T00:00:00Z"),
                        deactivate_old: false,
                    },
                ),
                Some("it takes `PLANTED` for key `primary`, but nhi never minted that key"),
            ),
            (
                "the minted key deleted as unnamed after its record was dropped",
                [None, None],
                delete(
                    &format!("{CI}/key/MINTED"),
                    key("MINTED", None, "2026-07-01T00:00:00Z"),
                ),
                Some("the receipt log says `MINTED` is key `primary`"),
            ),
            (
                "the planted key deleted, as a plan with the log deletes it",
                [primary, primary],
                delete(
                    &format!("{CI}/key/PLANTED"),
                    key("PLANTED", None, "2026-08-01T00:00:00Z"),
                ),
                None,
            ),
        ];
        for (what, names, planned, refused) in cases {
            let (states, planted) = live(*names);
            let result = check(
                std::slice::from_ref(planned),
                &states,
                &[("aws.prod".into(), planted)],
            );
            match (result, refused) {
                (Ok(()), None) => {}
                (Err(ApplyError::UnmintedKey { change, detail }), Some(want)) => {
                    assert_eq!(change, planned.address.as_str(), "{what}");
                    assert!(detail.contains(want), "{what}: {detail}");
                }
                (other, _) => panic!("{what}: {other:?}"),
            }
        }
    }
}
