//! What every rendering says about findings alike: their order for readers (most
//! grave first), which change each belongs to, the counts line, and the
//! exceptions in use.

use std::collections::HashMap;

use crate::diff::Change;
use crate::policy::{Enforcement, Exception, Finding, PolicyRecord, Severity, Subject};

/// Most grave first, then by address, rule and message.
pub(crate) fn by_gravity(findings: &[Finding]) -> Vec<&Finding> {
    let mut out: Vec<&Finding> = findings.iter().collect();
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.key().cmp(&b.key()))
    });
    out
}

/// Whether a finding must be shown wherever findings are cut for size: it
/// costs approvals (soft or hard), or it is high or critical.
pub(crate) fn must_show(finding: &Finding) -> bool {
    finding.subject != Subject::Resolved
        && (finding.severity >= Severity::High
            || (finding.counts() && finding.enforcement != Enforcement::Advisory))
}

/// Findings split by the change they concern: `beside[i]` are those of
/// `changes[i]` (its address, or an object under the identity it changes), and
/// `estate` those no change touches, most grave first. A finding belongs to the
/// most specific change: its own object's, else its identity's.
pub(crate) struct Placed<'a> {
    pub beside: Vec<Vec<&'a Finding>>,
    pub estate: Vec<&'a Finding>,
}

pub(crate) fn place<'a>(changes: &[Change], findings: &'a [Finding]) -> Placed<'a> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        index.entry(change.address.as_str()).or_insert(i);
    }
    let mut beside = vec![Vec::new(); changes.len()];
    let mut estate = Vec::new();
    for finding in by_gravity(findings) {
        let own = index.get(finding.address.as_str()).copied();
        let at = own.or_else(|| {
            let identity = finding.address.identity_of();
            index.get(identity.as_str()).copied()
        });
        match at {
            Some(i) => beside[i].push(finding),
            None => estate.push(finding),
        }
    }
    Placed { beside, estate }
}

/// Counts of the findings that cost something, by severity; soft ones; and
/// those an exception excuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub by_severity: [usize; 4],
    pub soft: usize,
    pub hard: usize,
    pub excused: usize,
    /// Findings on what the plan's changes remove.
    pub resolved: usize,
}

pub(crate) fn tally(findings: &[Finding]) -> Tally {
    let mut tally = Tally {
        by_severity: crate::policy::counts(findings),
        ..Tally::default()
    };
    for f in findings {
        if f.subject == Subject::Resolved {
            tally.resolved += 1;
        } else if !f.counts() {
            tally.excused += 1;
        } else if f.enforcement == Enforcement::Soft {
            tally.soft += 1;
        } else if f.enforcement == Enforcement::Hard {
            tally.hard += 1;
        }
    }
    tally
}

/// `1 critical, 3 high, 2 medium, 0 low`: most grave first.
pub(crate) fn severities(tally: &Tally, separator: &str) -> String {
    Severity::ALL
        .iter()
        .rev()
        .map(|s| format!("{} {s}", tally.by_severity[*s as usize]))
        .collect::<Vec<_>>()
        .join(separator)
}

/// `2 soft (cost approvals), 1 excused by an exception`, or empty.
pub(crate) fn costs(tally: &Tally) -> String {
    let mut parts = Vec::new();
    if tally.hard > 0 {
        parts.push(format!("{} hard", tally.hard));
    }
    if tally.soft > 0 {
        parts.push(format!("{} soft (cost approvals)", tally.soft));
    }
    if tally.excused > 0 {
        parts.push(if tally.excused == 1 {
            "1 excused by an exception".to_owned()
        } else {
            format!("{} excused by exceptions", tally.excused)
        });
    }
    if tally.resolved > 0 {
        parts.push(format!("{} resolved by this plan", tally.resolved));
    }
    parts.join(", ")
}

/// `N findings`.
pub(crate) fn count(n: usize) -> String {
    if n == 1 {
        "1 finding".to_owned()
    } else {
        format!("{n} findings")
    }
}

/// The exceptions of the policy record that excuse at least one finding, in
/// configuration order, with how many each excuses.
pub(crate) fn exceptions_in_use<'a>(
    policy: &'a PolicyRecord,
    findings: &[Finding],
) -> Vec<(&'a Exception, usize)> {
    policy
        .exceptions
        .iter()
        .filter_map(|e| {
            let used = findings
                .iter()
                .filter(|f| {
                    f.rule == e.rule
                        && f.exception.as_ref().is_some_and(|u| {
                            u.justification == e.justification && u.expires == e.expires
                        })
                        && covers(&e.address, &f.address)
                })
                .count();
            (used > 0).then_some((e, used))
        })
        .collect()
}

/// The markdown block "Exceptions in use", a bullet per exception that excuses a
/// finding; nothing when none does.
pub(crate) fn exceptions_markdown(out: &mut String, policy: &PolicyRecord, findings: &[Finding]) {
    use std::fmt::Write as _;

    use super::escape::code_span;

    let used = exceptions_in_use(policy, findings);
    if used.is_empty() {
        return;
    }
    out.push_str("Exceptions in use:\n\n");
    for (e, n) in used {
        let _ = writeln!(
            out,
            "- {} on {} until {} ({}): {}",
            code_span(&e.rule),
            code_span(e.address.as_str()),
            e.expires,
            count(n),
            super::markdown::escape(&e.justification)
        );
    }
    out.push('\n');
}

fn covers(exception: &nhi_provider_sdk::Address, address: &nhi_provider_sdk::Address) -> bool {
    let (e, a) = (exception.as_str(), address.as_str());
    a == e || (a.starts_with(e) && a.as_bytes().get(e.len()) == Some(&b'/'))
}

/// What a finding costs, for a reader: empty for an advisory one.
pub(crate) fn cost_tag(finding: &Finding) -> String {
    if finding.subject == Subject::Resolved {
        return " [resolved by this plan]".to_owned();
    }
    match &finding.exception {
        Some(e) => format!(" [excused until {}]", e.expires),
        None => match finding.enforcement {
            Enforcement::Advisory => String::new(),
            Enforcement::Soft => " [soft: costs approvals]".to_owned(),
            Enforcement::Hard => " [hard]".to_owned(),
        },
    }
}
