//! Addresses: the stable, human-readable names plans, diffs and errors use for
//! every object, e.g. `aws.prod/identity/ci-deployer/key/primary`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stable address of one object in one provider block.
///
/// Contract: `<type>.<provider>/identity/<name>` for identities, followed by
/// `/key/<key>` for keys and `/binding/<role>` (or `/binding/<role>@<resource>` when
/// the binding has a resource other than `*`) for bindings.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
#[must_use]
pub struct Address(String);

impl Address {
    /// The provider prefix, `<type>.<name>`.
    pub fn provider(provider_type: &str, provider: &str) -> Self {
        Self(format!("{provider_type}.{provider}"))
    }

    /// An address from its text, e.g. a `<type>.<name>` prefix read from a plan.
    pub fn raw(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn identity(&self, name: &str) -> Self {
        Self(format!("{}/identity/{name}", self.provider_prefix()))
    }

    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}/key/{key}", self.0))
    }

    pub fn binding(&self, role: &str, resource: &str) -> Self {
        if resource == "*" {
            Self(format!("{}/binding/{role}", self.0))
        } else {
            Self(format!("{}/binding/{role}@{resource}", self.0))
        }
    }

    /// The `<type>.<provider>` part of any address.
    pub fn provider_prefix(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The identity address this address belongs to (itself for an identity).
    pub fn identity_of(&self) -> Self {
        let mut parts = self.0.splitn(4, '/');
        let prefix = parts.next().unwrap_or_default();
        let kind = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        Self(format!("{prefix}/{kind}/{name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_nest() {
        let p = Address::provider("local", "demo");
        let id = p.identity("ci");
        assert_eq!(id.as_str(), "local.demo/identity/ci");
        assert_eq!(
            id.key("primary").as_str(),
            "local.demo/identity/ci/key/primary"
        );
        assert_eq!(
            id.binding("viewer", "*").as_str(),
            "local.demo/identity/ci/binding/viewer"
        );
        assert_eq!(
            id.binding("viewer", "bucket/a").as_str(),
            "local.demo/identity/ci/binding/viewer@bucket/a"
        );
        assert_eq!(id.key("primary").identity_of(), id);
        assert_eq!(id.key("primary").provider_prefix(), "local.demo");
    }
}
