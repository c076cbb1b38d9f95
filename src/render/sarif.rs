//! SARIF 2.1.0 (`--format sarif`): the policy's findings as one run of the
//! `nhi` tool, for code-scanning upload. Each result points at the line of the
//! configuration that declares its object (or the nearest declared object above
//! it), and carries a fingerprint that does not depend on lines or messages.

use std::fmt::Write as _;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::Anchors;
use crate::policy::{Finding, RULES, Severity, find_rule};

/// Where the findings were judged from.
pub struct Source<'a> {
    /// The configuration file, relative to the directory nhi ran in.
    pub config_path: &'a str,
    /// Lines of the configuration's objects; `None`: every result at line 1.
    pub anchors: Option<&'a Anchors>,
    /// The `nhi` version that judged.
    pub tool_version: &'a str,
}

/// The fingerprint key results carry; the version changes only if the inputs
/// it hashes do.
pub const FINGERPRINT: &str = "nhi/v1";

/// SARIF's level for a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning's `security-severity` (CVSS-like, 0.0 to 10.0).
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

/// `sha256` of the rule and the address, hex: stable across runs, lines and
/// wording.
pub fn fingerprint(finding: &Finding) -> String {
    let mut hash = Sha256::new();
    hash.update(finding.rule.as_bytes());
    hash.update([0]);
    hash.update(finding.address.as_str().as_bytes());
    hex::encode(hash.finalize())
}

/// A relative path as a URI reference: each byte outside the unreserved set
/// and `/` percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn rule_json(id: &str, severity: Severity, short: &str, help: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "shortDescription": {"text": short},
        "help": {"text": help},
        "defaultConfiguration": {"level": level(severity)},
        "properties": {
            "tags": ["security", "nhi"],
            "security-severity": security_severity(severity),
        },
    })
}

/// A rule of results that are not the gate's: `nhi drift`'s classes.
pub struct OtherRule {
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
}

/// One SARIF log with one run: the rule catalogue (and each org policy rule
/// found) as the driver's rules, and a result per finding.
pub fn report(findings: &[Finding], source: &Source<'_>) -> Value {
    report_with(findings, &[], source)
}

/// [`report`] with `others` among the driver's rules, after the catalogue.
pub fn report_with(findings: &[Finding], others: &[OtherRule], source: &Source<'_>) -> Value {
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            rule_json(
                r.id,
                r.severity,
                r.rationale,
                &format!("{}.\n\nSources: {}.", capitalised(r.rationale), r.sources),
            )
        })
        .collect();
    let mut ids: Vec<String> = RULES.iter().map(|r| r.id.to_owned()).collect();
    for other in others {
        rules.push(rule_json(
            other.id,
            other.severity,
            other.description,
            other.description,
        ));
        ids.push(other.id.to_owned());
    }
    for f in findings {
        if find_rule(&f.rule).is_none() && !ids.contains(&f.rule) {
            let text = format!("organisation policy `{}`", f.rule);
            rules.push(rule_json(&f.rule, f.severity, &text, &text));
            ids.push(f.rule.clone());
        }
    }
    let artifact = uri(source.config_path);
    // What the plan resolves is not a result: it goes away with the apply.
    let results: Vec<Value> = findings
        .iter()
        .filter(|f| f.subject != crate::policy::Subject::Resolved)
        .map(|f| {
            let (file, line) = source
                .anchors
                .and_then(|a| a.location(&f.address))
                .unwrap_or((None, 1));
            // An object declared in an included file points into that file,
            // which lies beside the configuration.
            let artifact = file.map_or_else(
                || artifact.clone(),
                |relative| match source.config_path.rsplit_once('/') {
                    Some((dir, _)) => uri(&format!("{dir}/{relative}")),
                    None => uri(relative),
                },
            );
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": ids.iter().position(|id| *id == f.rule),
                "level": level(f.severity),
                "message": {"text": format!("{}: {}", f.address, super::escape::text(&f.message))},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact},
                        "region": {"startLine": line},
                    },
                    "logicalLocations": [{
                        "fullyQualifiedName": f.address.as_str(),
                        "kind": "resource",
                    }],
                }],
                "partialFingerprints": {FINGERPRINT: fingerprint(f)},
                "properties": {
                    "severity": f.severity,
                    "enforcement": f.enforcement,
                    "subject": f.subject,
                },
            });
            if let Some(e) = &f.exception {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": format!("{} (until {})", e.justification, e.expires),
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "nhi",
                "version": source.tool_version,
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "artifacts": [{"location": {"uri": artifact}}],
            "results": results,
        }],
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// [`report`] as pretty JSON with a final newline.
pub fn text(findings: &[Finding], source: &Source<'_>) -> String {
    pretty(&report(findings, source))
}

/// A SARIF log as pretty JSON with a final newline.
pub fn pretty(log: &Value) -> String {
    let mut out = serde_json::to_string_pretty(log).expect("invariant: JSON values serialise");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded_but_keep_slashes() {
        assert_eq!(uri("infra/nhi prod.yaml"), "infra/nhi%20prod.yaml");
        assert_eq!(uri("nhi.yaml"), "nhi.yaml");
    }

    #[test]
    fn fingerprints_ignore_messages_and_lines() {
        let file = crate::render::fixture::quickstart();
        let mut finding = file.body.findings[0].clone();
        let before = fingerprint(&finding);
        finding.message.push_str(" (reworded)");
        assert_eq!(fingerprint(&finding), before);
        finding.rule.push('x');
        assert_ne!(fingerprint(&finding), before);
    }

    #[test]
    fn a_result_points_into_the_included_file_that_declares_its_object() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("nhi.yaml"),
            "providers:\n  - name: demo\n    type: local\n    settings: {state: e.json}\ninclude: [nhi.d/*.yaml]\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("nhi.d")).unwrap();
        std::fs::write(
            dir.path().join("nhi.d/web team.yaml"),
            "identities:\n  - name: web-api\n    provider: demo\n    owner: web@example.com\n",
        )
        .unwrap();
        let anchors = Anchors::load(&dir.path().join("nhi.yaml"));
        let mut finding = crate::render::fixture::quickstart().body.findings[0].clone();
        finding.subject = crate::policy::Subject::State;
        let demo = nhi_provider_sdk::Address::provider("local", "demo");
        finding.address = demo.identity("web-api").binding("admin", "*");
        let mut unmanaged = finding.clone();
        unmanaged.address = demo.identity("shadow");
        let report = report(
            &[finding, unmanaged],
            &Source {
                config_path: "teams/nhi.yaml",
                anchors: Some(&anchors),
                tool_version: "[VERSION]",
            },
        );
        let located = |i: usize| {
            let at = &report["runs"][0]["results"][i]["locations"][0]["physicalLocation"];
            (
                at["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
                at["region"]["startLine"].as_u64().unwrap(),
            )
        };
        assert_eq!(located(0), ("teams/nhi.d/web%20team.yaml".to_owned(), 2));
        assert_eq!(located(1), ("teams/nhi.yaml".to_owned(), 2));
    }

    #[test]
    fn quickstart_sarif_snapshot() {
        let file = crate::render::fixture::quickstart();
        let text = include_str!("../../examples/quickstart/nhi.yaml");
        let anchors = Anchors::of(text);
        let sarif = super::text(
            &file.body.findings,
            &Source {
                config_path: "nhi.yaml",
                anchors: Some(&anchors),
                tool_version: "[VERSION]",
            },
        );
        insta::assert_snapshot!(sarif);
    }
}
