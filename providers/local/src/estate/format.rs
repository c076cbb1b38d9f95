//! What the estate file holds: its format version and the on-disk form of an
//! identity, written from the SDK's types without copying them and read as
//! strictly as the SDK reads them, with the rules every identity in the file
//! keeps.

use std::collections::{BTreeMap, HashSet};

use nhi_provider_sdk::{Binding, Identity, ObservedIdentity, ObservedKey, Policy, Tags};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// The estate format version this crate reads and writes (`nhi_local_estate`).
pub const FORMAT_VERSION: u64 = 1;

/// `ObservedIdentity` as it serialises, without `flatten`'s buffering. The
/// exhaustive destructuring below breaks the build when the SDK adds a field.
#[derive(Serialize)]
pub(super) struct IdentityRef<'a> {
    name: &'a str,
    kind: &'a str,
    owner: &'a str,
    description: &'a str,
    tags: &'a Tags,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: &'a BTreeMap<String, serde_json::Value>,
    keys: &'a [ObservedKey],
    bindings: &'a [Binding],
}

impl<'a> From<&'a ObservedIdentity> for IdentityRef<'a> {
    fn from(observed: &'a ObservedIdentity) -> Self {
        let ObservedIdentity {
            identity:
                Identity {
                    name,
                    kind,
                    owner,
                    description,
                    tags,
                    attributes,
                },
            keys,
            bindings,
        } = observed;
        Self {
            name,
            kind,
            owner,
            description,
            tags,
            attributes,
            keys,
            bindings,
        }
    }
}

/// The mirror of `IdentityRef` for reading, as strict as the SDK's own decoding.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    name: String,
    kind: String,
    owner: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    attributes: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    keys: Vec<ObservedKey>,
    #[serde(default)]
    bindings: Vec<RawBinding>,
}

/// The mirror of [`Binding`] for reading, whose policy is kept as the estate
/// wrote it when that is already its canonical text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    role: String,
    resource: String,
    #[serde(default, deserialize_with = "policy")]
    policy: Option<Policy>,
}

/// A policy from its JSON text: taken as it is when canonical (as `write_estate`
/// writes it), parsed and rewritten when not.
fn policy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Policy>, D::Error> {
    let Some(raw) = Option::<Box<serde_json::value::RawValue>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    match Policy::from_canonical(raw.into()) {
        Ok(policy) => Ok(Some(policy)),
        Err(text) => serde_json::from_str::<serde_json::Value>(&text)
            .map(|document| Some(Policy::new(&document)))
            .map_err(de::Error::custom),
    }
}

impl From<RawBinding> for Binding {
    fn from(raw: RawBinding) -> Self {
        Self {
            role: raw.role,
            resource: raw.resource,
            policy: raw.policy,
        }
    }
}

impl From<RawIdentity> for ObservedIdentity {
    fn from(raw: RawIdentity) -> Self {
        let RawIdentity {
            name,
            kind,
            owner,
            description,
            tags,
            attributes,
            mut keys,
            bindings,
        } = raw;
        // Decoded lists start with room for four; an estate holds many identities
        // with one or two of each.
        keys.shrink_to_fit();
        let mut bindings: Vec<Binding> = bindings.into_iter().map(Binding::from).collect();
        bindings.shrink_to_fit();
        Self {
            identity: Identity {
                name,
                kind,
                owner,
                description,
                tags,
                attributes,
            },
            keys,
            bindings,
        }
    }
}

/// Key ids and `(role, resource)` pairs are unique within an identity.
pub(super) fn check_members(observed: &ObservedIdentity) -> Result<(), String> {
    let name = &observed.identity.name;
    if let Some(id) = first_duplicate(&observed.keys, |k| k.id.as_str()) {
        return Err(format!("identity `{name}` has key `{id}` more than once"));
    }
    if let Some((role, resource)) = first_duplicate(&observed.bindings, |b| {
        (b.role.as_str(), b.resource.as_str())
    }) {
        return Err(format!(
            "identity `{name}` has binding `{role}` on `{resource}` more than once"
        ));
    }
    Ok(())
}

fn first_duplicate<'a, T, Id: Eq + std::hash::Hash + Copy>(
    items: &'a [T],
    id: impl Fn(&'a T) -> Id,
) -> Option<Id> {
    // Identities hold a handful of keys and bindings; only hostile files hold many.
    if items.len() <= 16 {
        return items
            .iter()
            .enumerate()
            .find(|(i, item)| items[..*i].iter().any(|earlier| id(earlier) == id(item)))
            .map(|(_, item)| id(item));
    }
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().map(id).find(|id| !seen.insert(*id))
}
