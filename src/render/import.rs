//! `nhi import`'s output: a configuration (or, with `--only-unmanaged`, entries
//! to append to `identities:`) that declares a scope exactly as it was read,
//! with the hygiene findings of each identity as comments above it.

use std::fmt::Write as _;

use nhi_provider_sdk::KeyStatus;

use super::yaml::{comment, mapping, scalar, value};
use crate::import::{Imported, ImportedIdentity};

/// The YAML text of an import.
pub fn yaml(imported: &Imported) -> String {
    let mut out = String::new();
    let block = &imported.block;
    let _ = writeln!(
        out,
        "# Imported by `nhi import` from provider block `{}` (type `{}`) at {}.",
        comment(&block.name),
        comment(&block.type_name),
        imported.read_at
    );
    let _ = writeln!(out, "# Scope: {}", comment(&imported.scope));
    let count = match imported.identities.len() {
        1 => "1 identity".to_owned(),
        n => format!("{n} identities"),
    };
    if imported.only_unmanaged {
        let _ = writeln!(
            out,
            "# {count} in scope that the configuration does not declare: append these \
             entries to `identities:`."
        );
    } else {
        let _ = writeln!(
            out,
            "# {count}. `nhi plan` over this file plans no changes; review each owner and \
             key sink first."
        );
    }
    if !imported.only_unmanaged {
        out.push_str("version: 1\n\nproviders:\n");
        let _ = writeln!(out, "  - name: {}", scalar(&block.name));
        let _ = writeln!(out, "    type: {}", scalar(&block.type_name));
        if block.prune {
            out.push_str("    prune: true\n");
        }
        match &block.settings {
            serde_json::Value::Object(settings) if !settings.is_empty() => {
                out.push_str("    settings:\n");
                mapping(&mut out, settings.iter(), 6);
            }
            _ => {}
        }
        out.push_str("\nidentities:");
        if imported.identities.is_empty() {
            out.push_str(" []");
        }
        out.push('\n');
    }
    for identity in &imported.identities {
        out.push('\n');
        entry(&mut out, &block.name, identity);
    }
    out
}

