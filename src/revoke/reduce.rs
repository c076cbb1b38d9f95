//! What a revocation may ask of a provider: only operations that reduce
//! access. A [`Reduction`] is built from what was read live and is the only way
//! revoke reaches a provider; [`reduces`] checks every operation again right
//! before the call, so no path through revoke can create, grant or re-enable.

use nhi_provider_sdk::{Binding, Identity, ObservedKey, Operation};

/// The attribute that disables an identity where the provider has one (a GCP
/// service account's `disabled`).
pub const DISABLED: &str = "disabled";

/// One step of a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reduction {
    DeactivateKey {
        identity: String,
        key: ObservedKey,
    },
    /// Where the provider cannot deactivate a key.
    DeleteKey {
        identity: String,
        key: ObservedKey,
    },
    /// Sets `disabled: true` and nothing else on the identity as read.
    DisableIdentity {
        before: Identity,
    },
    DetachBinding {
        identity: String,
        binding: Binding,
    },
    RevokeSessions {
        identity: String,
        issued_before: jiff::Timestamp,
    },
}

impl Reduction {
    /// The provider operation; [`reduces`] holds for every one.
    pub fn operation(&self) -> Operation {
        match self.clone() {
            Self::DeactivateKey { identity, key } => Operation::DeactivateKey { identity, key },
            Self::DeleteKey { identity, key } => Operation::DeleteKey { identity, key },
            Self::DisableIdentity { before } => {
                let mut after = before.clone();
                after
                    .attributes
                    .insert(DISABLED.to_owned(), serde_json::Value::Bool(true));
                Operation::UpdateIdentity { before, after }
            }
            Self::DetachBinding { identity, binding } => {
                Operation::DeleteBinding { identity, binding }
            }
            Self::RevokeSessions {
                identity,
                issued_before,
            } => Operation::RevokeSessions {
                identity,
                issued_before,
            },
        }
    }

    /// How the record names the step.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::DeactivateKey { .. } => "deactivate_key",
            Self::DeleteKey { .. } => "delete_key",
            Self::DisableIdentity { .. } => "disable_identity",
            Self::DetachBinding { .. } => "detach_binding",
            Self::RevokeSessions { .. } => "revoke_sessions",
        }
    }
}

/// Whether a binding's policy document denies anything (a statement whose
/// `Effect` is `Deny`, in any case), or cannot be read: detaching it would
/// widen access, so it is no reduction.
pub fn denies(binding: &Binding) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| {
                (k.eq_ignore_ascii_case("effect")
                    && v.as_str().is_some_and(|e| e.eq_ignore_ascii_case("deny")))
                    || walk(v)
            }),
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    binding.policy.as_ref().is_some_and(|policy| {
        serde_json::from_str::<serde_json::Value>(policy.as_str()).map_or(true, |doc| walk(&doc))
    })
}

