//! `nhi merge`, and the detached side of `nhi approve`: approvals written beside
//! a plan, so reviewers approve in parallel, then folded into the plan file in a
//! canonical order, so any merge order gives the same bytes.

use std::path::{Path, PathBuf};

use clap::Args;

use super::Outcome;
use crate::plan::PlanFile;
use crate::trust::{DetachedApproval, Role, Signer, detached};

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The plan file
    file: PathBuf,

    /// Approval files (`nhi approve --detached`: JSON or the one-line form), or
    /// directories whose `*.approval` files are read
    #[arg(required = true, value_name = "APPROVAL|DIR")]
    approvals: Vec<PathBuf>,
}

/// Folds detached approvals into the plan file. Each must be an approval whose
/// signature verifies over a statement naming this plan's digest; whether its key
/// counts is the applier's trust policy's question, asked at apply.
pub(crate) fn run(args: &MergeArgs) -> miette::Result<Outcome> {
    let mut file = PlanFile::read(&args.file)?;
    let approvals = gather(&args.approvals)?;
    let gathered = detached::join(&file.digest, &file.signatures, &approvals, true)?;
    for skipped in &gathered.skipped {
        crate::render::note(&format!(
            "Skipped approval `{}`: {}.",
            skipped.file.display(),
            skipped.reason
        ));
    }
    let added = gathered.records.len() - file.signatures.len();
    let before = file.encode();
    file.signatures = gathered.records;
    detached::canonical_order(&mut file.signatures);
    if file.encode() != before {
        file.write(&args.file)?;
    }
    crate::render::note(&format!(
        "Merged {} into `{}` (plan `{}`); it now has {}; `nhi verify` judges them.",
        super::count(added, "approval", "approvals"),
        args.file.display(),
        file.digest,
        super::count(file.signatures.len(), "signature", "signatures")
    ));
    Ok(Outcome::Success)
}

/// Reads the approvals `--signatures` (or `nhi merge`) names.
pub(crate) fn gather(paths: &[PathBuf]) -> miette::Result<Vec<DetachedApproval>> {
    Ok(detached::gather(paths)?)
}

/// `nhi approve --detached`: signs the same statement an in-file approval would,
/// and writes it to `output` (never over an existing file) and/or prints its one
/// line on stdout. The plan file is not touched.
pub(crate) fn write_detached(
    file: &PlanFile,
    signer: &Signer,
    principal: &str,
    comment: Option<&str>,
    output: Option<&Path>,
    line: bool,
) -> miette::Result<Outcome> {
    let record = crate::trust::sign(
        signer,
        crate::trust::PLAN_NAMESPACE,
        Role::Approver,
        principal,
        file.digest,
        crate::clock::system_now(),
        comment,
    )?;
    if let Some(path) = output {
        nhi_provider_sdk::files::write_new(path, &detached::encode(&record), 0o644).map_err(
            |e| {
                miette::miette!(
                    code = "nhi::approve::write",
                    help = "approvals are never written over an existing file; name a new one",
                    "cannot write approval `{}`: {e}",
                    path.display()
                )
            },
        )?;
        crate::render::note(&format!(
            "Approved plan `{}` as `{principal}`: approval written to `{}` (the plan file is unchanged).",
            file.digest,
            path.display()
        ));
    }
    if line {
        crate::render::stdout(&format!("{}\n", detached::line(&record)))
            .map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
        if output.is_none() {
            crate::render::note(&format!(
                "Approved plan `{}` as `{principal}`: paste the line above into the review (the plan file is unchanged).",
                file.digest
            ));
        }
    }
    Ok(Outcome::Success)
}
