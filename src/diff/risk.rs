//! Risk classes: how much scrutiny a change deserves, derived from what the
//! operation does to privilege, so that a plan can neither choose nor understate it.

use std::fmt;

use nhi_provider_sdk::{Binding, Identity, Operation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::narrowing::narrows;

/// How much scrutiny a change deserves; trust policies can demand more approvals
/// for the higher classes. Ordered from least to most risky.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Creates or edits metadata only.
    Low,
    /// Removes or narrows a grant or a trust policy, or adds a permissions
    /// boundary: access can only shrink.
    // Above `low`: it can break whatever used the access. Below `credential`:
    // it never hands anyone more, so a mistake is an outage of one grant, not a
    // leak of a secret.
    PrivilegeReducing,
    /// Mints new key material.
    Credential,
    /// Grants or widens access: a grant created or widened, a trust policy
    /// broadened, a permissions boundary removed, a disabled identity enabled.
    PrivilegeIncreasing,
    /// Deletes or replaces an identity, deletes a key, or disables an identity:
    /// whatever runs as it stops; cannot be undone by re-applying.
    Destructive,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Identity attributes whose changes carry privilege; the engine knows these
/// names whichever provider uses them.
const TRUST_POLICY: &str = "trust_policy";
const PERMISSIONS_BOUNDARY: &str = "permissions_boundary";
const DISABLED: &str = "disabled";

impl Risk {
    /// Every class, least risky first.
    pub const ALL: [Self; 5] = [
        Self::Low,
        Self::PrivilegeReducing,
        Self::Credential,
        Self::PrivilegeIncreasing,
        Self::Destructive,
    ];

    /// The names of [`Self::ALL`], as [`Self::name`] spells them.
    pub const NAMES: &'static [&'static str] = &[
        "low",
        "privilege-reducing",
        "credential",
        "privilege-increasing",
        "destructive",
    ];

    /// The name plans print and trust policies may use (`privilege-increasing`);
    /// JSON spells it with underscores.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::PrivilegeReducing => "privilege-reducing",
            Self::Credential => "credential",
            Self::PrivilegeIncreasing => "privilege-increasing",
            Self::Destructive => "destructive",
        }
    }

    /// The risk class of an operation. Derived, never chosen: a plan cannot
    /// understate its risk to meet a lower approval bar. Pure, and judged from the
    /// operation alone:
    ///
    /// - creating an identity is `low`: it holds no grant or key yet, and the
    ///   changes that give it some carry their own class;
    /// - minting a key (create, rotate) is `credential`;
    /// - deleting or replacing an identity and deleting a key are `destructive`;
    /// - creating a binding is `privilege-increasing`; deleting one is
    ///   `privilege-reducing`; updating one is `privilege-reducing` only when both
    ///   inline policies are documents the new one is proven to narrow (see
    ///   below), else `privilege-increasing`;
    /// - updating an identity takes the highest class of what it changes, `low`
    ///   for metadata (owner, description, tags, other attributes):
    ///   - `disabled` becoming `true` is `destructive` (GCP's `disable_first`
    ///     retirement is an outage for whatever runs as the account);
    ///   - `disabled` leaving `true` is `privilege-increasing`: the identity
    ///     regains every grant and key, undoing a containment;
    ///   - `permissions_boundary` removed or changed is `privilege-increasing`,
    ///     added is `privilege-reducing`;
    ///   - any other change of `trust_policy` is `privilege-increasing` unless
    ///     the new document is proven to narrow the old, which makes it
    ///     `privilege-reducing`.
    ///
    /// A document narrows another when it only removes statements, principals,
    /// actions, resources or condition values, or adds conditions or `Deny`
    /// statements; anything not proven narrower counts as wider (the higher class).
    /// No operation re-enables a key: an inactive key is rotated (`credential`).
    pub fn of(operation: &Operation) -> Self {
        match operation {
            Operation::CreateIdentity { .. } => Self::Low,
            Operation::UpdateIdentity { before, after } => Self::of_identity_update(before, after),
            Operation::CreateKey { .. } | Operation::RotateKey { .. } => Self::Credential,
            Operation::CreateBinding { .. } => Self::PrivilegeIncreasing,
            Operation::UpdateBinding { before, after, .. } => {
                if binding_narrows(before, after) {
                    Self::PrivilegeReducing
                } else {
                    Self::PrivilegeIncreasing
                }
            }
            Operation::DeleteBinding { .. }
            | Operation::DeactivateKey { .. }
            | Operation::RevokeSessions { .. } => Self::PrivilegeReducing,
            Operation::ReplaceIdentity { .. }
            | Operation::DeleteIdentity { .. }
            | Operation::DeleteKey { .. } => Self::Destructive,
        }
    }

    fn of_identity_update(before: &Identity, after: &Identity) -> Self {
        let disabled =
            |identity: &Identity| attribute(identity, DISABLED) == Some(&Value::Bool(true));
        let mut risk = Self::Low;
        match (disabled(before), disabled(after)) {
            (false, true) => risk = risk.max(Self::Destructive),
            (true, false) => risk = risk.max(Self::PrivilegeIncreasing),
            _ => {}
        }
        match (
            attribute(before, PERMISSIONS_BOUNDARY),
            attribute(after, PERMISSIONS_BOUNDARY),
        ) {
            (b, a) if b == a => {}
            (None, Some(_)) => risk = risk.max(Self::PrivilegeReducing),
            _ => risk = risk.max(Self::PrivilegeIncreasing),
        }
        match (
            attribute(before, TRUST_POLICY),
            attribute(after, TRUST_POLICY),
        ) {
            (b, a) if b == a => {}
            (Some(b), Some(a)) if narrows(b, a) => risk = risk.max(Self::PrivilegeReducing),
            _ => risk = risk.max(Self::PrivilegeIncreasing),
        }
        risk
    }
}

