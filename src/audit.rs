//! Audit: the live estate judged by the governance gate's rules as it is today,
//! with no change carried out: every provider block read, every live identity
//! the configuration does not declare judged as unmanaged, declared settings
//! from the configuration. Read-only: no lock, no plan file, no sink checks;
//! provider blocks alone (no identities) are enough.

use std::path::Path;

use nhi_provider_sdk::Address;
use schemars::JsonSchema;
use serde::Serialize;

use crate::clock::Clock;
use crate::events::Events;
use crate::plan::{PlanOptions, Planned, PlanningError};
use crate::policy::{Enforcement, Finding, PolicyRecord, ScopeInput, Severity};
use crate::registry::Registry;

/// What `nhi audit` reads.
pub struct AuditOptions<'a> {
    /// The configuration file.
    pub config: &'a Path,
    /// The audit's clock (`NHI_NOW` fixes it): key ages are judged at it.
    pub clock: Clock,
    pub registry: &'a Registry,
    /// Progress of each scope's read.
    pub events: &'a dyn Events,
}

/// Bumped on any incompatible change of [`AuditReport`].
pub const AUDIT_FORMAT_VERSION: u32 = 1;

/// The posture report (`nhi audit --json`; `schemas/audit-json.schema.json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditReport {
    pub format_version: u32,
    /// When live state was read: the clock findings were judged at.
    pub checked_at: jiff::Timestamp,
    pub config_path: String,
    /// Each provider block read, in configuration order.
    pub scopes: Vec<AuditScope>,
    /// The policy the estate was judged by (the configuration's `policy:`
    /// section, or the defaults).
    pub policy: PolicyRecord,
    /// Live identities no configuration declares. Sorted.
    pub unmanaged: Vec<Address>,
    pub counts: FindingCounts,
    /// Sorted by address, rule and message. A finding with an `exception`
    /// costs nothing and never fails the audit.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditScope {
    /// `<type>.<name>`, the prefix of every address in this scope.
    pub provider: String,
    /// The provider's own description of what it manages exhaustively.
    pub scope: String,
    pub observed_identities: u64,
}

/// Findings by severity (those an exception excuses not included), how many
/// are soft or hard, and how many an exception excuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FindingCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    /// Soft findings: a plan holding one needs the approvals the applier's
    /// trust policy names for them.
    pub soft: usize,
    /// Hard findings: no plan holding one is written.
    pub hard: usize,
    pub excused: usize,
}

impl FindingCounts {
    pub fn of(findings: &[Finding]) -> Self {
        let [low, medium, high, critical] = crate::policy::counts(findings);
        let mut counts = Self {
            critical,
            high,
            medium,
            low,
            ..Self::default()
        };
        for f in findings {
            match (f.counts(), f.enforcement) {
                (false, _) => counts.excused += 1,
                (true, Enforcement::Soft) => counts.soft += 1,
                (true, Enforcement::Hard) => counts.hard += 1,
                (true, Enforcement::Advisory) => {}
            }
        }
        counts
    }
}

impl AuditReport {
    /// Whether a finding that counts (no exception) is at least as grave as
    /// `severity`.
    pub fn fails_at(&self, severity: Severity) -> bool {
        self.findings
            .iter()
            .any(|f| f.counts() && f.severity >= severity)
    }
}

/// Reads every provider block and judges the estate as it is. The plan it read
/// through comes back too, for the caller to drop (or not: see `nhi plan`).
pub fn audit(options: &AuditOptions<'_>) -> Result<(AuditReport, Planned), PlanningError> {
    let mut planned = crate::plan::plan(&PlanOptions {
        config: options.config,
        author: "nhi audit".to_owned(),
        clock: options.clock,
        valid_for: jiff::SignedDuration::from_hours(1),
        registry: options.registry,
        events: options.events,
        protected: crate::sink::Protected::default(),
        check_sinks: false,
        enforce: false,
        request: &crate::diff::Request::default(),
        key_log: None,
    })?;
    let Planned {
        config,
        refreshed,
        file,
        ..
    } = &mut planned;
    let scopes: Vec<ScopeInput<'_>> = crate::plan::scope_inputs(
        options.registry,
        &config.dir,
        refreshed.iter().map(|r| (&r.block, &r.observed)),
    );
    // The estate as it is today, not as the plan would leave it.
    let changes = std::mem::take(&mut file.body.changes);
    let findings = crate::policy::judge_body(&file.body, &scopes, Some(config), true);
    file.body.changes = changes;
    let declared: std::collections::HashSet<(&str, &str)> = config
        .identities
        .iter()
        .map(|d| (d.provider.as_str(), d.identity.name.as_str()))
        .collect();
    let mut unmanaged: Vec<Address> = refreshed
        .iter()
        .flat_map(|r| {
            let prefix = Address::provider(&r.block.type_name, &r.block.name);
            let declared = &declared;
            r.observed
                .identities
                .iter()
                .filter(move |l| {
                    !declared.contains(&(r.block.name.as_str(), l.identity.name.as_str()))
                })
                .map(move |l| prefix.identity(&l.identity.name))
        })
        .collect();
    unmanaged.sort();
    let report = AuditReport {
        format_version: AUDIT_FORMAT_VERSION,
        checked_at: file.body.created_at,
        config_path: file.body.config.path.clone(),
        scopes: refreshed
            .iter()
            .map(|r| AuditScope {
                provider: format!("{}.{}", r.block.type_name, r.block.name),
                scope: r.scope.clone(),
                observed_identities: r.observed.identities.len() as u64,
            })
            .collect(),
        policy: file.body.policy.clone(),
        unmanaged,
        counts: FindingCounts::of(&findings),
        findings,
    };
    Ok((report, planned))
}

pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(AuditReport)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    #[test]
    fn audit_json_schema_is_up_to_date() {
        crate::check_schema_file("audit-json.schema.json", &super::schema());
    }
}
