//! What `nhi verify` reports: who planned, who approved and what is missing for a
//! plan; what ran and who signed for a receipt.

use std::fmt::Write as _;
use std::path::Path;

use crate::plan::PlanFile;
use crate::receipt::{Outcome, ReceiptFile};
use crate::trust::{Signed, Standing};

/// The plan's digest, creation, summary, signatures and approvals.
pub fn plan(path: &Path, file: &PlanFile, standing: &Standing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan `{}`: body digest `{}` matches",
        path.display(),
        file.digest
    );
    let _ = writeln!(
        out,
        "  created {} by `{}`, expires {}",
        file.body.created_at, file.body.author, file.body.expires_at
    );
    let _ = writeln!(out, "  {}", super::text::summary_line(&file.body));
    match &standing.author {
        Some(a) => {
            let _ = writeln!(
                out,
                "  author:   `{}` at {} (key {})",
                a.statement.principal,
                a.statement.signed_at,
                a.key_fingerprint()
            );
        }
        None => out.push_str("  author:   not signed\n"),
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
    let _ = writeln!(
        out,
        "  approvals: {} of {} required",
        standing.counted.len(),
        standing.required
    );
    for missing in &standing.missing {
        let _ = writeln!(out, "  missing:  {missing}");
    }
    out.truncate(out.trim_end().len());
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
