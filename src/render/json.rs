//! The machine-readable rendering of a plan (`--json`, `show --format json`), with
//! its own format version and a JSON Schema in `schemas/`.

use nhi_provider_sdk::{Address, Digest, Operation, Sink};
use schemars::JsonSchema;
use serde::Serialize;

use crate::diff::{Action, Reason, Risk};
use crate::plan::{PlanFile, ScopeRecord, Summary};

/// Bumped on any incompatible change of [`PlanJson`].
pub const JSON_FORMAT_VERSION: u32 = 1;

/// A plan for machines. Fields are stable within a `format_version`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanJson {
    pub format_version: u32,
    /// `sha256:` of the plan body: the identity of the plan.
    pub plan_digest: Digest,
    pub created_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    pub author: String,
    pub config_path: String,
    pub config_digest: Digest,
    pub scopes: Vec<ScopeRecord>,
    pub summary: Summary,
    /// Whether applying the plan would change anything.
    pub has_changes: bool,
    pub changes: Vec<ChangeJson>,
    pub unmanaged: Vec<Address>,
    /// Number of signatures carried (judged by `nhi verify`, not here).
    pub signatures: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeJson {
    pub address: Address,
    pub action: Action,
    pub reason: Reason,
    pub risk: Risk,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The object before the change; `null` for creates.
    pub before: serde_json::Value,
    /// The object after the change; `null` for deletes. Values known only after
    /// apply (key ids) are absent.
    pub after: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_sink: Option<Sink>,
    pub operation: Operation,
}

pub fn plan(file: &PlanFile) -> PlanJson {
    let body = &file.body;
    PlanJson {
        format_version: JSON_FORMAT_VERSION,
        plan_digest: file.digest,
        created_at: body.created_at,
        expires_at: body.expires_at,
        author: body.author.clone(),
        config_path: body.config.path.clone(),
        config_digest: body.config.digest,
        scopes: body.scopes.clone(),
        summary: body.summary,
        has_changes: body.has_changes(),
        changes: body
            .changes
            .iter()
            .map(|c| {
                let (before, after) = super::view::before_after(c);
                ChangeJson {
                    address: c.address.clone(),
                    action: c.action,
                    reason: c.reason,
                    risk: c.risk,
                    detail: c.detail.clone(),
                    before,
                    after,
                    secret_sink: c.sink.clone(),
                    operation: c.operation.clone(),
                }
            })
            .collect(),
        unmanaged: body.unmanaged.clone(),
        signatures: file.signatures.len(),
    }
}

/// The JSON Schema of [`PlanJson`], as checked in under `schemas/`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PlanJson)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    /// `schemas/plan-json.schema.json` is generated from [`super::PlanJson`];
    /// `NHI_UPDATE_SCHEMAS=1` rewrites it.
    #[test]
    fn plan_json_schema_is_up_to_date() {
        crate::check_schema_file("plan-json.schema.json", &super::schema());
    }
}
