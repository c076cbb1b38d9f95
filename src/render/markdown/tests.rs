//! The merge-request comment as reviewers read it: truncation keeps the
//! riskiest rows and every finding that costs, and hostile names stay text.

use std::fmt::Write as _;
use std::path::Path;

/// 3,000 changes: 1,500 identities to create (low) and an `admin` grant on each
/// (privilege-increasing), which the engine orders after the identities.
fn admin_grants() -> crate::plan::PlanFile {
    let mut yaml = String::from(
        "version: 1\nproviders:\n  - name: big\n    type: local\n    settings: {state: estate.json}\nidentities:\n",
    );
    for i in 0..1500 {
        let _ = write!(
            yaml,
            "  - name: svc-{i:05}\n    provider: big\n    owner: team@example.com\n    bindings:\n      - role: admin\n        resource: '*'\n"
        );
    }
    let config = crate::config::parse(Path::new("nhi.yaml"), &yaml).unwrap();
    super::super::fixture::plan(&config, &nhi_provider_sdk::ObservedState::default())
}

/// 1,500 identities, each with an `admin` grant (critical) and a key with
/// neither `rotate_after` nor `expires` (medium, made soft by the policy).
fn many_findings() -> crate::plan::PlanFile {
    let mut yaml = String::from(
        "version: 1\npolicy:\n  enforcement:\n    key-no-rotation: soft\nproviders:\n  - name: big\n    type: local\n    settings: {state: estate.json}\nidentities:\n",
    );
    for i in 0..1500 {
        let _ = write!(
            yaml,
            "  - name: svc-{i:05}\n    provider: big\n    owner: team@example.com\n    keys:\n      - name: k\n        sink: {{file: k{i}.key}}\n    bindings:\n      - role: admin\n        resource: '*'\n"
        );
    }
    let config = crate::config::parse(Path::new("nhi.yaml"), &yaml).unwrap();
    super::super::fixture::plan(&config, &nhi_provider_sdk::ObservedState::default())
}

/// No finding is cut for size: every one is in some part, once, and the
/// first part opens with those that must never be cut, under the counts.
#[test]
fn truncation_never_drops_a_soft_or_grave_finding() {
    let file = many_findings();
    let findings = &file.body.findings;
    assert_eq!(findings.len(), 3000, "an admin grant and a key each");
    assert!(findings.iter().all(super::findings::must_show));
    assert!(
        findings
            .iter()
            .any(|f| f.enforcement == crate::policy::Enforcement::Soft)
    );
    let parts = super::parts(&file, Path::new("big.plan"));
    assert!(parts.len() >= 2, "{} parts", parts.len());
    let mut rows = Vec::new();
    for part in &parts {
        assert!(part.chars().count() <= super::MAX_COMMENT_CHARS);
        rows.extend(
            part.lines()
                .filter(|l| l.starts_with("| critical |") || l.starts_with("| medium |"))
                .map(str::to_owned),
        );
    }
    assert_eq!(rows.len(), findings.len(), "every finding, once");
    let shown: std::collections::HashSet<(String, String)> = rows
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.split(" | ").collect();
            (cells[1].to_owned(), cells[2].to_owned())
        })
        .collect();
    for f in findings {
        let key = (
            super::code_span(&f.rule),
            super::code_span(f.address.as_str()),
        );
        assert!(shown.contains(&key), "{} {}", f.rule, f.address);
    }
    let first = &parts[0];
    let counts = first
        .find("#### Findings: 1500 critical · 0 high · 1500 medium · 0 low")
        .unwrap();
    assert!(first.contains("3000 findings: 1500 soft (cost approvals)."));
    let table = first.find("| Severity | Rule |").unwrap();
    assert!(counts < table && table < first.find("| Address | Action |").unwrap());
    assert!(first.contains("more findings follow the changes, in the last parts."));
}

/// Regression: a resource holding `\n\n**Plan reviewed: low risk only.**\n\n<!--`
/// broke the table and hid the rest of the comment, and backticks in a role
/// were shown as `'`, naming a role that is not the one granted.
/// Whether every `<!--` and `**Plan` of a table row sits inside a code span
/// (after an odd number of unescaped backticks).
fn in_code_spans_of_a_row(line: &str) -> bool {
    line.starts_with("| ")
        && ["<!--", "**Plan"].iter().all(|markup| {
            line.match_indices(markup).all(|(at, _)| {
                let before = &line[..at];
                let ticks = before.matches('`').count() - before.matches("\\`").count();
                ticks % 2 == 1
            })
        })
}

#[test]
fn hostile_names_cannot_break_the_comment() {
    let file = super::super::fixture::hostile();
    let md = super::plan(&file, Path::new("h.plan"));
    assert!(
        !md.chars()
            .any(|c| nhi_provider_sdk::text::is_unsafe_char(c) && c != '\n'),
        "{md:?}"
    );
    assert!(!md.contains("\n**Plan reviewed"), "{md}");
    // Markup from a name appears only where nothing is markup: in a code
    // span of a table row, or in the fenced full plan.
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if line.contains("<!--") || line.contains("**Plan") {
            assert!(fenced || in_code_spans_of_a_row(line), "{line}");
        }
    }
    assert!(!md.contains("view'er"), "{md}");
    for line in md.lines().filter(|l| l.starts_with("| ")) {
        assert_eq!(
            line.matches(" | ").count() + 2,
            line.matches('|').count() - line.matches("\\|").count(),
            "a row keeps its cells: {line}"
        );
    }
    insta::assert_snapshot!(md);
}

