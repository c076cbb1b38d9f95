//! `nhi drift` reports: text for people, markdown for a nightly issue.

use std::fmt::Write as _;

use crate::drift::{DriftClass, DriftReport, Finding};

/// Live state is hostile input: control and bidirectional-override characters
/// are shown escaped, never sent to a terminal or a page.
fn shown(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
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
        DriftClass::Due => "Due: keys past their rotation age, objects past their expiry",
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
    for class in DriftClass::ALL {
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.class == class)
            .collect();
        if found.is_empty() {
            continue;
        }
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

/// Markdown code span that holds `text` exactly, whatever backticks it holds.
fn code(text: &str) -> String {
    let text = shown(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Prose from live state in a markdown table cell: nothing in it can end the
/// cell, the row, or open markup.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in shown(text).chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '*' | '_' | '[' | ']' | '`' | '#' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
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
    for class in DriftClass::ALL {
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.class == class)
            .collect();
        if found.is_empty() {
            continue;
        }
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
