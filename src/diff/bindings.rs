//! Bindings: created when declared and absent, updated when their inline policy
//! differs, deleted when live but not declared.

use nhi_provider_sdk::{Address, Binding, ObservedIdentity, Operation};

use super::{Builder, Phase, Reason};
use crate::config::DesiredIdentity;

impl Builder<'_> {
    pub(super) fn bindings(
        &mut self,
        address: &Address,
        want: &DesiredIdentity,
        have: &ObservedIdentity,
    ) {
        let name = &want.identity.name;
        for binding in &want.bindings {
            match have.bindings.iter().find(|b| b.same_object(binding)) {
                None => self.create_binding(address, name, binding, Reason::New),
                Some(live) if live.policy != binding.policy => {
                    let binding_address = address.binding(&binding.role, &binding.resource);
                    self.touch(&binding_address, Some(nhi_provider_sdk::fingerprint(live)));
                    self.push(
                        Phase::PutParts,
                        binding_address,
                        Reason::Drift,
                        Some("the inline policy differs from the configuration".into()),
                        Operation::UpdateBinding {
                            identity: name.clone(),
                            before: live.clone(),
                            after: binding.clone(),
                        },
                    );
                }
                Some(_) => {}
            }
        }
        for live in &have.bindings {
            if !want.bindings.iter().any(|b| b.same_object(live)) {
                self.delete_binding(
                    address,
                    name,
                    live,
                    Reason::Drift,
                    Some("not declared in the configuration".into()),
                );
            }
        }
    }

    pub(super) fn create_binding(
        &mut self,
        address: &Address,
        identity: &str,
        binding: &Binding,
        reason: Reason,
    ) {
        let binding_address = address.binding(&binding.role, &binding.resource);
        self.touch(&binding_address, None);
        self.push(
            Phase::PutParts,
            binding_address,
            reason,
            None,
            Operation::CreateBinding {
                identity: identity.to_owned(),
                binding: binding.clone(),
            },
        );
    }

    pub(super) fn delete_binding(
        &mut self,
        address: &Address,
        identity: &str,
        binding: &Binding,
        reason: Reason,
        detail: Option<String>,
    ) {
        let binding_address = address.binding(&binding.role, &binding.resource);
        self.touch(
            &binding_address,
            Some(nhi_provider_sdk::fingerprint(binding)),
        );
        self.push(
            Phase::RemoveParts,
            binding_address,
            reason,
            detail,
            Operation::DeleteBinding {
                identity: identity.to_owned(),
                binding: binding.clone(),
            },
        );
    }
}
