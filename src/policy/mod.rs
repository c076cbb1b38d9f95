//! The governance gate: built-in hygiene and least-privilege rules and the
//! organisation's Rego policies judge a plan's changes and the estate they lead
//! to, before anyone approves. Pure: no I/O, the plan's clock as the time.
//!
//! Findings are recorded in the signed plan body with the policy record they
//! were judged by. Every decode re-derives the findings on changes
//! ([`judge_changes`]); apply re-derives the rest from the live state it
//! re-reads and refuses a plan that lost or altered one.

pub(crate) mod catalogue;
pub(crate) mod finding;
mod hygiene;
mod input;
mod judge;
mod privilege;
mod project;
pub(crate) mod record;
pub mod rego;

pub use catalogue::{RULES, Rule, find as find_rule};
pub use finding::{Enforcement, ExceptionUse, Finding, Severity, Subject};
pub use judge::{Judging, ScopeInput, judge, judge_body, judge_changes};
pub use record::{DEFAULT_KEY_MAX_AGE, DEFAULT_UNUSED_AFTER, Exception, PolicyRecord, RegoRecord};

/// The findings of an org policy bundle on a plan body and the configuration it
/// came from, with the enforcement and exceptions of the body's policy record.
/// The input leaves out the body's own findings, so that plan and apply, which
/// judge at different points, give the bundle the same document.
pub fn judge_rego(
    bundle: &rego::Bundle,
    body: &crate::plan::PlanBody,
    config: &crate::config::Config,
) -> Result<Vec<Finding>, rego::RegoError> {
    let mut input = rego::input(body, config);
    if let Some(plan) = input
        .get_mut("plan")
        .and_then(serde_json::Value::as_object_mut)
    {
        plan.remove("findings");
    }
    let today = body.created_at.to_zoned(jiff::tz::TimeZone::UTC).date();
    Ok(bundle
        .evaluate(&input, body.created_at)?
        .into_iter()
        .map(|found| Finding {
            enforcement: body
                .policy
                .rego_enforcement(&found.rule, found.default_enforcement),
            exception: body.policy.exception(&found.rule, &found.address, today),
            subject: Subject::State,
            address: found.address,
            rule: found.rule,
            severity: found.severity,
            message: found.message,
        })
        .collect())
}

/// `findings` with `more` added, sorted and unique as a plan holds them.
pub fn merge(findings: &mut Vec<Finding>, more: Vec<Finding>) {
    findings.extend(more);
    findings.sort_by(|a, b| a.key().cmp(&b.key()));
    findings.dedup_by(|a, b| a.key() == b.key());
}

/// Counts of findings that cost something (no exception), by severity.
pub fn counts(findings: &[Finding]) -> [usize; 4] {
    let mut out = [0; 4];
    for f in findings.iter().filter(|f| f.counts()) {
        out[f.severity as usize] += 1;
    }
    out
}

/// The findings that stop a plan from being written: hard, without exception.
pub fn blocking(findings: &[Finding]) -> impl Iterator<Item = &Finding> {
    findings
        .iter()
        .filter(|f| f.counts() && f.enforcement == Enforcement::Hard)
}
