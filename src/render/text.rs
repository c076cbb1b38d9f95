//! The human rendering of a plan, in Terraform's conventions: one block per change
//! with its address, reason and attribute diff, then the unmanaged report and a
//! summary line.

use std::fmt::Write as _;

use crate::diff::{Action, Change};
use crate::plan::PlanBody;
use crate::policy::{Finding, Severity};

use super::escape;
use super::findings;
use super::view::{self, Row};

/// Colours, or none (`NO_COLOR`, `--no-color`, not a terminal).
#[derive(Debug, Clone, Copy)]
pub struct Painter {
    pub color: bool,
}

impl Painter {
    pub const PLAIN: Self = Self { color: false };

    pub(crate) fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn action(self, action: Action, text: &str) -> String {
        let code = match action {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace | Action::Delete => "31",
            Action::Rotate => "36",
        };
        self.paint(code, text)
    }

    fn severity(self, severity: Severity, text: &str) -> String {
        let code = match severity {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
        };
        self.paint(code, text)
    }
}

/// `Plan: 3 to create, 1 to update, 1 to rotate, 1 to delete.`, or what was found
/// when there is nothing to apply: a match only when nothing is unmanaged either.
pub fn summary_line(body: &PlanBody) -> String {
    let summary = &body.summary;
    if summary.total() == 0 {
        let line = match body.unmanaged.len() {
            // Nothing else was compared with the configuration.
            _ if body.is_partial() => "No changes for the targets.".to_owned(),
            0 => "No changes. Live state matches the configuration.".to_owned(),
            1 => "No changes to apply. 1 unmanaged identity in scope is reported, not deleted (`prune` is off).".to_owned(),
            n => format!("No changes to apply. {n} unmanaged identities in scope are reported, not deleted (`prune` is off)."),
        };
        // Matching the configuration is not passing the policy.
        return match body.findings.len() {
            0 => line,
            n => format!("{line} The policy reports {}.", findings::count(n)),
        };
    }
    let mut parts = vec![
        format!("{} to create", summary.create),
        format!("{} to update", summary.update),
    ];
    if summary.replace > 0 {
        parts.push(format!("{} to replace", summary.replace));
    }
    parts.push(format!("{} to rotate", summary.rotate));
    parts.push(format!("{} to delete", summary.delete));
    let head = if body.is_partial() {
        "Partial plan"
    } else {
        "Plan"
    };
    format!("{head}: {}.", parts.join(", "))
}

/// What `--target` and `--replace` asked for, one sentence each, so that a
/// partial plan is never read as a full one: empty for a plan made without them.
pub fn selection_lines(body: &PlanBody) -> Vec<String> {
    selection_lines_with(body, &|a| format!("`{}`", escape::text(a)))
}

