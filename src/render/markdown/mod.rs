//! The markdown rendering, fit for a merge-request comment: summary, risk counts
//! and warnings first, then the policy's findings (most grave first), changes
//! grouped by risk (riskiest first, and kept first when the comment must be cut),
//! the full diff folded in `<details>`, then the digest, the approvals so far and
//! the next step; never longer than a comment may be. No finding is ever cut: a
//! plan too large for one comment carries them over its numbered parts.

use std::fmt::Write as _;
use std::path::Path;

use crate::diff::{Change, Risk};
use crate::plan::PlanFile;
use crate::policy::{Enforcement, Finding};

use super::escape::{self, code_span};
use super::findings;
use super::text::{self, Painter};

/// GitHub and GitLab refuse comments longer than this many characters.
pub const MAX_COMMENT_CHARS: usize = 65_535;

/// Riskiest first: rows are kept in this order when the comment must be cut.
const RISKS: [(Risk, &str, &str); 5] = [
    (
        Risk::Destructive,
        "Destructive",
        "identities or keys deleted, replaced or disabled; cannot be undone by re-applying",
    ),
    (
        Risk::PrivilegeIncreasing,
        "Privilege-increasing",
        "access granted or widened",
    ),
    (Risk::Credential, "Credential", "new key material minted"),
    (
        Risk::PrivilegeReducing,
        "Privilege-reducing",
        "grants removed or narrowed",
    ),
    (Risk::Low, "Low", "metadata only"),
];

/// Tables longer than this are folded.
const OPEN_ROWS: usize = 25;

/// Room kept for the note that says what was left out.
const NOTE_RESERVE: usize = 1_000;

const CHANGE_HEADER: &str = "| Address | Action | Reason |\n|---|---|---|\n";
const FINDING_HEADER: &str =
    "| Severity | Rule | Address | Costs | Finding |\n|---|---|---|---|---|\n";

/// One risk class's table (or the findings'), with as many rows as fit.
struct Table {
    header: &'static str,
    title: &'static str,
    total: usize,
    rows: Vec<String>,
}

impl Table {
    fn render(&self) -> String {
        let mut table = String::from(self.header);
        for row in &self.rows {
            table.push_str(row);
        }
        let count = if self.rows.len() == self.total {
            self.total.to_string()
        } else {
            format!("{} of {} shown", self.rows.len(), self.total)
        };
        if self.rows.len() > OPEN_ROWS {
            format!(
                "<details><summary><b>{}</b> ({count})</summary>\n\n{table}\n</details>\n\n",
                self.title
            )
        } else {
            format!("**{}** ({count})\n\n{table}\n", self.title)
        }
    }
}

fn row(change: &Change) -> String {
    format!(
        "| {} | {} | {} |\n",
        code_span(change.address.as_str()),
        change.action.verb(),
        change.reason
    )
}

/// Findings rows, those that must never be cut first, each kind most grave first.
fn finding_rows(found: &[Finding]) -> Vec<String> {
    let mut ordered = findings::by_gravity(found);
    ordered.sort_by_key(|f| !findings::must_show(f));
    ordered
        .into_iter()
        .map(|f| {
            let costs = match (&f.exception, f.enforcement) {
                _ if f.subject == crate::policy::Subject::Resolved => {
                    "resolved by this plan".to_owned()
                }
                (Some(e), _) => format!("excused until {}", e.expires),
                (None, Enforcement::Advisory) => "advisory".to_owned(),
                (None, Enforcement::Soft) => "**soft**".to_owned(),
                (None, Enforcement::Hard) => "**hard**".to_owned(),
            };
            format!(
                "| {} | {} | {} | {costs} | {} |\n",
                f.severity,
                code_span(&f.rule),
                code_span(f.address.as_str()),
                escape(&f.message)
            )
        })
        .collect()
}

