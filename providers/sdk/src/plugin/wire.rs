//! The messages of `nhi-provider/1`: one JSON-RPC 2.0 object per line. Each call
//! has one params and one result struct, so the protocol grows by adding fields
//! and capabilities, never by changing one. `docs/plugin-protocol.md` explains
//! them; `schemas/plugin/` holds their JSON Schemas.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{
    Binding, DeclaredPart, Identity, ObservedState, Operation, ProviderError, SecretForm, Sink,
    Tags,
};

/// A call from nhi to the plugin.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request<P> {
    /// Always `2.0`.
    pub jsonrpc: String,
    /// Increases by one with every call; the response carries it back.
    pub id: u64,
    pub method: String,
    pub params: P,
}

/// The plugin's answer to one call: `result` or `error`, never both.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response<R> {
    /// Always `2.0`.
    pub jsonrpc: String,
    /// The id of the request answered; `null` only for a request that could not
    /// be read at all.
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

/// A failed call. `code` follows JSON-RPC (`-32700` unreadable, `-32601` unknown
/// method, `-32602` bad params); a provider's own failure is `-32000` with `data`
/// saying which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpcError {
    pub code: i64,
    /// Lowercase, names the object; never key material.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

/// Which [`ProviderError`] a provider failure is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorData {
    pub kind: ErrorKind,
    /// Who holds the scope lock, for `locked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Settings,
    NotFound,
    AlreadyExists,
    Corrupt,
    Locked,
    AccessDenied,
    Io,
    Unsupported,
    Other,
    /// The change may or may not have happened (e.g. a timeout after sending it
    /// to the cloud): the engine records it as unknown and re-reads.
    OutcomeUnknown,
}

pub const PARSE_ERROR: i64 = -32700;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const PROVIDER_ERROR: i64 = -32000;

impl RpcError {
    pub fn from_provider(error: &ProviderError) -> Self {
        let (kind, holder) = match error {
            ProviderError::Settings(_) => (ErrorKind::Settings, None),
            ProviderError::NotFound(_) => (ErrorKind::NotFound, None),
            ProviderError::AlreadyExists(_) => (ErrorKind::AlreadyExists, None),
            ProviderError::Corrupt(_) => (ErrorKind::Corrupt, None),
            ProviderError::Locked { holder } => (ErrorKind::Locked, Some(holder.clone())),
            ProviderError::AccessDenied(_) => (ErrorKind::AccessDenied, None),
            ProviderError::Io { .. } => (ErrorKind::Io, None),
            ProviderError::Unsupported(_) => (ErrorKind::Unsupported, None),
            ProviderError::OutcomeUnknown(_) => (ErrorKind::OutcomeUnknown, None),
            _ => (ErrorKind::Other, None),
        };
        // The variant's own words, without the prefix `Display` adds, so the host
        // rebuilds the same error.
        let message = match error {
            ProviderError::Settings(m)
            | ProviderError::NotFound(m)
            | ProviderError::AlreadyExists(m)
            | ProviderError::Corrupt(m)
            | ProviderError::AccessDenied(m)
            | ProviderError::Unsupported(m)
            | ProviderError::OutcomeUnknown(m)
            | ProviderError::Other(m) => m.clone(),
            other => other.to_string(),
        };
        Self {
            code: PROVIDER_ERROR,
            message,
            data: Some(ErrorData { kind, holder }),
        }
    }

    /// The provider error this stands for; a protocol error (no `data`) is `other`.
    pub fn into_provider(self) -> ProviderError {
        let kind = self.data.as_ref().map_or(ErrorKind::Other, |d| d.kind);
        let m = self.message;
        match kind {
            ErrorKind::Settings => ProviderError::Settings(m),
            ErrorKind::NotFound => ProviderError::NotFound(m),
            ErrorKind::AlreadyExists => ProviderError::AlreadyExists(m),
            ErrorKind::Corrupt => ProviderError::Corrupt(m),
            ErrorKind::Locked => ProviderError::Locked {
                holder: self.data.and_then(|d| d.holder).unwrap_or(m),
            },
            ErrorKind::AccessDenied => ProviderError::AccessDenied(m),
            ErrorKind::Unsupported => ProviderError::Unsupported(m),
            ErrorKind::OutcomeUnknown => ProviderError::OutcomeUnknown(m),
            ErrorKind::Io | ErrorKind::Other => ProviderError::Other(m),
        }
    }
}

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
    /// The fields of a declared identity the plugin's `validate` reads (see
    /// [`Declared`]'s field names); nhi sends the others empty. `None`: all.
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SinkInfo {
    pub name: String,
    pub description: String,
    /// The JSON Schema of the sink's settings.
    #[serde(default)]
    pub settings_schema: serde_json::Value,
}

/// `check_settings`, `retire_first`: a block's settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsParams {
    pub settings: serde_json::Value,
}

/// The answer of a check: `problem` says what is wrong, `null` when nothing is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    #[serde(default)]
    pub problem: Option<String>,
}

impl CheckResult {
    pub fn from(result: Result<(), String>) -> Self {
        Self {
            problem: result.err(),
        }
    }

    pub fn into_result(self) -> Result<(), String> {
        self.problem.map_or(Ok(()), Err)
    }
}

/// `validate`: any number of declared identities of one block.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateParams {
    pub identities: Vec<Declared>,
}

/// One declared identity (see `DeclaredIdentity`): `null` where the
/// configuration's own checks already failed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub description: String,
    pub tags: Tags,
    pub attributes: Option<BTreeMap<String, serde_json::Value>>,
    pub key_names: Vec<String>,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ValidateResult {
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// Index into the request's identities.
    pub identity: usize,
    pub part: Part,
    pub reason: String,
}

/// `name`, `attributes`, `tags`, `description`, or `{"binding": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Name,
    Attributes,
    Tags,
    Description,
    Binding(usize),
}

impl From<DeclaredPart> for Part {
    fn from(part: DeclaredPart) -> Self {
        match part {
            DeclaredPart::Name => Self::Name,
            DeclaredPart::Attributes => Self::Attributes,
            DeclaredPart::Tags => Self::Tags,
            DeclaredPart::Description => Self::Description,
            DeclaredPart::Binding(n) => Self::Binding(n),
        }
    }
}

impl From<Part> for DeclaredPart {
    fn from(part: Part) -> Self {
        match part {
            Part::Name => Self::Name,
            Part::Attributes => Self::Attributes,
            Part::Tags => Self::Tags,
            Part::Description => Self::Description,
            Part::Binding(n) => Self::Binding(n),
        }
    }
}

/// `normalize_policy`: one inline policy document, answered in the same shape.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyMessage {
    pub policy: serde_json::Value,
}

/// `normalize_attributes`: attributes of one kind, answered without `kind`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AttributesMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// `test_mutate`: one operation.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationParams {
    /// The provider handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<u64>,
    pub operation: Operation,
}

/// `advice`: every operation of one scope of a plan, in one call.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdviceParams {
    pub operations: Vec<Operation>,
}

/// One entry per operation asked about, in order: a warning for reviewers, or
/// `null`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct AdviceResult {
    pub advice: Vec<Option<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RetireResult {
    /// The attribute and value that retire an identity, if the settings ask.
    #[serde(default)]
    pub attribute: Option<(String, serde_json::Value)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSinkParams {
    pub kind: String,
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverlapParams {
    pub settings: serde_json::Value,
    pub other: serde_json::Value,
    pub base_dir: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct OverlapResult {
    #[serde(default)]
    pub overlap: Option<String>,
}

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