fn attribute<'a>(identity: &'a Identity, name: &str) -> Option<&'a Value> {
    identity.attributes.get(name)
}

/// Whether `after` is the same grant as `before` with an inline policy proven
/// to allow no more.
fn binding_narrows(before: &Binding, after: &Binding) -> bool {
    before.same_object(after)
        && match (&before.policy, &after.policy) {
            (Some(b), Some(a)) => narrows(&b.to_value(), &a.to_value()),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nhi_provider_sdk::{Binding, Identity, KeyStatus, ObservedKey, Operation, Policy, Tags};
    use serde_json::{Value, json};

    use super::Risk;

    const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/boundary";

    fn role(attributes: &[(&str, Value)]) -> Identity {
        Identity {
            name: "deployer".into(),
            kind: "role".into(),
            owner: "platform@example.com".into(),
            description: "Deploys".into(),
            tags: Tags::new(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn trust(principal: &Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
        ]})
    }

    fn ci() -> Value {
        trust(&json!({"AWS": "arn:aws:iam::123456789012:role/ci"}))
    }

    fn update(before: &[(&str, Value)], after: &[(&str, Value)]) -> Operation {
        Operation::UpdateIdentity {
            before: role(before),
            after: role(after),
        }
    }

    fn key() -> ObservedKey {
        ObservedKey {
            id: "AKIA1".into(),
            name: Some("primary".into()),
            created: jiff::Timestamp::UNIX_EPOCH,
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        }
    }

    fn grant(role: &str, policy: Option<Value>) -> Binding {
        Binding {
            role: role.into(),
            resource: "*".into(),
            policy: policy.map(Policy::from),
        }
    }

    fn s3(actions: &[&str]) -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": "arn:aws:s3:::releases/*"}
        ]})
    }

    fn update_binding(before: Binding, after: Binding) -> Operation {
        Operation::UpdateBinding {
            identity: "deployer".into(),
            before,
            after,
        }
    }

    #[test]
    fn risk_follows_what_the_operation_does_to_privilege() {
        let boundary = || (super::PERMISSIONS_BOUNDARY, json!(BOUNDARY));
        let policy = |v: Value| (super::TRUST_POLICY, v);
        let disabled = || (super::DISABLED, json!(true));
        let mut described = role(&[policy(ci())]);
        described.description = "Deploys the web tier".into();
        let cases = [
            (
                "trust policy opened to everyone",
                update(&[policy(ci())], &[policy(trust(&json!({"AWS": "*"})))]),
                Risk::PrivilegeIncreasing,
            ),
            (
                "trust policy narrowed to one principal",
                update(&[policy(trust(&json!({"AWS": "*"})))], &[policy(ci())]),
                Risk::PrivilegeReducing,
            ),
            (
                "trust policy that is not a document",
                update(&[policy(json!("x"))], &[policy(json!("y"))]),
                Risk::PrivilegeIncreasing,
            ),
            (
                "boundary dropped",
                update(&[policy(ci()), boundary()], &[policy(ci())]),
                Risk::PrivilegeIncreasing,
            ),
            (
                "boundary swapped",
                update(
                    &[boundary()],
                    &[(
                        super::PERMISSIONS_BOUNDARY,
                        json!("arn:aws:iam::1:policy/other"),
                    )],
                ),
                Risk::PrivilegeIncreasing,
            ),
            (
                "boundary added",
                update(&[policy(ci())], &[policy(ci()), boundary()]),
                Risk::PrivilegeReducing,
            ),
            (
                "opened and bounded at once: the higher class",
                update(&[policy(ci())], &[policy(trust(&json!("*"))), boundary()]),
                Risk::PrivilegeIncreasing,
            ),
            (
                "identity re-enabled",
                update(&[disabled()], &[]),
                Risk::PrivilegeIncreasing,
            ),
            (
                "identity re-enabled with `disabled: false`",
                update(&[disabled()], &[(super::DISABLED, json!(false))]),
                Risk::PrivilegeIncreasing,
            ),
            (
                "identity disabled",
                update(&[], &[disabled()]),
                Risk::Destructive,
            ),
            (
                "identity disabled from `disabled: false`",
                update(&[(super::DISABLED, json!(false))], &[disabled()]),
                Risk::Destructive,
            ),
            (
                "description only",
                Operation::UpdateIdentity {
                    before: role(&[policy(ci())]),
                    after: described,
                },
                Risk::Low,
            ),
            (
                "another attribute",
                update(
                    &[("display_name", json!("a"))],
                    &[("display_name", json!("b"))],
                ),
                Risk::Low,
            ),
            (
                "identity created",
                Operation::CreateIdentity {
                    identity: role(&[policy(trust(&json!("*")))]),
                },
                Risk::Low,
            ),
            (
                "identity deleted",
                Operation::DeleteIdentity {
                    identity: role(&[]),
                },
                Risk::Destructive,
            ),
            (
                "identity replaced",
                Operation::ReplaceIdentity {
                    before: role(&[]),
                    after: role(&[]),
                },
                Risk::Destructive,
            ),
            (
                "binding created",
                Operation::CreateBinding {
                    identity: "deployer".into(),
                    binding: grant("AdministratorAccess", None),
                },
                Risk::PrivilegeIncreasing,
            ),
            (
                "binding deleted",
                Operation::DeleteBinding {
                    identity: "deployer".into(),
                    binding: grant("AdministratorAccess", None),
                },
                Risk::PrivilegeReducing,
            ),
            (
                "inline policy narrowed",
                update_binding(
                    grant("upload", Some(s3(&["s3:PutObject", "s3:DeleteObject"]))),
                    grant("upload", Some(s3(&["s3:PutObject"]))),
                ),
                Risk::PrivilegeReducing,
            ),
            (
                "inline policy widened",
                update_binding(
                    grant("upload", Some(s3(&["s3:PutObject"]))),
                    grant("upload", Some(s3(&["s3:PutObject", "s3:DeleteObject"]))),
                ),
                Risk::PrivilegeIncreasing,
            ),
            (
                "inline policy dropped",
                update_binding(
                    grant("upload", Some(s3(&["s3:PutObject"]))),
                    grant("upload", None),
                ),
                Risk::PrivilegeIncreasing,
            ),
            (
                "binding update that changes the grant itself",
                update_binding(
                    grant("upload", Some(s3(&["s3:PutObject", "s3:DeleteObject"]))),
                    grant("admin", Some(s3(&["s3:PutObject"]))),
                ),
                Risk::PrivilegeIncreasing,
            ),
            (
                "key created",
                Operation::CreateKey {
                    identity: "deployer".into(),
                    key: "primary".into(),
                },
                Risk::Credential,
            ),
            (
                "key rotated",
                Operation::RotateKey {
                    identity: "deployer".into(),
                    key: "primary".into(),
                    old: key(),
                    deactivate_old: false,
                },
                Risk::Credential,
            ),
            (
                "key deleted",
                Operation::DeleteKey {
                    identity: "deployer".into(),
                    key: key(),
                },
                Risk::Destructive,
            ),
        ];
        for (case, operation, risk) in cases {
            assert_eq!(Risk::of(&operation), risk, "{case}");
        }
    }

    /// Issue 15: opening a role to `Principal: {AWS: "*"}` and dropping its
    /// boundary was a `low` update, so a `privilege_increasing` rule never applied.
    #[test]
    fn a_trust_policy_opened_to_everyone_is_privilege_increasing() {
        let operation = update(
            &[
                (super::TRUST_POLICY, ci()),
                (super::PERMISSIONS_BOUNDARY, json!(BOUNDARY)),
            ],
            &[(super::TRUST_POLICY, trust(&json!({"AWS": "*"})))],
        );
        assert_eq!(Risk::of(&operation), Risk::PrivilegeIncreasing);
    }

    /// Issue 15: removing `AdministratorAccess` was `destructive` and needed more
    /// approvals than granting it.
    #[test]
    fn removing_a_grant_is_less_risky_than_granting_it() {
        let binding = grant("AdministratorAccess", None);
        let removed = Risk::of(&Operation::DeleteBinding {
            identity: "deployer".into(),
            binding: binding.clone(),
        });
        let granted = Risk::of(&Operation::CreateBinding {
            identity: "deployer".into(),
            binding,
        });
        assert_eq!(removed, Risk::PrivilegeReducing);
        assert!(removed < granted);
    }

    #[test]
    fn classes_are_ordered_least_risky_first() {
        let mut sorted = Risk::ALL;
        sorted.sort();
        assert_eq!(sorted, Risk::ALL);
        assert_eq!(Risk::NAMES, Risk::ALL.map(Risk::name));
        for risk in Risk::ALL {
            let json = serde_json::to_value(risk).unwrap();
            assert_eq!(json, Value::from(risk.name().replace('-', "_")), "{risk}");
        }
    }
}
