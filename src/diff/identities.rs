//! Identities: created, updated in place, replaced when their kind changes, and
//! deleted (after retiring, where the provider asks for it) with everything they
//! hold.

use nhi_provider_sdk::{Address, ObservedIdentity, Operation};

use super::keys::key_addresses;
use super::{Builder, Parent, Phase, Reason};
use crate::config::DesiredIdentity;

impl<'a> Builder<'a> {
    pub(super) fn identity(
        &mut self,
        address: &Address,
        want: &DesiredIdentity,
        have: Option<&'a ObservedIdentity>,
        slots: Option<usize>,
    ) {
        let expired = want.expires.is_some_and(|d| d < self.today);
        self.parent = have.map_or(Parent::New, |h| Parent::Live(&h.identity));
        match have {
            None if expired => {}
            None => {
                self.touch(address, None);
                self.push(
                    Phase::PutIdentities,
                    address.clone(),
                    Reason::New,
                    None,
                    Operation::CreateIdentity {
                        identity: want.identity.clone(),
                    },
                );
                for key in &want.keys {
                    if !self.key_expired(key) {
                        self.create_key(address, &want.identity.name, key, Reason::New);
                    }
                }
                for binding in &want.bindings {
                    self.create_binding(address, &want.identity.name, binding, Reason::New);
                }
            }
            Some(have) if expired => {
                let detail = want.expires.map(|d| format!("expired on {d}"));
                self.remove_all_with(address, have, Reason::Expired, detail);
            }
            Some(have)
                if have.identity.kind != want.identity.kind || self.replace_requested(address) =>
            {
                let (reason, detail) = if self.replace_requested(address) {
                    (Reason::ReplaceRequested, "replace requested".to_owned())
                } else {
                    (
                        Reason::Drift,
                        format!(
                            "kind changes from `{}` to `{}`",
                            have.identity.kind, want.identity.kind
                        ),
                    )
                };
                self.remove_parts(address, have, reason);
                self.touch_holdings(address, have);
                self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
                self.push(
                    Phase::RemoveIdentities,
                    address.clone(),
                    reason,
                    Some(detail),
                    Operation::ReplaceIdentity {
                        before: have.identity.clone(),
                        after: want.identity.clone(),
                    },
                );
                for key in &want.keys {
                    if !self.key_expired(key) {
                        self.create_key(address, &want.identity.name, key, Reason::New);
                    }
                }
                for binding in &want.bindings {
                    self.create_binding(address, &want.identity.name, binding, Reason::New);
                }
            }
            Some(have) => {
                if have.identity != want.identity {
                    self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
                    self.push(
                        Phase::PutIdentities,
                        address.clone(),
                        Reason::Drift,
                        None,
                        Operation::UpdateIdentity {
                            before: have.identity.clone(),
                            after: want.identity.clone(),
                        },
                    );
                }
                self.keys(address, want, have, slots);
                self.bindings(address, want, have);
            }
        }
    }

    /// Deletes the keys and bindings an identity holds.
    fn remove_parts(&mut self, address: &Address, have: &ObservedIdentity, reason: Reason) {
        let name = &have.identity.name;
        for (key_address, key) in key_addresses(address, &have.keys) {
            self.delete_key(&key_address, name, key, reason, None);
        }
        for binding in &have.bindings {
            self.delete_binding(address, name, binding, reason, None);
        }
    }

    /// An identity that is deleted goes with everything it holds, including
    /// whatever is added to it after planning: that must make the plan stale.
    fn touch_holdings(&mut self, address: &Address, have: &ObservedIdentity) {
        let digest = super::fingerprints::holdings(address, have);
        self.touch(&address.holdings(), Some(digest));
    }

    pub(super) fn remove_all(
        &mut self,
        address: &Address,
        have: &ObservedIdentity,
        reason: Reason,
    ) {
        self.remove_all_with(
            address,
            have,
            reason,
            Some("in scope but not declared, and the provider block prunes".into()),
        );
    }

    fn remove_all_with(
        &mut self,
        address: &Address,
        have: &ObservedIdentity,
        reason: Reason,
        detail: Option<String>,
    ) {
        if let Some((name, value)) = &self.retire
            && have.identity.attributes.get(name) != Some(value)
        {
            let mut after = have.identity.clone();
            after.attributes.insert(name.clone(), value.clone());
            let detail = format!(
                "{}; retired first (`{name}: {value}`), deleted by a later plan",
                detail.as_deref().unwrap_or("to be deleted")
            );
            self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
            self.push(
                Phase::PutIdentities,
                address.clone(),
                reason,
                Some(detail),
                Operation::UpdateIdentity {
                    before: have.identity.clone(),
                    after,
                },
            );
            return;
        }
        self.remove_parts(address, have, reason);
        self.touch_holdings(address, have);
        self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
        self.push(
            Phase::RemoveIdentities,
            address.clone(),
            reason,
            detail,
            Operation::DeleteIdentity {
                identity: have.identity.clone(),
            },
        );
    }
}
