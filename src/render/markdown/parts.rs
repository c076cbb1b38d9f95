//! A plan too large for one comment, over numbered parts: the riskiest rows
//! first, findings never cut, each part naming the plan's digest and the next.

use std::fmt::Write as _;

use crate::plan::PlanFile;

use super::{FINDING_HEADER, MAX_COMMENT_CHARS, NOTE_RESERVE, Table, plural};

/// Splits the rows, riskiest first, over as many comments as they need. The
/// findings open the first part, within half of it, those that must never be
/// cut first; the rest of them follow the changes.
#[allow(clippy::too_many_arguments)]
pub(super) fn numbered(
    head: &str,
    footer: &str,
    finding_table: Table,
    change_tables: Vec<Table>,
    unmanaged: &str,
    body: &crate::plan::PlanBody,
    file: &PlanFile,
    shown_path: &str,
) -> Vec<String> {
    // What every later part repeats, and what the notes take, at most.
    const LATER_HEAD: usize = 600;
    let first_budget = MAX_COMMENT_CHARS.saturating_sub(head.len() + footer.len() + NOTE_RESERVE);
    let later_budget = MAX_COMMENT_CHARS.saturating_sub(LATER_HEAD + NOTE_RESERVE);
    let mut tables = Vec::with_capacity(change_tables.len() + 2);
    let mut carried = 0;
    if finding_table.total > 0 {
        let mut rows = finding_table.rows;
        let mut used = 200;
        let first = rows
            .iter()
            .take_while(|r| {
                used += r.len();
                used <= first_budget / 2
            })
            .count()
            .max(1);
        let rest = rows.split_off(first);
        carried = rest.len();
        tables.push(Table {
            rows,
            ..finding_table
        });
        tables.extend(change_tables);
        if !rest.is_empty() {
            tables.push(Table {
                header: FINDING_HEADER,
                title: "Findings (continued)",
                total: finding_table.total,
                rows: rest,
            });
        }
    } else {
        tables.extend(change_tables);
    }
    let tables = &tables;
    // Pages of (table index, rows), filled in order.
    let mut pages: Vec<Vec<(usize, Vec<String>)>> = vec![Vec::new()];
    let mut used = 0;
    for (t, table) in tables.iter().enumerate() {
        for row in &table.rows {
            let budget = if pages.len() == 1 {
                first_budget
            } else {
                later_budget
            };
            let page = pages.last_mut().expect("invariant: one page at least");
            let opens = page.last().is_none_or(|(last, _)| *last != t);
            // Headings, fold and table header of a class on this page.
            let cost = row.len() + if opens { 200 } else { 0 };
            if used + cost > budget && !page.is_empty() {
                pages.push(vec![(t, vec![row.clone()])]);
                used = row.len() + 200;
                continue;
            }
            if opens {
                page.push((t, Vec::new()));
            }
            page.last_mut()
                .expect("invariant: pushed above")
                .1
                .push(row.clone());
            used += cost;
        }
    }
    let unmanaged_fits = !unmanaged.is_empty() && used + unmanaged.len() <= later_budget;
    let count = pages.len();
    let render = |page: &[(usize, Vec<String>)]| -> String {
        page.iter()
            .map(|(t, rows)| {
                Table {
                    header: tables[*t].header,
                    title: tables[*t].title,
                    total: tables[*t].total,
                    rows: rows.clone(),
                }
                .render()
            })
            .collect()
    };
    let command = |n: usize| format!("`nhi show {shown_path} --format markdown --part {n}`");
    let mut out = Vec::with_capacity(count);
    for (n, page) in pages.iter().enumerate() {
        let n = n + 1;
        let mut text = if n == 1 {
            head.to_owned()
        } else {
            format!(
                "### nhi plan, part {n} of {count}\n\nPlan digest `{}` · {} changes in all; this part goes on from part {}.\n\n",
                file.digest,
                body.changes.len(),
                n - 1
            )
        };
        text.push_str(&render(page));
        if n == count && unmanaged_fits {
            text.push_str(unmanaged);
        }
        let rest = if n < count {
            format!(" Part {} follows: {}.", n + 1, command(n + 1))
        } else {
            String::new()
        };
        let unlisted = if n == count && !unmanaged.is_empty() && !unmanaged_fits {
            format!(
                " The {} are not listed here; `nhi show {shown_path}` lists them.",
                plural(
                    body.unmanaged.len(),
                    "unmanaged identity",
                    "unmanaged identities"
                )
            )
        } else {
            String::new()
        };
        let later_findings = if n == 1 && carried > 0 {
            format!(
                " {carried} more finding{} follow the changes, in the last part{}.",
                if carried == 1 { "" } else { "s" },
                if count > 2 { "s" } else { "" }
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "> [!NOTE]\n> Part {n} of {count}: the plan needs {count} comments, riskiest changes first.{later_findings}{rest}{unlisted} To see all at once, run `nhi show {shown_path}`.\n"
        );
        if n == 1 {
            text.push_str(footer);
        } else {
            let _ = writeln!(text, "Part {n} of {count} of plan `{}`.", file.digest);
        }
        out.push(text);
    }
    out
}