/// Findings name live objects and quote their owners: they reach the
/// comment, the text and SARIF escaped, and cannot break a table row.
#[test]
fn hostile_names_in_findings_are_shown_escaped() {
    let file = super::super::fixture::hostile_with(false);
    assert!(
        file.body
            .findings
            .iter()
            .any(|f| f.address.as_str().contains("evil%1B")),
        "{:?}",
        file.body.findings
    );
    let md = super::plan(&file, Path::new("h.plan"));
    let text = super::text::plan(&file.body, super::Painter::PLAIN);
    let sarif = crate::render::sarif::text(
        &file.body.findings,
        &crate::render::sarif::Source {
            config_path: "nhi.yaml",
            anchors: None,
            tool_version: "0",
        },
    );
    for shown in [&md, &text, &sarif] {
        assert!(
            !shown
                .chars()
                .any(|c| nhi_provider_sdk::text::is_unsafe_char(c) && c != '\n'),
            "{shown:?}"
        );
    }
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with("| ") {
            // Outside code spans: the message cell, last.
            let message = line.rsplit(" | ").next().unwrap();
            assert!(
                !message.contains("<!--") && !message.contains("**"),
                "{line}"
            );
            assert_eq!(
                line.matches(" | ").count() + 2,
                line.matches('|').count() - line.matches("\\|").count(),
                "a row keeps its cells: {line}"
            );
        }
    }
}

/// Regression: with 1,500 `admin` grants among 3,000 changes the comment kept
/// the low-risk rows, which come first in the plan, and showed no grant.
#[test]
fn truncation_keeps_the_riskiest_rows_first() {
    let file = admin_grants();
    assert_eq!(file.body.changes.len(), 3000);
    assert_eq!(
        file.body.changes[0].risk,
        crate::diff::Risk::Low,
        "the plan itself starts with the low-risk rows"
    );
    let md = super::plan(&file, Path::new("big.plan"));
    assert!(md.chars().count() <= super::MAX_COMMENT_CHARS);
    assert!(
        md.contains(
            "**Risk:** 0 destructive · 1500 privilege-increasing · 0 credential · 0 privilege-reducing · 1500 low\n"
        ),
        "{md}"
    );
    assert!(md.contains("> - 1500 privilege-increasing changes (access granted or widened)."));
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
    assert!(rows.len() > 300, "{} rows", rows.len());
    assert!(
        rows.iter()
            .all(|r| r.contains("/binding/admin` | created |")),
        "only privilege-increasing rows are shown"
    );
    let shown = rows.len();
    assert!(!md.contains("<b>Low</b>") && !md.contains("**Low**"));
    let head = &md[..md.find("<details>").unwrap()];
    let tail = &md[md.find("> [!NOTE]").unwrap()..];
    insta::assert_snapshot!(format!("{head}[… {shown} rows …]\n{tail}"));
}

/// Regression (issue 11): a plan too large for one comment was cut, with a
/// note; it is now split into numbered parts that hold every row, riskiest
/// first, each within a comment's size.
#[test]
fn a_plan_too_large_for_one_comment_is_split_into_numbered_parts() {
    let file = admin_grants();
    let parts = super::parts(&file, Path::new("big.plan"));
    assert!(parts.len() >= 2, "{} parts", parts.len());
    let mut rows = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let n = n + 1;
        assert!(part.chars().count() <= super::MAX_COMMENT_CHARS, "part {n}");
        assert!(
            part.contains(&format!("> Part {n} of {}: the plan needs", parts.len())),
            "part {n}"
        );
        assert!(
            part.contains(&file.digest.to_string()),
            "part {n} names the plan"
        );
        if n < parts.len() {
            assert!(part.contains(&format!("--format markdown --part {}`", n + 1)));
        }
        if n > 1 {
            assert!(part.starts_with(&format!("### nhi plan, part {n} of {}", parts.len())));
        }
        rows.extend(
            part.lines()
                .filter(|l| l.starts_with("| `"))
                .map(str::to_owned),
        );
    }
    assert_eq!(rows.len(), 3000, "every change is in some part, once");
    let first_low = rows
        .iter()
        .position(|r| !r.contains("/binding/admin` |"))
        .unwrap();
    assert_eq!(first_low, 1500, "riskiest first, across parts");
}

/// The comment lists every exception in use with its justification (escaped), as
/// the terminal rendering does.
#[test]
fn exceptions_in_use_are_listed_with_their_justification() {
    let yaml = "version: 1\npolicy:\n  enforcement:\n    default: soft\n  exceptions:\n    - rule: admin-privilege\n      address: local.demo/identity/b\n      justification: migration, ticket *OPS-1*\n      expires: 2026-12-31\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: b\n    provider: demo\n    owner: o@example.com\n    bindings:\n      - role: admin\n";
    let config = crate::config::parse(Path::new("nhi.yaml"), yaml).unwrap();
    let observed = serde_json::from_value(serde_json::json!({"identities": [
        {"name": "b", "kind": "service_account", "owner": "o@example.com",
         "bindings": [{"role": "admin", "resource": "*"}]}
    ]}))
    .unwrap();
    let file = super::super::fixture::plan(&config, &observed);
    let comment = super::plan(&file, Path::new("plan.json"));
    let line = "Exceptions in use:\n\n- `admin-privilege` on `local.demo/identity/b` until 2026-12-31 (1 finding): migration\\, ticket \\*OPS\\-1\\*\n";
    assert!(comment.contains(line), "{comment}");
}
