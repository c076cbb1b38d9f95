//! What `nhi verify` reports: who planned, who approved and what is missing for a
//! plan; what ran and who signed for a receipt. As text, and as JSON for
//! pipelines (`--json`, `schemas/verify-json.schema.json`).

use std::fmt::Write as _;
use std::path::Path;

use crate::plan::PlanFile;
use crate::receipt::{Outcome, ReceiptFile};
use crate::trust::{Gathered, Role, Signed, Standing, Verdict};

pub use super::verify_json::{VerifyJson, plan_json, receipt_json, schema};

/// Whether the plan's author claim is the verified author's principal.
pub(super) fn claim_verified(file: &PlanFile, standing: &Standing) -> bool {
    standing
        .author
        .as_ref()
        .is_some_and(|a| a.statement.principal == file.body.author)
}

/// The plan's digest, creation, summary, signatures and approvals.
/// `gathered` says which signatures came from detached approval files.
pub fn plan(path: &Path, file: &PlanFile, gathered: &Gathered, standing: &Standing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan `{}`: body digest `{}` matches",
        path.display(),
        file.digest
    );
    let _ = writeln!(
        out,
        "  created {}, expires {}",
        file.body.created_at, file.body.expires_at
    );
    let _ = writeln!(out, "  {}", super::text::summary_line(&file.body));
    for line in super::text::selection_lines(&file.body) {
        let _ = writeln!(out, "  {line}");
    }
    let claim = clip(&file.body.author);
    // The author is who signed; the plan's own `author` field is only a claim.
    match &standing.author {
        Some(a) => {
            let _ = writeln!(
                out,
                "  author:   `{}` at {} (key {})",
                a.statement.principal,
                a.statement.signed_at,
                a.key_fingerprint()
            );
            if !claim_verified(file, standing) {
                let _ = writeln!(
                    out,
                    "  claimed:  the plan says `{claim}` planned it (not verified: the author signature is `{}`'s)",
                    a.statement.principal
                );
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  author:   no verified author signature (the plan claims `{claim}`, not verified)"
            );
        }
    }
    for a in &standing.counted {
        let comment = a
            .statement
            .comment
            .as_deref()
            .map(|c| format!(": \"{c}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  approved: `{}` at {} (key {}){comment}",
            a.statement.principal,
            a.statement.signed_at,
            a.key_fingerprint()
        );
    }
    for (a, why) in &standing.ignored {
        let _ = writeln!(
            out,
            "  ignored:  approval by `{}` at {}: {why}",
            a.statement.principal, a.statement.signed_at
        );
    }
    let mut invalid = Vec::new();
    for v in &standing.signatures {
        match &v.verdict {
            Verdict::Ignored(why)
                if v.statement.as_ref().is_some_and(|s| s.role == Role::Author) =>
            {
                let _ = writeln!(out, "  ignored:  signature {} (author): {why}", v.index);
            }
            Verdict::Invalid { message, .. } => {
                if let Some(Some(source)) = gathered.sources.get(v.index - 1) {
                    let _ = writeln!(
                        out,
                        "  invalid:  approval `{}`: {message}",
                        source.display()
                    );
                    continue;
                }
                let claims = v.statement.as_ref().map_or_else(
                    || "statement unreadable".to_owned(),
                    |s| format!("claims {} `{}`", s.role, s.principal),
                );
                let key = v
                    .key_fingerprint
                    .as_deref()
                    .map(|k| format!(", key {k}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  invalid:  signature {} ({claims}{key}): {message}",
                    v.index
                );
                invalid.push(v.index.to_string());
            }
            _ => {}
        }
    }
    for skipped in &gathered.skipped {
        let _ = writeln!(
            out,
            "  skipped:  approval `{}`: {}",
            skipped.file.display(),
            skipped.reason
        );
    }
    if standing.required == 0 {
        let _ = writeln!(
            out,
            "  approvals: {} (none required)",
            standing.counted.len()
        );
    } else {
        let _ = writeln!(
            out,
            "  approvals: {} of {} required",
            standing.counted.len(),
            standing.required
        );
    }
    for missing in &standing.missing {
        let _ = writeln!(out, "  missing:  {missing}");
    }
    if !invalid.is_empty() {
        let _ = writeln!(
            out,
            "  apply refuses the plan while it carries a signature that does not verify; drop {}: `nhi unsign {} {}`",
            if invalid.len() == 1 { "it" } else { "them" },
            path.display(),
            invalid.join(" ")
        );
    }
    out.truncate(out.trim_end().len());
    out
}

/// A claim from the plan, shortened and without control characters.
fn clip(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !nhi_provider_sdk::text::is_unsafe_char(*c))
        .take(100)
        .collect();
    if text.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// The receipt's digest, what it applied, and each change's status.
pub fn receipt(path: &Path, receipt: &ReceiptFile) -> String {
    let body = &receipt.body;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "receipt `{}`: body digest `{}` matches",
        path.display(),
        receipt.digest
    );
    let _ = writeln!(
        out,
        "  applied plan `{}` by `{}` from {} to {}: {}",
        body.plan_digest,
        body.applier,
        body.started_at,
        body.finished_at,
        if body.outcome == Outcome::Succeeded {
            "succeeded"
        } else {
            "FAILED"
        }
    );
    for (i, c) in body.changes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>3}. {:?} {} {}",
            i + 1,
            c.status,
            c.address,
            c.error.as_deref().unwrap_or("")
        );
    }
    if receipt.signatures.is_empty() {
        out.push_str("  signature: none (apply ran without `--key`)\n");
    }
    out.truncate(out.trim_end().len());
    out
}

/// One verified receipt signature.
pub fn receipt_signer(signed: &Signed) -> String {
    format!(
        "  signed by `{}` at {} (key {})",
        signed.statement.principal,
        signed.statement.signed_at,
        signed.key_fingerprint()
    )
}

/// `nhi audit verify`: what was checked, and the first break.
pub fn log(report: &crate::log::LogReport, signatures: bool) -> String {
    use std::fmt::Write as _;
    let mut out = format!("receipt log `{}`\n", report.dir);
    let what = if signatures {
        "whole, in sequence, chained and signed by an applier"
    } else {
        "whole, in sequence and chained (signatures not checked)"
    };
    let _ = writeln!(out, "  receipts: {} {what}", report.receipts);
    if let Some(head) = &report.head {
        let _ = writeln!(out, "  head:     `{head}`");
    }
    if !report.checkpoint_signed_by.is_empty() {
        let signers: Vec<String> = report
            .checkpoint_signed_by
            .iter()
            .map(|p| format!("`{p}`"))
            .collect();
        let _ = writeln!(out, "  checkpoint signed by: {}", signers.join(", "));
    }
    match &report.problem {
        None if report.unsealed > 0 => {
            let _ = writeln!(
                out,
                "verified: the chain is intact; the checkpoint counts all but the last {} (an append in progress, or cut off before its checkpoint: the next append counts them)",
                report.unsealed
            );
        }
        None => {
            out.push_str("verified: the chain is intact and the checkpoint counts every receipt\n");
        }
        Some(problem) => {
            let _ = writeln!(out, "broken: {problem}");
        }
    }
    out
}