/// The findings heading: counts by severity, what they cost, and every
/// exception in use.
fn findings_head(body: &crate::plan::PlanBody) -> String {
    if body.findings.is_empty() {
        return String::new();
    }
    let tally = findings::tally(&body.findings);
    let mut out = format!("#### Findings: {}\n\n", findings::severities(&tally, " · "));
    let costs = findings::costs(&tally);
    if !costs.is_empty() {
        let _ = writeln!(out, "{}: {costs}.\n", findings::count(body.findings.len()));
    }
    findings::exceptions_markdown(&mut out, &body.policy, &body.findings);
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A merge-request comment: what the plan does, riskiest first, within
/// [`MAX_COMMENT_CHARS`]. `path` is the plan file, for the commands it suggests.
/// A plan too large for one comment is the first of [`parts`].
pub fn plan(file: &PlanFile, path: &Path) -> String {
    parts(file, path).swap_remove(0)
}

/// The comments a plan needs, each within [`MAX_COMMENT_CHARS`]: one when it
/// fits, else numbered parts (as Atlantis posts them): the first with the
/// summary, warnings and the riskiest rows, the next ones with the rest of the
/// rows in the same order, each naming the plan's digest and its place.
pub fn parts(file: &PlanFile, path: &Path) -> Vec<String> {
    let body = &file.body;
    let shown_path = path.display().to_string();
    let mut out = String::new();
    let headline = text::summary_line(body);
    let _ = writeln!(
        out,
        "### nhi plan{}: {}\n",
        if body.is_partial() { " (partial)" } else { "" },
        headline
            .trim_start_matches("Plan: ")
            .trim_start_matches("Partial plan: ")
    );
    let selection = text::selection_lines_with(body, &|a| code_span(a));
    if !selection.is_empty() {
        let lines: Vec<String> = selection.iter().map(|l| format!("> {l}")).collect();
        let _ = writeln!(out, "> [!CAUTION]\n{}\n", lines.join("\n>\n"));
    }
    let scopes: Vec<String> = body
        .scopes
        .iter()
        .map(|s| {
            format!(
                "{} ({}{})",
                code_span(&s.provider),
                described(&s.scope),
                if s.prune { ", prunes unmanaged" } else { "" }
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "Configuration {} · {}: {}\n",
        code_span(&body.config.path),
        if scopes.len() == 1 { "scope" } else { "scopes" },
        scopes.join(", ")
    );
    let count = |risk: Risk| body.changes.iter().filter(|c| c.risk == risk).count();
    if body.has_changes() {
        let counts: Vec<String> = RISKS
            .iter()
            .map(|(risk, _, _)| format!("{} {risk}", count(*risk)))
            .collect();
        let _ = writeln!(out, "**Risk:** {}\n", counts.join(" · "));
    }
    let warnings: Vec<String> = RISKS
        .iter()
        // The low classes: access that only shrinks is no cause for a warning.
        .filter(|(risk, _, _)| *risk > Risk::PrivilegeReducing && count(*risk) > 0)
        .map(|(risk, _, what)| {
            format!(
                "> - {} ({what}).",
                plural(
                    count(*risk),
                    &format!("{risk} change"),
                    &format!("{risk} changes")
                )
            )
        })
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "> [!WARNING]\n{}\n", warnings.join("\n"));
    }
    if !body.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "**Drift:** {} in scope (reported only).\n",
            plural(
                body.unmanaged.len(),
                "unmanaged identity",
                "unmanaged identities"
            )
        );
    }

    out.push_str(&findings_head(body));

    let signatures = file.signatures.len();
    let next = if body.has_changes() {
        format!(
            "Next: `nhi approve {shown_path}` to add an approval, then `nhi apply {shown_path}`."
        )
    } else {
        "Next: nothing to apply.".to_owned()
    };
    let footer = format!(
        "Plan digest `{}` · planned by {} (claimed, not verified) at {} · expires {} · config {} (`{}`)\n\n\
         Approvals: {} in the file (`nhi verify {shown_path}` judges them against the trust policy).\n\n\
         {next}\n",
        file.digest,
        escape(&body.author),
        body.created_at,
        body.expires_at,
        code_span(&body.config.path),
        body.config.digest,
        plural(signatures, "signature", "signatures"),
    );

    let finding_table = Table {
        header: FINDING_HEADER,
        title: "Findings, most grave first",
        total: body.findings.len(),
        rows: finding_rows(&body.findings),
    };
    let tables: Vec<Table> = RISKS
        .iter()
        .map(|(risk, title, _)| Table {
            header: CHANGE_HEADER,
            title,
            total: count(*risk),
            rows: body
                .changes
                .iter()
                .filter(|c| c.risk == *risk)
                .map(row)
                .collect(),
        })
        .filter(|t| t.total > 0)
        .collect();
    let unmanaged = if body.unmanaged.is_empty() {
        String::new()
    } else {
        let mut table = String::from("| Address |\n|---|\n");
        for a in &body.unmanaged {
            let _ = writeln!(table, "| {} |", code_span(a.as_str()));
        }
        format!(
            "<details><summary><b>Unmanaged</b> ({})</summary>\n\n{table}\n</details>\n\n",
            body.unmanaged.len()
        )
    };
    let findings_table = if finding_table.total == 0 {
        String::new()
    } else {
        finding_table.render()
    };
    let all_tables: String = std::iter::once(findings_table)
        .chain(tables.iter().map(Table::render))
        .collect();
    let full = if body.has_changes() {
        let plain = diff_columns(&text::plan(body, Painter::PLAIN));
        let fence = escape::code_fence(&plain);
        format!(
            "<details><summary>Full plan</summary>\n\n{fence}diff\n{plain}{fence}\n\n</details>\n\n"
        )
    } else {
        String::new()
    };
    let see_all = format!("run `nhi show {shown_path}` (the text format, `--format text`)");
    let fixed = out.len() + footer.len() + shown_path.len();
    if fixed + all_tables.len() + unmanaged.len() + full.len() <= MAX_COMMENT_CHARS {
        out.push_str(&all_tables);
        out.push_str(&unmanaged);
        out.push_str(&full);
    } else if fixed + all_tables.len() + unmanaged.len() + NOTE_RESERVE <= MAX_COMMENT_CHARS {
        out.push_str(&all_tables);
        out.push_str(&unmanaged);
        let _ = writeln!(
            out,
            "> [!NOTE]\n> The full diff is left out to fit a comment; to see it, {see_all}.\n"
        );
    } else {
        return parts::numbered(
            &out,
            &footer,
            finding_table,
            tables,
            &unmanaged,
            body,
            file,
            &shown_path,
        );
    }
    out.push_str(&footer);
    vec![out]
}

