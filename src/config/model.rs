//! The validated desired state: what the configuration asks for, after every check
//! passed. The diff engine reads only this.

use std::path::PathBuf;

use nhi_provider_sdk::{Address, Age, Binding, Digest, Identity, Sink};

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file as the user named it.
    pub path: PathBuf,
    /// Directory relative paths (provider settings, sinks) are resolved against.
    pub dir: PathBuf,
    /// `sha256:` of the exact bytes of the file.
    pub digest: Digest,
    /// In the order declared; names unique.
    pub providers: Vec<ProviderBlock>,
    /// In the order declared; `(provider, name)` unique.
    pub identities: Vec<DesiredIdentity>,
    /// The `policy:` section (defaults when absent); its `rego` is filled in
    /// when the bundle is loaded.
    pub policy: crate::policy::record::PolicyRecord,
    /// The `policy.rego` paths, relative to [`Config::dir`].
    pub rego: Vec<String>,
}

/// One `providers:` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderBlock {
    pub name: String,
    /// The provider type, e.g. `local`; always one the registry knows.
    pub type_name: String,
    /// Delete unmanaged objects in scope instead of only reporting them.
    pub prune: bool,
    /// Type-specific settings, already checked by the provider type.
    pub settings: serde_json::Value,
}

/// One `identities:` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredIdentity {
    /// Name of the provider block that manages it.
    pub provider: String,
    /// Managed attributes; `kind` defaults to the provider type's first kind.
    pub identity: Identity,
    /// After this day (UTC) the identity must not exist.
    pub expires: Option<jiff::civil::Date>,
    /// Names unique within the identity.
    pub keys: Vec<DesiredKey>,
    /// `(role, resource)` unique within the identity; resource defaults to `*`.
    pub bindings: Vec<Binding>,
}

/// One key of an identity.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredKey {
    pub name: String,
    /// The id of a live key nhi did not create that is this key: the diff
    /// matches it as if it carried the name. A live key carrying the name wins.
    pub adopt: Option<String>,
    /// Rotate once the live key is at least this old.
    pub rotate_after: Option<Age>,
    /// At rotation the old key is deactivated, not deleted, and deleted by the
    /// first plan at which the new key is at least this old.
    pub retire_after: Option<Age>,
    /// The status the live key must have (`active` unless declared).
    pub status: nhi_provider_sdk::KeyStatus,
    /// After this day (UTC) the key must not exist.
    pub expires: Option<jiff::civil::Date>,
    /// Where new key material for this key is delivered.
    pub sink: Sink,
}

/// A declared identity or key whose `expires` day has passed: plans delete it where
/// it exists and never create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub address: Address,
    /// `identity` or `key`.
    pub what: &'static str,
    pub expires: jiff::civil::Date,
}

impl Config {
    /// Declared identities and keys whose `expires` day is before `today` (UTC),
    /// in declaration order; a key under an expired identity is listed too.
    pub fn expired(&self, today: jiff::civil::Date) -> Vec<Expired> {
        let mut out = Vec::new();
        let past = |d: &Option<jiff::civil::Date>| d.is_some_and(|d| d < today);
        for desired in &self.identities {
            // Most identities have nothing expired: their address is not built.
            if !past(&desired.expires) && !desired.keys.iter().any(|k| past(&k.expires)) {
                continue;
            }
            let Some(block) = self.providers.iter().find(|b| b.name == desired.provider) else {
                continue;
            };
            let address =
                Address::provider(&block.type_name, &block.name).identity(&desired.identity.name);
            if let Some(expires) = desired.expires.filter(|d| *d < today) {
                out.push(Expired {
                    address: address.clone(),
                    what: "identity",
                    expires,
                });
            }
            for key in &desired.keys {
                if let Some(expires) = key.expires.filter(|d| *d < today) {
                    out.push(Expired {
                        address: address.key(&key.name),
                        what: "key",
                        expires,
                    });
                }
            }
        }
        out
    }
}