/// [`selection_lines`], each address shown by `shown`.
pub(crate) fn selection_lines_with(body: &PlanBody, shown: &dyn Fn(&str) -> String) -> Vec<String> {
    let Some(selection) = &body.selection else {
        return Vec::new();
    };
    let list = |addresses: &[nhi_provider_sdk::Address]| {
        addresses
            .iter()
            .map(|a| shown(a.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = Vec::new();
    if !selection.targets.is_empty() {
        lines.push(format!(
            "Partial plan: only {} and what {} on were planned; {} left out. Partial plans are for emergencies: plan without `--target` to reconcile everything.",
            list(&selection.targets),
            if selection.targets.len() == 1 { "it depends" } else { "they depend" },
            match selection.left_out {
                1 => "1 other change was".to_owned(),
                n => format!("{n} other changes were"),
            }
        ));
    }
    if !selection.replace.is_empty() {
        lines.push(format!(
            "Replacement requested (`--replace`): {}; rotated or replaced although nothing else calls for it.",
            list(&selection.replace)
        ));
    }
    lines
}

pub fn plan(body: &PlanBody, p: Painter) -> String {
    let mut out = String::new();
    let placed = findings::place(&body.changes, &body.findings);
    let selection = selection_lines(body);
    for line in &selection {
        let _ = writeln!(out, "{}", p.bold(&p.paint("33", line)));
    }
    if !selection.is_empty() {
        out.push('\n');
    }
    if body.has_changes() {
        out.push_str("nhi will perform the following actions, in this order:\n\n");
        for (change, found) in body.changes.iter().zip(&placed.beside) {
            change_block(&mut out, change, p);
            for finding in found {
                finding_line(&mut out, "    ", finding, Some(change), p);
            }
            out.push('\n');
        }
    }
    if !body.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            p.bold("Unmanaged identities in scope (not in the configuration; reported only, `prune: true` deletes them):")
        );
        for address in &body.unmanaged {
            let _ = writeln!(
                out,
                "  {} {}",
                p.paint("35", "?"),
                escape::text(address.as_str())
            );
        }
        out.push('\n');
    }
    if !placed.estate.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            p.bold("Findings on the estate (objects no change touches), most grave first:")
        );
        for finding in &placed.estate {
            finding_line(&mut out, "  ", finding, None, p);
        }
        out.push('\n');
    }
    exceptions(&mut out, body, p);
    for scope in &body.scopes {
        let _ = writeln!(
            out,
            "Scope {}: {}; {} identities observed{}.",
            escape::text(&scope.provider),
            escape::text(&scope.scope),
            scope.observed_identities,
            if scope.prune {
                "; prunes unmanaged"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "{}", p.bold(&summary_line(body)));
    // Said again beside the summary: it is what a reader of the last lines sees.
    for line in &selection {
        let _ = writeln!(out, "{line}");
    }
    if !body.findings.is_empty() {
        let _ = writeln!(out, "{}", findings_line(&body.findings));
    }
    // Without changes the summary line has already said it.
    if body.has_changes() && !body.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "Drift: {} unmanaged identit{} in scope.",
            body.unmanaged.len(),
            if body.unmanaged.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
    out
}

/// `Findings: 0 critical, 3 high, 2 medium, 0 low; 1 soft (cost approvals).`
pub(crate) fn findings_line(found: &[Finding]) -> String {
    let tally = findings::tally(found);
    let costs = findings::costs(&tally);
    format!(
        "Findings: {}{}{costs}.",
        findings::severities(&tally, ", "),
        if costs.is_empty() { "" } else { "; " }
    )
}

/// `! high     key-max-age: key is 400 days old [soft: costs approvals]`, naming
/// the object when it is not the change's own.
pub(crate) fn finding_line(
    out: &mut String,
    indent: &str,
    finding: &Finding,
    change: Option<&Change>,
    p: Painter,
) {
    let name = finding.severity.name();
    // Padded outside the paint, as the action symbols are.
    let pad = " ".repeat(8usize.saturating_sub(name.len()));
    let on = if change.is_some_and(|c| c.address == finding.address) {
        String::new()
    } else {
        format!(" on {}", escape::text(finding.address.as_str()))
    };
    let _ = writeln!(
        out,
        "{indent}{} {}{pad} {}{on}: {}{}",
        p.severity(finding.severity, "!"),
        p.severity(finding.severity, name),
        escape::text(&finding.rule),
        escape::text(&finding.message),
        findings::cost_tag(finding)
    );
}

/// Every exception in use, with its justification and last day.
fn exceptions(out: &mut String, body: &PlanBody, p: Painter) {
    let used = findings::exceptions_in_use(&body.policy, &body.findings);
    if used.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", p.bold("Exceptions in use:"));
    for (e, n) in used {
        let _ = writeln!(
            out,
            "  {} on {} until {} ({}): {}",
            escape::text(&e.rule),
            escape::text(e.address.as_str()),
            e.expires,
            findings::count(n),
            escape::text(&e.justification)
        );
    }
    out.push('\n');
}

pub(crate) fn change_block(out: &mut String, change: &Change, p: Painter) {
    let (kind, name) = view::object(change);
    let _ = writeln!(
        out,
        "  {} will be {} ({}; risk: {})",
        p.bold(&format!("# {}", escape::text(change.address.as_str()))),
        change.action.verb(),
        change.reason,
        change.risk
    );
    if let Some(detail) = &change.detail {
        let _ = writeln!(out, "    # {}", escape::text(detail));
    }
    // Padded outside the paint: escape codes would otherwise count toward the width.
    let symbol = change.action.symbol();
    let _ = writeln!(
        out,
        "{}{} {kind} {} {{",
        " ".repeat(3usize.saturating_sub(symbol.len())),
        p.action(change.action, symbol),
        escape::quoted(&name)
    );
    let rows = view::rows(change);
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut hidden = 0;
    for row in &rows {
        if !row_line(out, row, width, change.action, p) {
            hidden += 1;
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "        # ({hidden} unchanged attribute{} hidden)",
            if hidden == 1 { "" } else { "s" }
        );
    }
    out.push_str("    }\n");
}

/// Writes one attribute line; returns false when it is unchanged and hidden.
fn row_line(out: &mut String, row: &Row, width: usize, action: Action, p: Painter) -> bool {
    let name = format!("{:<width$}", row.name);
    match (&row.before, &row.after) {
        (None, Some(after)) => {
            let sym = if row.name == "secret_sink" { " " } else { "+" };
            value_line(out, sym, &name, after, p);
        }
        (Some(before), None) => value_line(out, "-", &name, before, p),
        (Some(before), Some(after)) if before == after => {
            if matches!(action, Action::Update | Action::Replace) {
                return false;
            }
            value_line(out, " ", &name, after, p);
        }
        (Some(before), Some(after)) if before.contains('\n') || after.contains('\n') => {
            let _ = writeln!(out, "      {} {name} = <<-EOT", p.paint("33", "~"));
            let diff = similar::TextDiff::from_lines(before.as_str(), after.as_str());
            for change in diff.iter_all_changes() {
                let line = change.value().trim_end_matches('\n');
                let (sym, code) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", "31"),
                    similar::ChangeTag::Insert => ("+", "32"),
                    similar::ChangeTag::Equal => (" ", "0"),
                };
                let _ = writeln!(out, "        {} {line}", p.paint(code, sym));
            }
            out.push_str("          EOT\n");
        }
        (Some(before), Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {name} = {before} -> {after}",
                p.paint("33", "~")
            );
        }
        (None, None) => return false,
    }
    true
}

