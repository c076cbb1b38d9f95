//! `nhi audit` reports: the live estate's findings, most grave first, as text
//! for people and markdown for an issue or a wiki page.

use std::fmt::Write as _;

use crate::audit::AuditReport;
use crate::policy::Severity;

use super::escape::{self, code_span};
use super::findings;
use super::text::{self, Painter};

fn counts_text(report: &AuditReport, separator: &str) -> String {
    let c = &report.counts;
    [
        (c.critical, Severity::Critical),
        (c.high, Severity::High),
        (c.medium, Severity::Medium),
        (c.low, Severity::Low),
    ]
    .iter()
    .map(|(n, s)| format!("{n} {s}"))
    .collect::<Vec<_>>()
    .join(separator)
}

/// What makes the audit fail, for the last line.
fn verdict(report: &AuditReport, fail_on: Severity) -> String {
    let failing = report
        .findings
        .iter()
        .filter(|f| f.counts() && f.severity >= fail_on)
        .count();
    if failing == 0 {
        format!("passes: nothing at or above {fail_on}")
    } else {
        format!("fails: {} at or above {fail_on}", findings::count(failing))
    }
}

fn exceptions_text(report: &AuditReport) -> Vec<String> {
    findings::exceptions_in_use(&report.policy, &report.findings)
        .into_iter()
        .map(|(e, n)| {
            format!(
                "{} on {} until {} ({}): {}",
                escape::text(&e.rule),
                escape::text(e.address.as_str()),
                e.expires,
                findings::count(n),
                escape::text(&e.justification)
            )
        })
        .collect()
}

/// Plain text: the findings most grave first, exceptions in use, scopes, and
/// the verdict against `fail_on`.
pub fn text(report: &AuditReport, fail_on: Severity, p: Painter) -> String {
    let mut out = String::new();
    if !report.findings.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            p.bold("Findings on the live estate, most grave first:")
        );
        for f in findings::by_gravity(&report.findings) {
            text::finding_line(&mut out, "  ", f, None, p);
        }
        out.push('\n');
    }
    let exceptions = exceptions_text(report);
    if !exceptions.is_empty() {
        let _ = writeln!(out, "{}", p.bold("Exceptions in use:"));
        for line in exceptions {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    for scope in &report.scopes {
        let _ = writeln!(
            out,
            "Scope {}: {}; {} identities observed, {} unmanaged.",
            escape::text(&scope.provider),
            escape::text(&scope.scope),
            scope.observed_identities,
            report
                .unmanaged
                .iter()
                .filter(|a| a.provider_prefix() == scope.provider)
                .count()
        );
    }
    let summary = if report.findings.is_empty() {
        format!(
            "Audit: no findings; the live estate passes every rule (checked {}).",
            report.checked_at
        )
    } else {
        let tally = findings::tally(&report.findings);
        let costs = findings::costs(&tally);
        format!(
            "Audit: {}{}{costs} (checked {}); {}.",
            counts_text(report, ", "),
            if costs.is_empty() { "" } else { "; " },
            report.checked_at,
            verdict(report, fail_on)
        )
    };
    let _ = writeln!(out, "{}", p.bold(&summary));
    out
}

/// An issue body: the counts, the verdict, a table of findings most grave
/// first, the exceptions in use and the scopes.
pub fn markdown(report: &AuditReport, fail_on: Severity) -> String {
    let mut out = format!(
        "### nhi audit: {}\n\nConfiguration {} checked at {}: {}.\n\n",
        counts_text(report, " · "),
        code_span(&report.config_path),
        report.checked_at,
        verdict(report, fail_on)
    );
    if !report.findings.is_empty() {
        out.push_str("| Severity | Rule | Address | Costs | Finding |\n|---|---|---|---|---|\n");
        for f in findings::by_gravity(&report.findings) {
            let costs = match &f.exception {
                Some(e) => format!("excused until {}", e.expires),
                None => f.enforcement.to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {costs} | {} |",
                f.severity,
                code_span(&f.rule),
                code_span(f.address.as_str()),
                super::markdown::escape(&f.message)
            );
        }
        out.push('\n');
    }
    findings::exceptions_markdown(&mut out, &report.policy, &report.findings);
    out.push_str("Scopes: ");
    out.push_str(
        &report
            .scopes
            .iter()
            .map(|s| code_span(&s.provider))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push('\n');
    out
}
