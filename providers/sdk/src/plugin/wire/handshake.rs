//! The handshake: protocol, who the plugin is, and what it can do.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `initialize`: the first call. nhi offers every protocol version it speaks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InitializeParams {
    /// E.g. `["nhi-provider/1"]`: the name, a slash, and a major version.
    pub protocols: Vec<String>,
    /// The host, e.g. `nhi 0.4.0`, for the plugin's logs.
    pub host: String,
}

/// The plugin's choice of protocol, who it is and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InitializeResult {
    /// One of the offered protocols.
    pub protocol: String,
    pub plugin: PluginInfo,
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PluginInfo {
    /// A short name, e.g. `postgres`; recorded in plans and shown in errors.
    pub name: String,
    pub version: String,
}

/// What the plugin's provider type is and does: the static facts of
/// `ProviderType`, and which optional calls it answers. Unknown fields are
/// ignored, so a newer plugin may announce more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capabilities {
    /// The provider type's own name, e.g. `postgres`.
    pub type_name: String,
    /// Identity kinds; the first is the default. Never empty.
    pub kinds: Vec<String>,
    /// The most keys an identity may hold at once, if limited.
    #[serde(default)]
    pub key_slots: Option<usize>,
    #[serde(default = "yes")]
    pub replaces_identities: bool,
    #[serde(default)]
    pub reports_key_use: bool,
    #[serde(default = "yes")]
    pub read_beside_config: bool,
    /// Sinks the plugin delivers key material to itself.
    #[serde(default)]
    pub sinks: Vec<SinkInfo>,
    /// Whether `lock` takes a real scope lock (else it only records the holder).
    #[serde(default)]
    pub locks: bool,
    /// Whether `read` lists every object in scope, so `nhi import` can adopt them.
    #[serde(default)]
    pub imports: bool,
    /// Optional calls the plugin answers (see [`Call`]); nhi behaves as the
    /// SDK's defaults say for the rest and never sends them.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Whether the plugin answers requests concurrently, in any order: nhi
    /// then sends a request without waiting for the answers to earlier ones
    /// (validation while it reads) and matches answers to requests by id.
    #[serde(default)]
    pub concurrent: bool,
    /// The fields of a declared identity the plugin's `validate` reads, named
    /// as in `validate`'s params; nhi leaves out the others, and empty ones.
    /// `None`: all, each sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validates: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// The optional calls, by method name.
pub struct Call;

impl Call {
    pub const VALIDATE: &'static str = "validate";
    pub const NORMALIZE_POLICY: &'static str = "normalize_policy";
    pub const NORMALIZE_ATTRIBUTES: &'static str = "normalize_attributes";
    pub const ADVICE: &'static str = "advice";
    pub const RETIRE_FIRST: &'static str = "retire_first";
    pub const CHECK_SINK: &'static str = "check_sink";
    pub const SCOPES_OVERLAP: &'static str = "scopes_overlap";
    pub const PREFLIGHT: &'static str = "preflight";
    /// `test_mutate`: the conformance kit's way to change live state out of band.
    pub const TEST_MUTATE: &'static str = "test_mutate";
    /// Every optional call but [`Self::TEST_MUTATE`], the plan and apply path's.
    pub const ALL_BUT_TEST: [&'static str; 8] = [
        Self::VALIDATE,
        Self::NORMALIZE_POLICY,
        Self::NORMALIZE_ATTRIBUTES,
        Self::ADVICE,
        Self::RETIRE_FIRST,
        Self::CHECK_SINK,
        Self::SCOPES_OVERLAP,
        Self::PREFLIGHT,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SinkInfo {
    pub name: String,
    pub description: String,
    /// The JSON Schema of the sink's settings.
    #[serde(default)]
    pub settings_schema: serde_json::Value,
}
