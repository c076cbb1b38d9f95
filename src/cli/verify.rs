//! `nhi verify`: check a plan or a receipt offline and say who planned, who
//! approved, when, and what is missing.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::plan::PlanFile;
use crate::trust::{AllowedSigners, Role, TrustPolicy};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A plan file or an apply receipt
    file: PathBuf,

    /// Trust policy [default: $NHI_TRUST, then ~/.config/nhi/trust.yaml]
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,

    /// With a receipt: the plan it claims to have applied
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
}

pub(crate) fn run(_global: &Global, args: &VerifyArgs) -> miette::Result<Outcome> {
    let policy = TrustPolicy::locate(args.trust.as_deref())?;
    let signers = AllowedSigners::read(&policy.allowed_signers)?;
    let bytes = std::fs::read(&args.file).map_err(|source| crate::plan::PlanError::Read {
        path: args.file.clone(),
        source,
    })?;
    if crate::apply::is_receipt(&bytes) {
        return receipt(args, &bytes, &signers);
    }
    let file = PlanFile::decode(&bytes)?;
    let now = jiff::Timestamp::now();
    let (standing, failure) = crate::trust::judge_plan(
        &file.body,
        &file.digest,
        &file.signatures,
        &policy,
        &signers,
        now,
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan `{}`: body digest `{}` matches",
        args.file.display(),
        file.digest
    );
    let _ = writeln!(
        out,
        "  created {} by `{}`, expires {}",
        file.body.created_at, file.body.author, file.body.expires_at
    );
    let _ = writeln!(
        out,
        "  {}",
        crate::render::text::summary_line(&file.body.summary)
    );
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
    crate::render::note(out.trim_end());
    if let Some(e) = failure {
        return Err(e.into());
    }
    crate::render::note("verified: apply's offline checks accept this plan");
    Ok(Outcome::Success)
}

fn receipt(args: &VerifyArgs, bytes: &[u8], signers: &AllowedSigners) -> miette::Result<Outcome> {
    let receipt = crate::apply::ReceiptFile::decode(bytes)?;
    let body = &receipt.body;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "receipt `{}`: body digest `{}` matches",
        args.file.display(),
        receipt.digest
    );
    let _ = writeln!(
        out,
        "  applied plan `{}` by `{}` from {} to {}: {}",
        body.plan_digest,
        body.applier,
        body.started_at,
        body.finished_at,
        if body.outcome == crate::apply::Outcome::Succeeded {
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
    crate::render::note(out.trim_end());
    for (i, record) in receipt.signatures.iter().enumerate() {
        let signed = crate::trust::verify_record(
            i + 1,
            record,
            crate::trust::RECEIPT_NAMESPACE,
            &receipt.digest,
            signers,
            // Receipts are archives: keys are judged at the time they signed.
            None,
        )?;
        if signed.statement.role != Role::Applier {
            return Err(miette::miette!(
                code = "nhi::trust::bad_signature",
                "receipt signature {} is not an applier signature",
                i + 1
            ));
        }
        crate::render::note(&format!(
            "  signed by `{}` at {} (key {})",
            signed.statement.principal,
            signed.statement.signed_at,
            signed.key_fingerprint()
        ));
    }
    if let Some(plan) = &args.plan {
        let plan = PlanFile::read(plan)?;
        if plan.digest != body.plan_digest {
            return Err(miette::miette!(
                code = "nhi::verify::receipt_plan_mismatch",
                "the receipt is for plan `{}`, not `{}`",
                body.plan_digest,
                plan.digest
            ));
        }
        crate::render::note("  the receipt belongs to the given plan");
    }
    crate::render::note("verified: receipt digest and signatures check out");
    Ok(Outcome::Success)
}
