//! The markdown rendering, fit for a merge-request comment: summary first, changes
//! grouped by action, the full diff folded in `<details>`, and never longer than
//! a comment may be.

use std::fmt::Write as _;

use crate::diff::Action;
use crate::plan::PlanFile;

use super::text::{self, Painter};

/// GitHub and GitLab refuse comments longer than this many characters.
pub const MAX_COMMENT_CHARS: usize = 65_535;

const ORDER: [(Action, &str); 5] = [
    (Action::Delete, "Delete"),
    (Action::Replace, "Replace"),
    (Action::Rotate, "Rotate"),
    (Action::Update, "Update"),
    (Action::Create, "Create"),
];

/// Tables longer than this are folded.
const OPEN_ROWS: usize = 25;

pub fn plan(file: &PlanFile) -> String {
    let body = &file.body;
    let mut out = String::new();
    let headline = text::summary_line(body);
    let _ = writeln!(
        out,
        "### nhi plan: {}\n",
        escape(headline.trim_start_matches("Plan: "))
    );
    let risky = body
        .changes
        .iter()
        .filter(|c| c.risk == crate::diff::Risk::Destructive)
        .count();
    if risky > 0 {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {risky} destructive change{} (deletes or replacements).\n",
            if risky == 1 { "" } else { "s" }
        );
    }
    if !body.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "**Drift:** {} unmanaged identit{} in scope (reported only).\n",
            body.unmanaged.len(),
            if body.unmanaged.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
    let mut tables = String::new();
    for (action, title) in ORDER {
        let rows: Vec<_> = body.changes.iter().filter(|c| c.action == action).collect();
        if rows.is_empty() {
            continue;
        }
        let mut table = String::from("| Address | Reason | Risk |\n|---|---|---|\n");
        for change in &rows {
            let _ = writeln!(
                table,
                "| `{}` | {} | {} |",
                code(change.address.as_str()),
                change.reason,
                change.risk
            );
        }
        if rows.len() > OPEN_ROWS {
            let _ = writeln!(
                tables,
                "<details><summary><b>{title}</b> ({})</summary>\n\n{table}\n</details>\n",
                rows.len()
            );
        } else {
            let _ = writeln!(tables, "**{title}** ({})\n\n{table}", rows.len());
        }
    }
    if !body.unmanaged.is_empty() {
        let mut table = String::from("| Address |\n|---|\n");
        for a in &body.unmanaged {
            let _ = writeln!(table, "| `{}` |", code(a.as_str()));
        }
        let _ = writeln!(
            tables,
            "<details><summary><b>Unmanaged</b> ({})</summary>\n\n{table}\n</details>\n",
            body.unmanaged.len()
        );
    }
    let footer = format!(
        "Plan digest `{}` · planned by {} at {} · expires {} · config `{}` (`{}`)\n",
        file.digest,
        escape(&body.author),
        body.created_at,
        body.expires_at,
        code(&body.config.path),
        body.config.digest
    );
    let full = if body.has_changes() {
        let plain = text::plan(body, Painter::PLAIN);
        format!(
            "<details><summary>Full plan</summary>\n\n```diff\n{}```\n\n</details>\n\n",
            fence_safe(&plain)
        )
    } else {
        String::new()
    };
    let note = |shown: &str| {
        format!(
            "> [!NOTE]\n> {shown} truncated to fit a comment; run `nhi show` on the plan file with digest `{}` for everything.\n\n",
            file.digest
        )
    };
    if out.len() + tables.len() + full.len() + footer.len() <= MAX_COMMENT_CHARS {
        out.push_str(&tables);
        out.push_str(&full);
    } else if out.len() + tables.len() + footer.len() + 300 <= MAX_COMMENT_CHARS {
        out.push_str(&tables);
        out.push_str(&note("The full plan was"));
    } else {
        let budget = MAX_COMMENT_CHARS - out.len() - footer.len() - 400;
        let mut cut = budget.min(tables.len());
        while !tables.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = tables[..cut].rfind('\n').unwrap_or(0);
        out.push_str(&tables[..cut]);
        out.push_str("\n\n");
        out.push_str(&note("This list was"));
    }
    out.push_str(&footer);
    out
}

/// Escapes text for a markdown table cell or line.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

/// Text that goes between backticks: no backticks or pipes inside.
fn code(text: &str) -> String {
    text.replace('`', "'").replace('|', "\\|")
}

/// Keeps hostile content from closing the code fence early, and moves each
/// change's `+`/`-` to the first column, where `diff` highlighting looks for it.
fn fence_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.replace("```", "'''").lines() {
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
