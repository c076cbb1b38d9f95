//! The configuration file exactly as written: serde types with a source location on
//! every value a later check may complain about. They also generate the JSON Schema.
//!
//! Required fields are `Option` here so that a missing one is reported together with
//! every other problem, at the entry that lacks it, instead of stopping the parse.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

/// Desired state of non-human identities for `nhi`: which provider blocks manage
/// which identities, their keys and their bindings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nhi configuration")]
pub(crate) struct RawConfig {
    /// Format version of this file; only `1` exists.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1))]
    pub version: Option<Spanned<i64>>,
    /// Further files of identities, each path relative to this file's directory
    /// and beneath it: a file name, or a glob whose last part may hold `*` and
    /// `?` (`nhi.d/*.yaml`). They are read in sorted order after this file's own
    /// identities; an included file holds `identities:` (and `version:`) only,
    /// and its paths (sinks) are relative to this file's directory too.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub include: Vec<Spanned<String>>,
    /// Provider blocks: each manages one scope of one provider type.
    #[serde(default, deserialize_with = "super::lenient::providers")]
    #[schemars(with = "Vec<RawProvider>")]
    pub providers: Vec<Spanned<RawProvider>>,
    /// The identities that should exist, each managed by one provider block.
    #[serde(default, deserialize_with = "super::lenient::identities")]
    #[schemars(with = "Vec<RawIdentity>")]
    pub identities: Vec<Spanned<RawIdentity>>,
    /// The governance gate: thresholds of the built-in rules, what each finding
    /// costs, accepted exceptions, and the organisation's Rego policies.
    #[schemars(with = "Option<RawPolicy>")]
    pub policy: Option<Spanned<RawPolicy>>,
}

/// The `policy:` section.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Policy section")]
pub(crate) struct RawPolicy {
    /// Keys older than this are findings whatever `rotate_after` says; default `90d`.
    #[schemars(with = "Option<nhi_provider_sdk::Age>")]
    pub key_max_age: Option<Spanned<String>>,
    /// Active keys unused this long, or never used and this old, are findings;
    /// default `45d`.
    #[schemars(with = "Option<nhi_provider_sdk::Age>")]
    pub unused_after: Option<Spanned<String>>,
    /// What a finding of each rule costs: `advisory` (shown), `soft` (apply needs
    /// the approvals the trust policy names for soft findings) or `hard` (no plan
    /// is written). Keys are rule ids (`admin-privilege`, `rego:<id>`) or
    /// `default` for every built-in rule not named.
    #[schemars(with = "Option<BTreeMap<String, EnforcementSchema>>")]
    pub enforcement: Option<Spanned<Map<String, Value>>>,
    /// Findings accepted for a while, each listed in every plan that uses it.
    #[serde(default, deserialize_with = "super::lenient::exceptions")]
    #[schemars(with = "Vec<RawException>")]
    pub exceptions: Vec<Spanned<RawException>>,
    /// Files or directories of `.rego` policies, relative to this file.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub rego: Vec<Spanned<String>>,
}

/// An enforcement level.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Enforcement")]
#[allow(dead_code, reason = "schema only")]
enum EnforcementSchema {
    Advisory,
    Soft,
    Hard,
}

/// One accepted finding.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Exception")]
pub(crate) struct RawException {
    /// The rule id, e.g. `admin-privilege`.
    #[schemars(with = "String")]
    pub rule: Option<Spanned<String>>,
    /// The object's address, or an identity's for everything it holds.
    #[schemars(with = "String")]
    pub address: Option<Spanned<String>>,
    /// Why it is accepted; shown in every plan that uses it.
    #[schemars(with = "String", length(min = 1))]
    pub justification: Option<Spanned<String>>,
    /// Last day (`YYYY-MM-DD`, UTC) it applies.
    #[schemars(with = "String", extend("format" = "date"))]
    pub expires: Option<Spanned<String>>,
}

/// One provider block.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Provider")]
pub(crate) struct RawProvider {
    /// Unique name of this block; identities refer to it and addresses start with it.
    #[schemars(with = "String", pattern(r"^[a-z][a-z0-9_-]{0,62}$"))]
    pub name: Option<Spanned<String>>,
    /// Provider type, e.g. `local`.
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub type_name: Option<Spanned<String>>,
    /// Delete live objects in scope that this file does not declare, instead of only
    /// reporting them. Default `false`.
    #[schemars(with = "Option<bool>")]
    pub prune: Option<Spanned<bool>>,
    /// Settings of the provider type; which keys it takes depends on the type.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub settings: Option<Spanned<Map<String, Value>>>,
}

