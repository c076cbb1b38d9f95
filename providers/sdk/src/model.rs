//! The provider-neutral model: identities, their keys and their bindings, as
//! desired and as observed. Secret material is never part of it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Policy, Tags};

/// The managed attributes of an identity: what is compared between desired and
/// observed state. Keys and bindings are separate objects with their own addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Unique within its provider block; the provider validates its syntax.
    pub name: String,
    /// Provider-specific kind, e.g. `service_account` (local, GCP), `user` or `role` (AWS).
    /// A change of kind replaces the identity.
    pub kind: String,
    /// Who answers for this identity (a person, team or mailbox).
    pub owner: String,
    #[serde(default)]
    pub description: String,
    /// Tags (AWS) or labels (GCP); sorted by key.
    #[serde(default)]
    pub tags: Tags,
    /// Provider-specific managed attributes, checked by the provider type: e.g.
    /// an AWS role's `trust_policy` and `permissions_boundary`, a GCP service
    /// account's `display_name` and `disabled`. Sorted by name; empty by default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A grant held by an identity: a role or policy on a resource, optionally with an
/// inline policy document.
///
/// Contract: `(role, resource)` identifies the binding within its identity;
/// `resource` is `*` when the grant is not tied to one resource; `policy` is
/// compared as JSON (object key order and whitespace never count as drift).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub role: String,
    pub resource: String,
    // Held as canonical JSON text, which compares as the document does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

impl Binding {
    /// Bindings with the same identity key are the same object.
    pub fn same_object(&self, other: &Binding) -> bool {
        self.role == other.role && self.resource == other.resource
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Inactive,
}

/// A credential of an identity as the provider reports it. Never holds secret material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservedKey {
    /// The provider's id of the key (an access key id, a key resource name).
    pub id: String,
    /// The configured key name this key carries, when the provider can record one;
    /// `None` for keys nhi did not create, which are drift on a managed identity.
    #[serde(default)]
    pub name: Option<String>,
    pub created: jiff::Timestamp,
    pub status: KeyStatus,
    /// Last use where the cloud reports it. Not part of the fingerprint: using a key
    /// between plan and apply does not make a plan stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<jiff::Timestamp>,
}

/// The part of a key that its fingerprint covers.
#[derive(Serialize)]
struct KeyFingerprint<'a> {
    id: &'a str,
    name: Option<&'a str>,
    created: jiff::Timestamp,
    status: KeyStatus,
}

impl ObservedKey {
    pub fn fingerprint(&self) -> crate::Digest {
        crate::fingerprint(&KeyFingerprint {
            id: &self.id,
            name: self.name.as_deref(),
            created: self.created,
            status: self.status,
        })
    }
}

/// One identity in live state, with everything it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservedIdentity {
    #[serde(flatten)]
    pub identity: Identity,
    #[serde(default)]
    pub keys: Vec<ObservedKey>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

/// Everything a provider sees in its scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObservedState {
    /// Sorted by name, names unique (providers must guarantee both; the engine checks).
    pub identities: Vec<ObservedIdentity>,
}
