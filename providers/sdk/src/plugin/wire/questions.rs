//! Questions about configuration, asked before any live state is read:
//! settings, validation, normalisation, advice, sinks and overlapping scopes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Binding, DeclaredPart, Operation, Tags};

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
/// configuration's own checks already failed. A field left out is empty: nhi
/// leaves out those a plugin's `validates` does not list, and empty ones.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub owner: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Tags,
    pub attributes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub key_names: Vec<String>,
    #[serde(default)]
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
