//! Changes: what the diff engine produces and a plan records, one per object.

use std::fmt;

use nhi_provider_sdk::{Address, Operation, Sink};

use super::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happens to one object.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Delete then create (an identity whose kind changed).
    Replace,
    Delete,
    /// Create a new key, then delete the old one.
    Rotate,
}

impl Action {
    /// The symbol the text rendering shows in front of the change.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Delete => "-",
            Self::Rotate => "+/-",
        }
    }

    /// Past participle for "will be …".
    pub fn verb(self) -> &'static str {
        match self {
            Self::Create => "created",
            Self::Update => "updated in place",
            Self::Replace => "replaced",
            Self::Delete => "deleted",
            Self::Rotate => "rotated",
        }
    }
}

/// Why the change is planned.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Declared but absent from live state.
    New,
    /// Present but different from the declaration, or present on a managed
    /// identity without being declared.
    Drift,
    /// A key older than its `rotate_after`.
    RotationDue,
    /// Past its `expires` date.
    Expired,
    /// In scope, not declared, and the provider block says `prune: true`.
    Unmanaged,
    /// Named by `nhi plan --replace`: a key rotated, or an identity replaced
    /// with what it holds, although nothing else calls for it.
    ReplaceRequested,
    /// A key whose live status is not its declared `status: inactive`.
    Status,
    /// A key its cloud reports compromised (`ObservedKey::leaked`): replaced
    /// whatever its age, the old one deleted once the new one is delivered.
    Leaked,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::New => "new",
            // nhi keeps no state, so it cannot tell a hand edit from an edit of
            // the configuration; "drift" read as the former. The plan file keeps
            // the serialised `drift`.
            Self::Drift => "differs",
            Self::RotationDue => "rotation due",
            Self::Expired => "expired",
            Self::Unmanaged => "unmanaged",
            Self::ReplaceRequested => "replace requested",
            Self::Status => "status declared",
            Self::Leaked => "reported leaked",
        })
    }
}

/// One planned change.
///
/// Contract: `operation` is exactly what apply hands the provider; every rendering
/// of before/after values is derived from it. `sink` is set exactly when the
/// operation mints key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    pub reason: Reason,
    pub risk: Risk,
    /// A sentence for reviewers (e.g. how old a key is); informational only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub operation: Operation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<Sink>,
}

impl Action {
    /// The action an operation performs; a plan whose recorded action disagrees is refused.
    pub fn of(operation: &Operation) -> Self {
        match operation {
            Operation::CreateIdentity { .. }
            | Operation::CreateKey { .. }
            | Operation::CreateBinding { .. } => Self::Create,
            Operation::UpdateIdentity { .. }
            | Operation::UpdateBinding { .. }
            | Operation::DeactivateKey { .. }
            | Operation::RevokeSessions { .. } => Self::Update,
            Operation::ReplaceIdentity { .. } => Self::Replace,
            Operation::RotateKey { .. } => Self::Rotate,
            Operation::DeleteIdentity { .. }
            | Operation::DeleteKey { .. }
            | Operation::DeleteBinding { .. } => Self::Delete,
        }
    }
}
