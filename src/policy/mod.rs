//! The governance gate: built-in hygiene and least-privilege rules and the
//! organisation's Rego policies judge a plan's changes and the estate they lead
//! to, before anyone approves. Pure: no I/O, the plan's clock as the time.
//!
//! Findings are recorded in the signed plan body with the policy record they
//! were judged by. Every decode re-derives the findings on changes
//! ([`judge_changes`]); apply re-derives the rest from the live state it
//! re-reads and refuses a plan that lost or altered one.

mod catalogue;
mod finding;
mod judge;
mod privilege;
mod project;
mod record;
pub mod rego;

pub use catalogue::{RULES, Rule, find as find_rule};
pub use finding::{Enforcement, ExceptionUse, Finding, Severity, Subject};
pub use judge::{Judging, ScopeInput, judge, judge_body, judge_changes};
pub use record::{DEFAULT_KEY_MAX_AGE, DEFAULT_UNUSED_AFTER, Exception, PolicyRecord, RegoRecord};

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
