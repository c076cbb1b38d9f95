//! Calls on a connected block: describe, read, lock, apply and the rest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Identity, ObservedState, Operation, SecretForm, Sink};

/// `connect`: one provider block.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectParams {
    pub name: String,
    /// The block's settings without nhi's own `plugin` entry.
    pub settings: serde_json::Value,
    /// Where relative paths in the settings resolve.
    pub base_dir: String,
}

/// The handle later calls name the connected block by.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct ConnectResult {
    pub provider: u64,
}

/// `describe`, `read`: a connected block.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderParams {
    pub provider: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DescribeResult {
    pub scope: String,
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ReadResult {
    pub state: ObservedState,
    #[serde(default)]
    pub api_calls: u64,
    /// `[identity, sentence]` pairs: identities gone from live state that can
    /// still be restored, each with what reviewers should know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<(String, String)>,
}

/// `read`: a connected block, and the time the caller plans at.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    pub provider: u64,
    /// The plan's clock (`NHI_NOW`); absent: the plugin's own clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockParams {
    pub provider: u64,
    pub holder: String,
    pub timeout_ms: u64,
}

/// The handle `unlock` releases.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockHandle {
    pub lock: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyParams {
    pub provider: u64,
    pub operation: Operation,
    #[serde(default)]
    pub sink: Option<Sink>,
}

/// The outcome of one change. `secret` only for a key minted for a local sink.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApplyResult {
    #[serde(default)]
    pub new_key_id: Option<String>,
    #[serde(default)]
    pub secret: Option<WireSecret>,
}

/// New key material: the only message that carries a secret. The host hands it
/// to the sink and wipes it.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WireSecret {
    pub key_id: String,
    #[schemars(with = "String")]
    pub secret: Zeroizing<String>,
    pub form: WireForm,
}

impl std::fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireSecret")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WireForm {
    CredentialFile,
    Opaque,
}

impl From<SecretForm> for WireForm {
    fn from(form: SecretForm) -> Self {
        match form {
            SecretForm::CredentialFile => Self::CredentialFile,
            SecretForm::Opaque => Self::Opaque,
        }
    }
}

impl From<WireForm> for SecretForm {
    fn from(form: WireForm) -> Self {
        match form {
            WireForm::CredentialFile => Self::CredentialFile,
            WireForm::Opaque => Self::Opaque,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordKeyParams {
    pub provider: u64,
    pub identity: String,
    pub key: String,
    pub key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreflightParams {
    pub provider: u64,
    pub creates: Vec<Identity>,
    /// `[identity, sink]` pairs.
    pub sinks: Vec<(String, Sink)>,
    /// Identities the plan mints a key for, once each.
    #[serde(default)]
    pub mints: Vec<String>,
    /// Identities the plan deletes.
    #[serde(default)]
    pub deletes: Vec<String>,
    /// The identity of each binding the plan creates.
    #[serde(default)]
    pub grants_added: Vec<String>,
    /// How many bindings the plan deletes.
    #[serde(default)]
    pub grants_removed: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct PreflightResult {
    /// `[identity, problem]` pairs.
    pub problems: Vec<(String, String)>,
}

/// The result of a call that returns nothing (`record_key`, `unlock`,
/// `shutdown`, `test_mutate`), and the params of one that takes nothing.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}