fn value_line(out: &mut String, sym: &str, name: &str, value: &str, p: Painter) {
    let code = match sym {
        "+" => "32",
        "-" => "31",
        _ => "0",
    };
    let mut lines = value.lines();
    let first = lines.next().unwrap_or_default();
    let _ = writeln!(out, "      {} {name} = {first}", p.paint(code, sym));
    let pad = " ".repeat(name.len() + 11);
    for line in lines {
        let _ = writeln!(out, "{pad}{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::Painter;

    fn visible(text: &str) -> String {
        text.replace('\x1b', "<ESC>")
    }

    /// Strips SGR escapes, leaving what a terminal shows.
    fn shown(line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find('\x1b') {
            out.push_str(&rest[..at]);
            rest = rest[at..].split_once('m').map_or("", |(_, after)| after);
        }
        out.push_str(rest);
        out
    }

    /// Regression: "Live state matches the configuration" was printed beside
    /// "Drift: 1 unmanaged identity".
    #[test]
    fn no_changes_with_unmanaged_identities_says_what_was_found() {
        let yaml = "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: a\n    provider: demo\n    owner: o@example.com\n    bindings:\n      - role: viewer\n        resource: '*'\n";
        let config = crate::config::parse(std::path::Path::new("nhi.yaml"), yaml).unwrap();
        let live = |name: &str| serde_json::json!({"name": name, "kind": "service_account", "owner": "o@example.com", "bindings": [{"role": "viewer", "resource": "*"}]});
        let observed = serde_json::from_value(serde_json::json!({
            "identities": [live("a"), live("stray-1"), live("stray-2")]
        }))
        .unwrap();
        let file = super::super::fixture::plan(&config, &observed);
        assert!(!file.body.has_changes());
        let text = super::plan(&file.body, Painter::PLAIN);
        assert!(!text.contains("matches"), "{text}");
        insta::assert_snapshot!(text);
    }

    /// Regression: role and resource names and tag keys were printed raw, so
    /// `ESC[8m` concealed the rest of a line and `ESC[2K\r` rewrote it.
    #[test]
    fn hostile_names_are_printed_escaped() {
        let file = super::super::fixture::hostile();
        let text = super::plan(&file.body, Painter::PLAIN);
        assert!(
            !text
                .chars()
                .any(|c| nhi_provider_sdk::text::is_unsafe_char(c) && c != '\n'),
            "{text:?}"
        );
        insta::assert_snapshot!(text);
    }

    /// Findings beside the change they concern, with what they cost; the rest
    /// on the estate; every exception in use listed with its justification.
    #[test]
    fn findings_show_beside_their_change_with_costs_and_exceptions() {
        let yaml = "version: 1\npolicy:\n  enforcement:\n    default: soft\n  exceptions:\n    - rule: admin-privilege\n      address: local.demo/identity/b\n      justification: migration, ticket OPS-1\n      expires: 2026-12-31\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: a\n    provider: demo\n    owner: o@example.com\n    bindings:\n      - role: admin\n  - name: b\n    provider: demo\n    owner: o@example.com\n    bindings:\n      - role: admin\n";
        let config = crate::config::parse(std::path::Path::new("nhi.yaml"), yaml).unwrap();
        let observed = serde_json::from_value(serde_json::json!({"identities": [
            {"name": "b", "kind": "service_account", "owner": "o@example.com",
             "bindings": [{"role": "admin", "resource": "*"}]},
            {"name": "stray", "kind": "service_account", "owner": "nobody",
             "bindings": [{"role": "viewer", "resource": "*"}]}
        ]}))
        .unwrap();
        let file = super::super::fixture::plan(&config, &observed);
        let text = super::plan(&file.body, Painter::PLAIN);
        for line in [
            "    ! critical admin-privilege: grants `admin` on `*` [soft: costs approvals]\n",
            "  ! high     owner-missing on local.demo/identity/stray:",
            "  ! critical admin-privilege on local.demo/identity/b/binding/admin: grants `admin` on `*` [excused until 2026-12-31]\n",
            "Exceptions in use:\n  admin-privilege on local.demo/identity/b until 2026-12-31 (1 finding): migration, ticket OPS-1\n",
            "Findings: 1 critical, 2 high, 0 medium, 0 low; 3 soft (cost approvals), 1 excused by an exception.\n",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        insta::assert_snapshot!(text);
    }

    #[test]
    fn coloured_plan_snapshot() {
        let file = super::super::fixture::quickstart();
        let text = super::plan(&file.body, Painter { color: true });
        insta::assert_snapshot!(visible(&text));
    }

    /// Regression: the action symbol was padded after painting, so its escape
    /// codes counted toward the width and coloured lines were misaligned.
    #[test]
    fn coloured_action_lines_align_as_plain_ones() {
        let file = super::super::fixture::quickstart();
        let coloured = super::plan(&file.body, Painter { color: true });
        let plain = super::plan(&file.body, Painter::PLAIN);
        let shown: Vec<String> = coloured.lines().map(shown).collect();
        assert_eq!(shown, plain.lines().collect::<Vec<_>>());
        // `  # <address> will be …` and `-/+ <kind> "<name>" {`: both at column 4.
        let mut symbols = std::collections::BTreeSet::new();
        let mut columns = std::collections::BTreeSet::new();
        for line in &shown {
            if let Some(address) = line.strip_prefix("  # ") {
                if address.contains(" will be ") {
                    columns.insert(line.len() - address.len());
                }
            } else if line.ends_with(" {")
                && !line.starts_with("    ")
                && let Some((symbol, object)) = line.trim_start().split_once(' ')
                && ["identity ", "key ", "binding "]
                    .iter()
                    .any(|k| object.starts_with(k))
            {
                symbols.insert(symbol.to_owned());
                columns.insert(line.len() - object.len());
            }
        }
        assert!(symbols.len() >= 4, "several action symbols: {symbols:?}");
        assert_eq!(columns, [4].into(), "one column for addresses and objects");
    }
}