fn entry(out: &mut String, provider: &str, imported: &ImportedIdentity) {
    for f in &imported.findings {
        let _ = writeln!(
            out,
            "  # finding: {} ({}): {}",
            comment(&f.rule),
            f.severity,
            comment(&f.message)
        );
    }
    let identity = &imported.identity;
    let _ = writeln!(out, "  - name: {}", scalar(&identity.name));
    let _ = writeln!(out, "    provider: {}", scalar(provider));
    let _ = writeln!(out, "    kind: {}", scalar(&identity.kind));
    if identity.owner.trim().is_empty() {
        out.push_str(
            "    # choose an owner: none is recorded in the cloud, and the configuration \
             needs one (a plan then records it)\n",
        );
    }
    let _ = writeln!(out, "    owner: {}", scalar(&identity.owner));
    if !identity.description.is_empty() {
        let _ = writeln!(out, "    description: {}", scalar(&identity.description));
    }
    if !identity.tags.is_empty() {
        out.push_str("    tags:\n");
        for (k, v) in &identity.tags {
            let _ = writeln!(out, "      {}: {}", scalar(k), scalar(v));
        }
    }
    if !identity.attributes.is_empty() {
        out.push_str("    attributes:\n");
        mapping(out, identity.attributes.iter(), 6);
    }
    for skipped in &imported.skipped_keys {
        let _ = writeln!(out, "    # {}", comment(skipped));
    }
    if !imported.keys.is_empty() {
        out.push_str("    keys:\n");
        for key in &imported.keys {
            let _ = writeln!(out, "      - name: {}", scalar(&key.name));
            if let Some(id) = &key.adopt {
                let _ = writeln!(out, "        adopt: {}", scalar(id));
            }
            if key.status == KeyStatus::Inactive {
                out.push_str(
                    "        # the live key is inactive: a plan rotates it; remove the key \
                     to delete it instead\n",
                );
            }
            let _ = writeln!(
                out,
                "        # choose where a new secret goes when this key rotates (created {})",
                key.created
            );
            let _ = writeln!(out, "        sink: {{file: {}}}", scalar(&key.sink));
        }
    }
    if !imported.bindings.is_empty() {
        out.push_str("    bindings:\n");
        for binding in &imported.bindings {
            let _ = writeln!(out, "      - role: {}", scalar(&binding.role));
            if binding.resource != "*" {
                let _ = writeln!(out, "        resource: {}", scalar(&binding.resource));
            }
            if let Some(policy) = &binding.policy {
                // Canonical JSON text, read by the provider: a document, or a
                // string when it is not one.
                match serde_json::from_str::<serde_json::Value>(policy.as_str()) {
                    Ok(document) => {
                        out.push_str("        policy:");
                        value(out, &document, 10);
                    }
                    Err(_) => {
                        let _ = writeln!(out, "        policy: {}", scalar(policy.as_str()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{Address, Identity, KeyStatus, Tags};

    use crate::config::ProviderBlock;
    use crate::import::{Imported, ImportedIdentity, ImportedKey};
    use crate::policy::{Enforcement, Finding, Severity, Subject};

    fn imported(only_unmanaged: bool) -> Imported {
        let address = Address::provider("aws", "prod").identity("svc");
        Imported {
            block: ProviderBlock {
                name: "prod".into(),
                type_name: "aws".into(),
                prune: false,
                settings: serde_json::json!({"path_prefix": "/nhi/"}),
            },
            scope: "path `/nhi/`\n# injected".into(),
            read_at: "2026-11-22T12:00:00Z".parse().unwrap(),
            only_unmanaged,
            identities: vec![ImportedIdentity {
                identity: Identity {
                    name: "svc".into(),
                    kind: "user".into(),
                    owner: String::new(),
                    description: String::new(),
                    tags: Tags::new(),
                    attributes: std::collections::BTreeMap::new(),
                },
                keys: vec![ImportedKey {
                    name: "key-1".into(),
                    adopt: Some("AKIA1".into()),
                    sink: "secrets/prod/svc/key-1.key".into(),
                    status: KeyStatus::Inactive,
                    created: "2026-01-01T00:00:00Z".parse().unwrap(),
                }],
                skipped_keys: vec!["live key `AKIA0` is an older key named `ci`".into()],
                bindings: Vec::new(),
                findings: vec![Finding {
                    address,
                    rule: "owner-missing".into(),
                    severity: Severity::High,
                    enforcement: Enforcement::Advisory,
                    subject: Subject::State,
                    message: "no owner\nversion: 2".into(),
                    exception: None,
                }],
            }],
        }
    }

    #[test]
    fn what_needs_a_decision_is_said_in_comments_that_stay_comments() {
        let text = super::yaml(&imported(false));
        for line in [
            "# Scope: path `/nhi/`\\u{a}# injected",
            "  # finding: owner-missing (high): no owner\\u{a}version: 2",
            "    # choose an owner: none is recorded in the cloud, and the configuration needs one (a plan then records it)",
            "    owner: \"\"",
            "    # live key `AKIA0` is an older key named `ci`",
            "        adopt: AKIA1",
            "        # the live key is inactive: a plan rotates it; remove the key to delete it instead",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
        }
        let read: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(read["version"], 1, "{text}");
        assert_eq!(
            read["identities"][0]["keys"][0]["sink"]["file"],
            "secrets/prod/svc/key-1.key"
        );
    }

    #[test]
    fn only_unmanaged_writes_entries_alone() {
        let text = super::yaml(&imported(true));
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("providers:") || l.starts_with("version:")),
            "{text}"
        );
        let read: serde_json::Value =
            serde_saphyr::from_str(&format!("identities:\n{text}")).unwrap();
        assert_eq!(read["identities"][0]["name"], "svc", "{text}");
    }
}