/// Whether `operation` only takes access away: deactivating or deleting a key,
/// deleting a binding whose policy denies nothing, revoking sessions, or an identity update whose only
/// change is `disabled: true`. Everything else (creating, granting, rotating,
/// updating a binding, any other identity change) is refused.
pub fn reduces(operation: &Operation) -> bool {
    match operation {
        Operation::DeleteBinding { binding, .. } => !denies(binding),
        Operation::DeactivateKey { .. }
        | Operation::DeleteKey { .. }
        | Operation::RevokeSessions { .. } => true,
        Operation::UpdateIdentity { before, after } => {
            let mut expected = before.clone();
            expected
                .attributes
                .insert(DISABLED.to_owned(), serde_json::Value::Bool(true));
            *after == expected
        }
        Operation::CreateIdentity { .. }
        | Operation::ReplaceIdentity { .. }
        | Operation::DeleteIdentity { .. }
        | Operation::CreateKey { .. }
        | Operation::RotateKey { .. }
        | Operation::CreateBinding { .. }
        | Operation::UpdateBinding { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{Binding, Identity, KeyStatus, ObservedKey, Operation};

    use super::{Reduction, reduces};

    fn identity(disabled: Option<bool>) -> Identity {
        let mut identity = Identity {
            name: "ci".into(),
            kind: "service_account".into(),
            owner: "team".into(),
            description: String::new(),
            tags: nhi_provider_sdk::Tags::default(),
            attributes: std::collections::BTreeMap::default(),
        };
        if let Some(d) = disabled {
            identity.attributes.insert("disabled".into(), d.into());
        }
        identity
    }

    fn key() -> ObservedKey {
        ObservedKey {
            id: "k1".into(),
            name: Some("primary".into()),
            created: jiff::Timestamp::UNIX_EPOCH,
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        }
    }

    fn binding(role: &str) -> Binding {
        Binding {
            role: role.into(),
            resource: "*".into(),
            policy: None,
        }
    }

    #[test]
    fn every_reduction_reduces() {
        let steps = [
            Reduction::DeactivateKey {
                identity: "ci".into(),
                key: key(),
            },
            Reduction::DeleteKey {
                identity: "ci".into(),
                key: key(),
            },
            Reduction::DisableIdentity {
                before: identity(None),
            },
            Reduction::DisableIdentity {
                before: identity(Some(false)),
            },
            Reduction::DetachBinding {
                identity: "ci".into(),
                binding: binding("admin"),
            },
            Reduction::RevokeSessions {
                identity: "ci".into(),
                issued_before: jiff::Timestamp::UNIX_EPOCH,
            },
        ];
        for step in steps {
            assert!(reduces(&step.operation()), "{step:?}");
        }
    }

    /// Regression guard: a revoke cannot be turned into a grant, whatever it is
    /// handed.
    #[test]
    fn no_grant_passes_as_a_reduction() {
        let mut renamed = identity(None);
        renamed.attributes.insert("disabled".into(), true.into());
        renamed.owner = "attacker".into();
        let grants = [
            Operation::CreateIdentity {
                identity: identity(None),
            },
            Operation::DeleteIdentity {
                identity: identity(None),
            },
            Operation::ReplaceIdentity {
                before: identity(None),
                after: identity(None),
            },
            Operation::UpdateIdentity {
                before: identity(Some(true)),
                after: identity(Some(false)),
            },
            Operation::UpdateIdentity {
                before: identity(Some(true)),
                after: identity(None),
            },
            Operation::UpdateIdentity {
                before: identity(None),
                after: renamed,
            },
            Operation::CreateKey {
                identity: "ci".into(),
                key: "primary".into(),
            },
            Operation::RotateKey {
                identity: "ci".into(),
                key: "primary".into(),
                old: key(),
                deactivate_old: false,
            },
            Operation::CreateBinding {
                identity: "ci".into(),
                binding: binding("admin"),
            },
            Operation::UpdateBinding {
                identity: "ci".into(),
                before: binding("viewer"),
                after: binding("viewer"),
            },
        ];
        for grant in grants {
            assert!(!reduces(&grant), "{grant:?}");
        }
    }

    /// Regression guard: detaching a deny (an earlier revoke's session deny, a
    /// guardrail) widens access, so it is no reduction.
    #[test]
    fn detaching_a_deny_is_no_reduction() {
        let policy = |text: &str| {
            let mut b = binding("inline:guard");
            b.policy = Some(nhi_provider_sdk::Policy::new(
                &serde_json::from_str(text).unwrap(),
            ));
            b
        };
        let allow =
            policy(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#);
        let deny = policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"effect":"DENY","Action":"*","Resource":"*"}]}"#,
        );
        for (binding, reduces_access) in [(allow, true), (deny, false), (binding("admin"), true)] {
            let op = Operation::DeleteBinding {
                identity: "ci".into(),
                binding,
            };
            assert_eq!(reduces(&op), reduces_access, "{op:?}");
        }
    }
}
