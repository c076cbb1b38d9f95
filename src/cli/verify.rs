//! `nhi verify`: check a plan or a receipt offline and say who planned, who
//! approved, when, and what is missing.

use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::plan::PlanFile;
use crate::receipt::ReceiptFile;
use crate::trust::{AllowedSigners, TrustPolicy};

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

pub(crate) fn run(global: &Global, args: &VerifyArgs) -> miette::Result<Outcome> {
    let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
    let signers = AllowedSigners::read(&policy.allowed_signers)?;
    let bytes = std::fs::read(&args.file).map_err(|source| crate::plan::PlanError::Read {
        path: args.file.clone(),
        source,
    })?;
    if crate::receipt::is_receipt(&bytes) {
        return receipt(args, &bytes, &signers);
    }
    let file = PlanFile::decode(&bytes)?;
    let (standing, failure) = crate::trust::judge_plan(
        &file.body,
        &file.digest,
        &file.signatures,
        &policy,
        &signers,
        jiff::Timestamp::now(),
    );
    crate::render::note(&crate::render::verify::plan(&args.file, &file, &standing));
    if let Some(e) = failure {
        return Err(e.into());
    }
    crate::render::note("verified: apply's offline checks accept this plan");
    Ok(Outcome::Success)
}

fn receipt(args: &VerifyArgs, bytes: &[u8], signers: &AllowedSigners) -> miette::Result<Outcome> {
    let receipt = ReceiptFile::decode(bytes)?;
    crate::render::note(&crate::render::verify::receipt(&args.file, &receipt));
    let (signed, failure) =
        crate::trust::judge_receipt(&receipt.digest, &receipt.signatures, signers);
    for s in &signed {
        crate::render::note(&crate::render::verify::receipt_signer(s));
    }
    if let Some(e) = failure {
        return Err(e.into());
    }
    if let Some(plan) = &args.plan {
        let plan = PlanFile::read(plan)?;
        receipt.check_plan(&plan.digest)?;
        crate::render::note("  the receipt belongs to the given plan");
    }
    crate::render::note("verified: receipt digest and signatures check out");
    Ok(Outcome::Success)
}
