//! The machine-readable rendering of a plan (`--json`, `show --format json`), with
//! its own format version and a JSON Schema in `schemas/`.

use nhi_provider_sdk::{Address, Digest, Operation, Sink};
use schemars::JsonSchema;
use serde::Serialize;

use crate::audit::FindingCounts;
use crate::diff::{Action, Reason, Risk};
use crate::plan::{PlanFile, ScopeRecord, SelectionRecord};
use crate::policy::{Finding, PolicyRecord};

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
    pub summary: SummaryJson,
    /// Whether applying the plan would change anything.
    pub has_changes: bool,
    /// Whether the plan holds only the changes for `selection.targets`
    /// (`nhi plan --target`): applying it does not reconcile the rest.
    pub partial: bool,
    /// What `--target` and `--replace` asked for; `null` for a plan made
    /// without them.
    pub selection: Option<SelectionRecord>,
    pub changes: Vec<ChangeJson>,
    pub unmanaged: Vec<Address>,
    /// The policy the plan was judged by: thresholds, enforcement by rule,
    /// exceptions, and the Rego bundle's digest when there is one.
    pub policy: PolicyRecord,
    /// What the governance gate found, sorted by address, rule and message. A
    /// finding with an `exception` costs nothing.
    pub findings: Vec<Finding>,
    /// Number of signatures carried (judged by `nhi verify`, not here).
    pub signatures: usize,
}

/// Counts of changes by action, unmanaged identities, and findings.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[schemars(rename = "Summary")]
pub struct SummaryJson {
    pub create: u64,
    pub update: u64,
    pub replace: u64,
    pub rotate: u64,
    pub delete: u64,
    /// Unmanaged identities reported (not changes).
    pub unmanaged: u64,
    pub findings: FindingCounts,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeJson {
    pub address: Address,
    pub action: Action,
    pub reason: ReasonJson,
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

/// Why the change is planned, as the view spells it (the plan file keeps its own
/// spelling, so plan files stay byte for byte the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Reason")]
pub enum ReasonJson {
    /// Declared but absent from live state.
    New,
    /// The live object differs from the configuration, or is present on a managed
    /// identity without being declared. nhi keeps no state, so this does not say
    /// whether the live object or the configuration was edited.
    Differs,
    /// A key older than its `rotate_after`.
    RotationDue,
    /// Past its `expires` date.
    Expired,
    /// In scope, not declared, and the provider block says `prune: true`.
    Unmanaged,
    /// Named by `nhi plan --replace`: a key rotated, or an identity replaced
    /// with what it holds, although nothing else calls for it.
    ReplaceRequested,
    /// A key whose live status is not its declared `status: inactive`.
    Status,
    /// A key its cloud reports compromised: replaced whatever its age.
    Leaked,
}

impl From<Reason> for ReasonJson {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::New => Self::New,
            Reason::Drift => Self::Differs,
            Reason::RotationDue => Self::RotationDue,
            Reason::Expired => Self::Expired,
            Reason::Unmanaged => Self::Unmanaged,
            Reason::ReplaceRequested => Self::ReplaceRequested,
            Reason::Status => Self::Status,
            Reason::Leaked => Self::Leaked,
        }
    }
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
        summary: SummaryJson {
            create: body.summary.create,
            update: body.summary.update,
            replace: body.summary.replace,
            rotate: body.summary.rotate,
            delete: body.summary.delete,
            unmanaged: body.summary.unmanaged,
            findings: FindingCounts::of(&body.findings),
        },
        has_changes: body.has_changes(),
        partial: body.is_partial(),
        selection: body.selection.clone(),
        changes: body
            .changes
            .iter()
            .map(|c| {
                let (before, after) = super::view::before_after(c);
                ChangeJson {
                    address: c.address.clone(),
                    action: c.action,
                    reason: c.reason.into(),
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
        policy: body.policy.clone(),
        findings: body.findings.clone(),
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

    /// The view spells the reason `differs`; the plan file keeps `drift`, so plan
    /// files are byte for byte what earlier builds wrote.
    #[test]
    fn the_view_says_differs_and_the_plan_file_keeps_drift() {
        let file = crate::render::fixture::quickstart();
        let view = serde_json::to_value(super::plan(&file)).unwrap();
        let reasons: Vec<&str> = view["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["reason"].as_str().unwrap())
            .collect();
        assert!(reasons.contains(&"differs"), "{reasons:?}");
        assert!(!reasons.contains(&"drift"), "{reasons:?}");
        let encoded = String::from_utf8(file.encode()).unwrap();
        assert!(encoded.contains(r#"\"reason\":\"drift\""#), "{encoded}");
        assert!(!encoded.contains(r#"\"reason\":\"differs\""#));
    }
}
