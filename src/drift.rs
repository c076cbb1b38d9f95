//! Drift: the read-only look a schedule takes. It plans (no lock, no plan file,
//! no sink checks: nothing will be minted) and sorts what it found into classes a
//! pipeline can branch on: live objects that differ from the configuration or
//! are missing (`drift`), identities in scope the configuration does not declare
//! (`unmanaged`), and what is due (`due`): rotation age or expiry passed, and the
//! governance gate's key findings no plan acts on (older than the policy's
//! `key_max_age`, unused past `unused_after`, never used).

use schemars::JsonSchema;
use serde::Serialize;

use nhi_provider_sdk::Address;

use crate::diff::{Action, Reason};
use crate::plan::{PlanOptions, Planned, PlanningError};

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftClass {
    /// A managed object differs from the configuration, or a declared one is
    /// missing: an out-of-band change, or a configuration not applied yet.
    Drift,
    /// An identity in scope that the configuration does not declare.
    Unmanaged,
    /// A key past its rotation age, or an object past its `expires` day; a key
    /// older than the policy's `key_max_age`, unused past `unused_after`, or
    /// never used.
    Due,
}

impl DriftClass {
    pub const ALL: [Self; 3] = [Self::Drift, Self::Unmanaged, Self::Due];

    pub fn name(self) -> &'static str {
        match self {
            Self::Drift => "drift",
            Self::Unmanaged => "unmanaged",
            Self::Due => "due",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == text)
    }
}

/// One thing found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Finding {
    pub class: DriftClass,
    pub address: Address,
    /// What applying the configuration would do about it; `null` for an
    /// unmanaged identity that is only reported (its block does not prune).
    pub action: Option<Action>,
    /// Why, in the words of the plan (`differs`, `new`, `rotation due`, …), or
    /// the gate's rule id for a key finding no change acts on (`key-unused`).
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Bumped on any incompatible change of [`DriftReport`].
pub const DRIFT_FORMAT_VERSION: u32 = 1;

/// What `nhi drift` reports (`--json`; `schemas/drift-json.schema.json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DriftReport {
    pub format_version: u32,
    /// When live state was read (the planning clock).
    pub checked_at: jiff::Timestamp,
    pub config_path: String,
    /// `<type>.<name>: <scope>` for each provider block read.
    pub scopes: Vec<String>,
    /// How many findings of each class, in the order drift, unmanaged, due.
    pub counts: Counts,
    /// In the order a plan would act, unmanaged identities that are only
    /// reported last.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, JsonSchema)]
pub struct Counts {
    pub drift: usize,
    pub unmanaged: usize,
    pub due: usize,
}

impl Counts {
    pub fn of(&self, class: DriftClass) -> usize {
        match class {
            DriftClass::Drift => self.drift,
            DriftClass::Unmanaged => self.unmanaged,
            DriftClass::Due => self.due,
        }
    }
}

impl DriftReport {
    /// Whether anything of `classes` was found.
    pub fn has_any(&self, classes: &[DriftClass]) -> bool {
        classes.iter().any(|c| self.counts.of(*c) > 0)
    }
}

/// Reads live state through the plan operation and sorts what differs; the
/// plan it made comes back too, for the caller to drop (or not: see `nhi plan`).
pub fn drift(options: &PlanOptions<'_>) -> Result<(DriftReport, Planned), PlanningError> {
    let planned = crate::plan::plan(options)?;
    Ok((classify(&planned), planned))
}

/// The gate's rules whose findings are `due`.
const DUE_RULES: [&str; 3] = [
    crate::policy::catalogue::KEY_MAX_AGE,
    crate::policy::catalogue::KEY_UNUSED,
    crate::policy::catalogue::KEY_NEVER_USED,
];

fn class_of(reason: Reason) -> DriftClass {
    match reason {
        Reason::New
        | Reason::Drift
        | Reason::ReplaceRequested
        | Reason::Status
        | Reason::Leaked => DriftClass::Drift,
        Reason::Unmanaged => DriftClass::Unmanaged,
        Reason::RotationDue | Reason::Expired => DriftClass::Due,
    }
}

/// The findings of a plan.
pub fn classify(planned: &Planned) -> DriftReport {
    let body = &planned.file.body;
    let mut findings: Vec<Finding> = body
        .changes
        .iter()
        .map(|c| Finding {
            class: class_of(c.reason),
            address: c.address.clone(),
            action: Some(c.action),
            reason: c.reason.to_string(),
            detail: c.detail.clone(),
        })
        .collect();
    findings.extend(body.unmanaged.iter().map(|address| Finding {
        class: DriftClass::Unmanaged,
        address: address.clone(),
        action: None,
        reason: Reason::Unmanaged.to_string(),
        detail: Some("not declared; reported only, since its provider block does not prune".into()),
    }));
    // What the gate finds due that no change of the plan acts on: a rotation
    // already planned resolves its key's findings, which then do not count.
    // A key its cloud reports leaked that no change replaces (an unmanaged
    // identity's, one kept inactive) is drift: someone else may hold it.
    findings.extend(
        body.findings
            .iter()
            .filter(|f| {
                f.counts()
                    && (DUE_RULES.contains(&f.rule.as_str())
                        || f.rule == crate::policy::catalogue::KEY_LEAKED)
            })
            .map(|f| Finding {
                class: if f.rule == crate::policy::catalogue::KEY_LEAKED {
                    DriftClass::Drift
                } else {
                    DriftClass::Due
                },
                address: f.address.clone(),
                action: None,
                reason: f.rule.clone(),
                detail: Some(f.message.clone()),
            }),
    );
    let mut counts = Counts::default();
    for f in &findings {
        match f.class {
            DriftClass::Drift => counts.drift += 1,
            DriftClass::Unmanaged => counts.unmanaged += 1,
            DriftClass::Due => counts.due += 1,
        }
    }
    DriftReport {
        format_version: DRIFT_FORMAT_VERSION,
        checked_at: body.created_at,
        config_path: body.config.path.clone(),
        scopes: body
            .scopes
            .iter()
            .map(|s| format!("{}: {}", s.provider, s.scope))
            .collect(),
        counts,
        findings,
    }
}

pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(DriftReport)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    #[test]
    fn drift_json_schema_is_up_to_date() {
        crate::check_schema_file("drift-json.schema.json", &super::schema());
    }
}
