//! `nhi drift` reports: text for people, markdown for a nightly issue, SARIF for
//! code scanning.

use std::fmt::Write as _;

use crate::drift::{DriftClass, DriftReport, Finding};

/// Live state is hostile input: unsafe characters are shown escaped, never sent
/// to a terminal or a page (see `render::escape`).
fn shown(text: &str) -> String {
    super::escape::text(text).into_owned()
}

/// What applying the configuration would do: "be created", … or only report.
fn action_of(f: &Finding) -> String {
    f.action.map_or_else(
        || "only report it".to_owned(),
        |a| format!("have it {}", a.verb()),
    )
}

fn heading(class: DriftClass) -> &'static str {
    match class {
        DriftClass::Drift => {
            "Drift: live objects that differ from the configuration, or are missing"
        }
        DriftClass::Unmanaged => {
            "Unmanaged: identities in scope the configuration does not declare"
        }
        DriftClass::Due => "Due: keys past their rotation age or unused, objects past their expiry",
    }
}

fn line(f: &Finding) -> String {
    let action = action_of(f);
    let mut text = format!(
        "{} ({}; apply would {action})",
        shown(f.address.as_str()),
        f.reason
    );
    if let Some(detail) = &f.detail {
        let _ = write!(text, ": {}", shown(detail));
    }
    text
}

/// The findings of each class found, in class order.
fn by_class(report: &DriftReport) -> Vec<(DriftClass, Vec<&Finding>)> {
    DriftClass::ALL
        .into_iter()
        .map(|class| {
            let found: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.class == class)
                .collect();
            (class, found)
        })
        .filter(|(_, found)| !found.is_empty())
        .collect()
}

fn summary(report: &DriftReport) -> String {
    let c = &report.counts;
    format!(
        "{} drift, {} unmanaged, {} due",
        c.drift, c.unmanaged, c.due
    )
}

/// Plain text, one section per class found.
pub fn text(report: &DriftReport, _painter: super::Painter) -> String {
    let mut out = String::new();
    for (class, found) in by_class(report) {
        let _ = writeln!(out, "{}:", heading(class));
        for f in found {
            let _ = writeln!(out, "  {}", line(f));
        }
        out.push('\n');
    }
    for scope in &report.scopes {
        let _ = writeln!(out, "Scope {}", shown(scope));
    }
    if report.findings.is_empty() {
        let _ = writeln!(
            out,
            "No drift: live state matches the configuration, nothing unmanaged, nothing due (checked {}).",
            report.checked_at
        );
    } else {
        let _ = writeln!(
            out,
            "Found: {} (checked {}).",
            summary(report),
            report.checked_at
        );
    }
    out
}

fn code(text: &str) -> String {
    super::escape::code_span(text)
}

/// Prose from live state in a markdown table cell: escaped, and every ASCII
/// punctuation mark backslashed, so nothing in it ends the cell or opens markup.
fn cell(text: &str) -> String {
    let text = super::escape::text(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An issue body: a summary line, then a table per class found.
pub fn markdown(report: &DriftReport) -> String {
    let mut out = format!(
        "### nhi drift: {}\n\nConfiguration {} checked at {}.\n\n",
        summary(report),
        code(&report.config_path),
        report.checked_at
    );
    for (class, found) in by_class(report) {
        let _ = writeln!(out, "#### {} ({})\n", heading(class), found.len());
        out.push_str("| address | why | apply would | detail |\n|---|---|---|---|\n");
        for f in found {
            let action = action_of(f);
            let _ = writeln!(
                out,
                "| {} | {} | {action} | {} |",
                code(f.address.as_str()),
                f.reason,
                cell(f.detail.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    if report.findings.is_empty() {
        out.push_str("Live state matches the configuration: nothing unmanaged, nothing due.\n");
    }
    out.push_str("\nScopes: ");
    out.push_str(
        &report
            .scopes
            .iter()
            .map(|s| code(s))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push('\n');
    out
}

/// The SARIF rules of drift's classes; a `due` finding of the gate keeps the
/// gate's rule.
const CLASS_RULES: [super::sarif::OtherRule; 3] = [
    super::sarif::OtherRule {
        id: "drift",
        severity: crate::policy::Severity::Medium,
        description: "A live object differs from the configuration, or a declared one is missing",
    },
    super::sarif::OtherRule {
        id: "unmanaged",
        severity: crate::policy::Severity::High,
        description: "An identity in scope that the configuration does not declare",
    },
    super::sarif::OtherRule {
        id: "due",
        severity: crate::policy::Severity::Medium,
        description: "A key past its rotation age, or an object past its expiry",
    },
];

/// `nhi drift --format sarif`: a result per finding, at the configuration line
/// of its object.
pub fn sarif(report: &DriftReport, source: &super::sarif::Source<'_>) -> String {
    let findings: Vec<crate::policy::Finding> = report
        .findings
        .iter()
        .map(|f| {
            let gate = (f.class == DriftClass::Due && f.action.is_none())
                .then(|| crate::policy::find_rule(&f.reason))
                .flatten();
            let (rule, severity) = if let Some(rule) = gate {
                (rule.id.to_owned(), rule.severity)
            } else {
                let class = CLASS_RULES
                    .iter()
                    .find(|r| r.id == f.class.name())
                    .expect("invariant: a rule per class");
                (class.id.to_owned(), class.severity)
            };
            let message = match &f.detail {
                Some(detail) => format!("{}: {detail}", f.reason),
                None => f.reason.clone(),
            };
            crate::policy::Finding {
                address: f.address.clone(),
                rule,
                severity,
                enforcement: crate::policy::Enforcement::Advisory,
                subject: crate::policy::Subject::State,
                message,
                exception: None,
            }
        })
        .collect();
    super::sarif::pretty(&super::sarif::report_with(&findings, &CLASS_RULES, source))
}
