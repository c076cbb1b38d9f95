//! `nhi verify`: check a plan or a receipt offline and say who planned, who
//! approved, when, and what is missing.

use std::path::{Path, PathBuf};

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

    /// Detached approvals to judge with the plan's own signatures: approval files
    /// (JSON or the one-line form) or directories of `*.approval` files
    #[arg(long, value_name = "DIR|FILE", num_args = 1..)]
    signatures: Vec<PathBuf>,

    /// With a receipt: the plan it claims to have applied
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,

    /// Print the report as JSON (see schemas/verify-json.schema.json); a failed
    /// verification still exits 1
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: &VerifyArgs) -> miette::Result<Outcome> {
    let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
    warn_unprotected(&policy, None, &[directory_of(&args.file)]);
    let signers = AllowedSigners::read(&policy.allowed_signers)?;
    let bytes = std::fs::read(&args.file).map_err(|source| crate::plan::PlanError::Read {
        path: args.file.clone(),
        source,
    })?;
    if crate::receipt::is_receipt(&bytes) {
        if !args.signatures.is_empty() {
            return Err(miette::miette!(
                code = "nhi::verify::signatures_of_a_receipt",
                help =
                    "`--signatures` gives a plan its detached approvals; verify the plan with them",
                "`{}` is a receipt; `--signatures` applies to plans only",
                args.file.display()
            ));
        }
        return receipt(args, &bytes, &signers);
    }
    if crate::revoke::record::is_revocation(&bytes) {
        return revocation(args, &bytes, &policy, &signers);
    }
    let file = PlanFile::decode(&bytes)?;
    let approvals = super::merge::gather(&args.signatures)?;
    let gathered = crate::trust::detached::join(&file.digest, &file.signatures, &approvals, false)?;
    let (standing, failure) = crate::trust::detached::judge(
        &file.body,
        &file.digest,
        &gathered,
        &policy,
        &signers,
        jiff::Timestamp::now(),
    );
    let report = if args.json {
        let failure = failure.as_ref().map(|e| e as &dyn miette::Diagnostic);
        json(&crate::render::verify::plan_json(
            &args.file, &file, &gathered, &standing, failure,
        ))?
    } else {
        let mut text = crate::render::verify::plan(&args.file, &file, &gathered, &standing);
        if failure.is_none() {
            text.push_str("\nverified: apply's offline checks accept this plan");
        }
        text.push('\n');
        text
    };
    write(&report)?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(Outcome::Success),
    }
}

/// A revocation record: its digest, each signature as a receipt's, and the
/// signers against the trust policy's `revoke` bar.
fn revocation(
    args: &VerifyArgs,
    bytes: &[u8],
    policy: &TrustPolicy,
    signers: &AllowedSigners,
) -> miette::Result<Outcome> {
    let file = crate::revoke::record::decode(bytes).map_err(|detail| {
        miette::miette!(
            code = "nhi::verify::revocation_malformed",
            help = "the record was edited or damaged; it is not evidence",
            "`{}` is not a good revocation record: {detail}",
            args.file.display()
        )
    })?;
    let (signed, failure) = crate::trust::judge_receipt(&file.digest, &file.signatures, signers);
    let principals: Vec<String> = signed
        .iter()
        .map(|s| s.statement.principal.clone())
        .collect();
    let failure: Option<miette::Report> = match (failure, &policy.revoke) {
        (Some(e), _) => Some(e.into()),
        (None, None) => Some(miette::miette!(
            code = "nhi::verify::no_revoke_bar",
            help = "add `revoke: {required: N, signers: [...]}` to the trust policy",
            "the trust policy gives nobody the right to revoke"
        )),
        (None, Some(bar)) => {
            let mut allowed: Vec<&String> = principals
                .iter()
                .filter(|p| bar.signers.contains(p))
                .collect();
            allowed.dedup();
            (allowed.len() < bar.required).then(|| {
                miette::miette!(
                    code = "nhi::verify::revocation_under_signed",
                    help = "a revocation needs `revoke.required` signers of `revoke.signers`",
                    "the revocation is signed by {} of the {} principals the `revoke` bar needs",
                    allowed.len(),
                    bar.required
                )
            })
        }
    };
    let report = if args.json {
        crate::render::revoke::verify_json(&args.file, &file, &principals, failure.is_none())
    } else {
        crate::render::revoke::verify_text(&args.file, &file, &principals, failure.is_none())
    };
    write(&report)?;
    match failure {
        Some(e) => Err(e),
        None => Ok(Outcome::Success),
    }
}

fn receipt(args: &VerifyArgs, bytes: &[u8], signers: &AllowedSigners) -> miette::Result<Outcome> {
    let receipt = ReceiptFile::decode(bytes)?;
    let (signed, failure) =
        crate::trust::judge_receipt(&receipt.digest, &receipt.signatures, signers);
    let mut failure: Option<miette::Report> = failure.map(Into::into);
    let mut belongs_to_plan = None;
    if failure.is_none()
        && let Some(plan) = &args.plan
    {
        match PlanFile::read(plan) {
            Ok(plan) => {
                let checked = receipt.check_plan(&plan.digest);
                belongs_to_plan = Some(checked.is_ok());
                failure = checked.err().map(Into::into);
            }
            Err(e) => failure = Some(e.into()),
        }
    }
    let report = if args.json {
        json(&crate::render::verify::receipt_json(
            &args.file,
            &receipt,
            &signed,
            belongs_to_plan,
            failure.as_deref().map(|e| e as &dyn miette::Diagnostic),
        ))?
    } else {
        let mut text = crate::render::verify::receipt(&args.file, &receipt);
        for s in &signed {
            text.push('\n');
            text.push_str(&crate::render::verify::receipt_signer(s));
        }
        if belongs_to_plan == Some(true) {
            text.push_str("\n  the receipt belongs to the given plan");
        }
        if failure.is_none() {
            text.push_str("\nverified: receipt digest and signatures check out");
        }
        text.push('\n');
        text
    };
    write(&report)?;
    match failure {
        Some(e) => Err(e),
        None => Ok(Outcome::Success),
    }
}

/// Warns on stderr, OpenSSH style, about a trust policy, its allowed signers or
/// a private signing key that others can change, or that sits in `checkouts`.
pub(crate) fn warn_unprotected(policy: &TrustPolicy, key: Option<&Path>, checkouts: &[PathBuf]) {
    use crate::trust::Guarded;
    let files = [
        (Guarded::TrustPolicy, Some(policy.path.as_path())),
        (
            Guarded::AllowedSigners,
            Some(policy.allowed_signers.as_path()),
        ),
        (Guarded::PrivateKey, key),
    ];
    for (what, path) in files {
        if let Some(path) = path {
            for warning in crate::trust::unprotected(what, path, checkouts) {
                crate::render::note(&warning);
            }
        }
    }
}

/// The directory a file named on the command line is in.
pub(crate) fn directory_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn json(view: &crate::render::verify::VerifyJson) -> miette::Result<String> {
    let mut text = serde_json::to_string_pretty(view).map_err(|e| miette::miette!("{e}"))?;
    text.push('\n');
    Ok(text)
}

fn write(report: &str) -> miette::Result<()> {
    crate::render::stdout(report).map_err(|e| miette::miette!("cannot write to stdout: {e}"))
}