/// One identity: a service account, user or role managed by a provider block.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Identity")]
pub(crate) struct RawIdentity {
    /// Name of the identity, unique within its provider block; the provider type
    /// decides which names are valid.
    #[schemars(with = "String")]
    pub name: Option<Spanned<String>>,
    /// Name of the provider block that manages this identity.
    #[schemars(with = "String")]
    pub provider: Option<Spanned<String>>,
    /// Kind of identity, e.g. `service_account`; defaults to the provider type's first kind.
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    /// Who answers for this identity: a person, team or mailbox. Must not be empty.
    #[schemars(with = "String", length(min = 1))]
    pub owner: Option<Spanned<String>>,
    /// Free text; default empty.
    #[serde(default)]
    pub description: String,
    /// Tags (AWS) or labels (GCP).
    #[serde(default)]
    pub tags: nhi_provider_sdk::Tags,
    /// Provider-specific attributes, e.g. an AWS role's `trust_policy` and
    /// `permissions_boundary`; each provider type says which it accepts.
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub attributes: Option<Spanned<Value>>,
    /// Day (`YYYY-MM-DD`, UTC) after which the identity must no longer exist.
    #[schemars(with = "Option<String>", extend("format" = "date"))]
    pub expires: Option<Spanned<String>>,
    /// Credentials of this identity.
    #[serde(default, deserialize_with = "super::lenient::keys")]
    #[schemars(with = "Vec<RawKey>")]
    pub keys: Vec<Spanned<RawKey>>,
    /// Grants held by this identity.
    #[serde(default, deserialize_with = "super::lenient::bindings")]
    #[schemars(with = "Vec<RawBinding>")]
    pub bindings: Vec<Spanned<RawBinding>>,
}

/// One key (credential) of an identity.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Key")]
pub(crate) struct RawKey {
    /// Name of the key, unique within its identity.
    #[schemars(with = "String", pattern(r"^[a-z][a-z0-9_-]{0,62}$"))]
    pub name: Option<Spanned<String>>,
    /// The provider's id of a live key this key is (an AWS access key id, a GCP
    /// key's id), to adopt a key nhi did not create without replacing it. Once
    /// the key is rotated the new one carries the name, and `adopt` no longer
    /// matches anything: it may stay or be removed.
    #[schemars(with = "Option<String>", length(min = 1))]
    pub adopt: Option<Spanned<String>>,
    /// Rotate the key once it is at least this old, e.g. `90d`.
    #[schemars(with = "Option<nhi_provider_sdk::Age>")]
    pub rotate_after: Option<Spanned<String>>,
    /// A grace period for rotations, e.g. `7d`: the old key is deactivated, not
    /// deleted, and the first plan at which the new key is this old deletes it.
    #[schemars(with = "Option<nhi_provider_sdk::Age>")]
    pub retire_after: Option<Spanned<String>>,
    /// `active` (the default) or `inactive`: an inactive key is kept but unusable,
    /// e.g. as evidence of an incident. Only a live key can be declared inactive.
    #[schemars(with = "Option<nhi_provider_sdk::KeyStatus>")]
    pub status: Option<Spanned<String>>,
    /// Day (`YYYY-MM-DD`, UTC) after which the key must no longer exist.
    #[schemars(with = "Option<String>", extend("format" = "date"))]
    pub expires: Option<Spanned<String>>,
    /// Where new key material is delivered: `stdout`, or `{file: <path>}` relative to
    /// this file's directory.
    #[schemars(with = "nhi_provider_sdk::Sink")]
    pub sink: Option<Spanned<Value>>,
}

/// One grant of an identity.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Binding")]
pub(crate) struct RawBinding {
    /// Role or managed policy granted. Must not be empty.
    #[schemars(with = "String", length(min = 1))]
    pub role: Option<Spanned<String>>,
    /// Resource the role is granted on; default `*` (not tied to one resource).
    #[schemars(with = "Option<String>", length(min = 1))]
    pub resource: Option<Spanned<String>>,
    /// Inline policy document.
    #[schemars(with = "Option<PolicySchema>")]
    pub policy: Option<Spanned<Value>>,
}

/// An inline policy: a YAML mapping, or a string holding a JSON object.
// Describes the schema only; the value is read as JSON and checked by validation.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Policy")]
#[allow(dead_code, reason = "schema only")]
enum PolicySchema {
    /// A policy document written as a YAML mapping.
    Document(Map<String, Value>),
    /// A string holding a JSON object.
    Json(String),
}