/// Text for a markdown line or table cell, shown as written: escaped as the
/// text rendering escapes it, then every ASCII punctuation character
/// backslash-escaped, so no markup, HTML or table syntax can form.
pub(crate) fn escape(value: &str) -> String {
    let value = escape::text(value);
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A provider's description of its scope, whose backticks mark code: the parts
/// between pairs of them become code spans, the rest is escaped text.
fn described(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = String::with_capacity(text.len() + 8);
    // An odd number of parts means the backticks pair up.
    let paired = parts.len() % 2 == 1;
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && (paired || i + 1 < parts.len() - 1) {
            out.push_str(&code_span(part));
        } else {
            if i % 2 == 1 {
                out.push_str("\\`");
            }
            out.push_str(&escape(part));
        }
    }
    out
}

/// Moves each change's `+`/`-` to the first column, where `diff` highlighting
/// looks for it. The text is the plan's text rendering, already escaped.
fn diff_columns(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        // Only our own indentation (ASCII spaces) is rearranged.
        let moves = indent > 0
            && line.as_bytes()[..indent].iter().all(|b| *b == b' ')
            && (trimmed.starts_with("+ ") || trimmed.starts_with("- "))
            && !trimmed.starts_with("+/-")
            && !trimmed.starts_with("-/+");
        if moves {
            out.push_str(&trimmed[..1]);
            out.push_str(&line[1..indent]);
            out.push_str(&trimmed[1..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

mod parts;
#[cfg(test)]
mod tests;
