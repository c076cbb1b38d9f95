//! `nhi sign`, `nhi approve` and `nhi unsign`: add an author signature or an
//! approval to a plan file (or write the approval beside it, `--detached`), or
//! drop signatures from it, without touching its body.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};

use clap::Args;

use super::{Global, Outcome};
use crate::plan::PlanFile;
use crate::trust::{Role, Signer};

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The plan file
    file: PathBuf,

    /// OpenSSH ed25519 private key, or a `.pub` file to sign through ssh-agent
    #[arg(long, value_name = "KEY")]
    key: PathBuf,

    /// Principal to sign as, as listed in allowed_signers [default: the key's comment]
    #[arg(long)]
    principal: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The plan file
    file: PathBuf,

    /// OpenSSH ed25519 private key, or a `.pub` file to sign through ssh-agent
    #[arg(long, value_name = "KEY")]
    key: PathBuf,

    /// Principal to approve as, as listed in allowed_signers [default: the key's comment]
    #[arg(long)]
    principal: Option<String>,

    /// A note recorded in the signed approval
    #[arg(long)]
    comment: Option<String>,

    /// Approve without showing the plan and asking first
    #[arg(long)]
    yes: bool,

    /// Leave the plan file as it is and write the approval alone (with `-o`, or
    /// as one line on stdout), for `--signatures` or `nhi merge`: reviewers can
    /// then approve the same plan in parallel
    #[arg(long)]
    detached: bool,

    /// With --detached: write the approval to FILE (JSON; name it `*.approval`)
    #[arg(short = 'o', long, value_name = "FILE", requires = "detached")]
    output: Option<PathBuf>,

    /// With --detached: print the approval as one line, `nhi-approval:v1:…`, to
    /// paste into a review comment (the default without -o)
    #[arg(long, requires = "detached")]
    line: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UnsignArgs {
    /// The plan file
    file: PathBuf,

    /// The signatures to drop, numbered from 1 as `nhi verify` lists them
    #[arg(required = true, value_name = "N")]
    signatures: Vec<usize>,
}

pub(crate) fn sign(global: &Global, args: &SignArgs) -> miette::Result<Outcome> {
    add_signature(
        &global.env,
        &args.file,
        &args.key,
        args.principal.as_deref(),
        Role::Author,
        None,
    )?;
    Ok(Outcome::Success)
}

pub(crate) fn approve(global: &Global, args: &ApproveArgs) -> miette::Result<Outcome> {
    let mut file = PlanFile::read(&args.file)?;
    let signer = global.env.signer(&args.key)?;
    warn_unprotected_key(&signer, &args.key);
    let principal = crate::trust::principal_for(&signer, args.principal.as_deref())?;
    let concerns = crate::trust::approval_concerns(
        &file.body,
        &file.digest,
        &file.signatures,
        &signer.public_key(),
        &principal,
        crate::clock::system_now(),
    );
    for concern in &concerns {
        crate::render::note(&format!("warning: {concern}"));
    }
    if !args.yes {
        let text = crate::render::text::plan(&file.body, global.painter);
        crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
        if !std::io::stdin().is_terminal() {
            return Err(miette::miette!(
                code = "nhi::approve::unconfirmed",
                help = "review the plan (`nhi show PLAN`), then approve with `--yes`",
                "refusing to approve without a confirmation from a terminal"
            ));
        }
        crate::render::note(&format!(
            "Approve plan `{}`? Only `yes` approves:",
            file.digest
        ));
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| miette::miette!("cannot read the answer: {e}"))?;
        if answer.trim() != "yes" {
            return Err(miette::miette!(
                code = "nhi::approve::declined",
                "not approved"
            ));
        }
    }
    if args.detached {
        return super::merge::write_detached(
            &file,
            &signer,
            &principal,
            args.comment.as_deref(),
            args.output.as_deref(),
            args.line || args.output.is_none(),
        );
    }
    sign_file(
        &mut file,
        &args.file,
        &signer,
        &principal,
        Role::Approver,
        args.comment.as_deref(),
    )?;
    file.write(&args.file)?;
    Ok(Outcome::Success)
}

/// Drops the numbered signatures from a plan: the way out when one that does
/// not verify (appended by anyone) makes apply refuse the plan. Judging needs
/// the trust policy, so this drops exactly what it is told and says what each
/// dropped signature claimed.
pub(crate) fn unsign(args: &UnsignArgs) -> miette::Result<Outcome> {
    let mut file = PlanFile::read(&args.file)?;
    let count = file.signatures.len();
    let mut drop = args.signatures.clone();
    drop.sort_unstable();
    drop.dedup();
    if let Some(bad) = drop.iter().find(|n| **n == 0 || **n > count) {
        return Err(miette::miette!(
            code = "nhi::unsign::no_such_signature",
            help = "`nhi verify PLAN` numbers the signatures from 1",
            "`{}` has no signature {bad} (it has {})",
            args.file.display(),
            super::count(count, "signature", "signatures")
        ));
    }
    let mut kept = Vec::with_capacity(count);
    let mut dropped = Vec::new();
    for (i, record) in std::mem::take(&mut file.signatures).into_iter().enumerate() {
        if drop.contains(&(i + 1)) {
            dropped.push((i + 1, record));
        } else {
            kept.push(record);
        }
    }
    file.signatures = kept;
    file.write(&args.file)?;
    for (index, record) in dropped {
        let claims = crate::trust::Statement::parse(&record.statement).map_or_else(
            |_| "an unreadable statement".to_owned(),
            |s| format!("{} `{}`", s.role, s.principal),
        );
        crate::render::note(&format!(
            "Dropped signature {index} ({claims}, as its statement claims) from `{}`.",
            args.file.display()
        ));
    }
    crate::render::note(&format!(
        "`{}` now has {}; `nhi verify` judges them.",
        args.file.display(),
        super::count(file.signatures.len(), "signature", "signatures")
    ));
    Ok(Outcome::Success)
}

/// A private key file others can read or change is warned about, as OpenSSH does.
fn warn_unprotected_key(signer: &Signer, key: &Path) {
    if matches!(signer, Signer::File(_)) {
        for warning in crate::trust::unprotected(crate::trust::Guarded::PrivateKey, key, &[]) {
            crate::render::note(&warning);
        }
    }
}

/// Signs the plan at `path` in `role` and writes it back with the new signature.
pub(crate) fn add_signature(
    env: &super::settings::Environment,
    path: &Path,
    key: &Path,
    principal: Option<&str>,
    role: Role,
    comment: Option<&str>,
) -> miette::Result<()> {
    let mut file = PlanFile::read(path)?;
    let signer = env.signer(key)?;
    warn_unprotected_key(&signer, key);
    let principal = crate::trust::principal_for(&signer, principal)?;
    sign_file(&mut file, path, &signer, &principal, role, comment)?;
    file.write(path)?;
    Ok(())
}

/// Adds a signature to a plan in memory, and says so; `path` names it in messages.
pub(crate) fn sign_file(
    file: &mut PlanFile,
    path: &Path,
    signer: &Signer,
    principal: &str,
    role: Role,
    comment: Option<&str>,
) -> miette::Result<()> {
    if role == Role::Author && crate::trust::has_author_signature(&file.signatures) {
        return Err(miette::miette!(
            code = "nhi::sign::already_signed",
            help = "a plan has exactly one author; plan again to re-sign, or drop an author signature that does not count (`nhi verify` lists them, `nhi unsign PLAN N` drops one)",
            "`{}` already has an author signature",
            path.display()
        ));
    }
    let record = crate::trust::sign(
        signer,
        crate::trust::PLAN_NAMESPACE,
        role,
        principal,
        file.digest,
        crate::clock::system_now(),
        comment,
    )?;
    file.signatures.push(record);
    let what = if role == Role::Author {
        "Signed"
    } else {
        "Approved"
    };
    crate::render::note(&format!(
        "{what} `{}` (plan `{}`) as `{principal}`.",
        path.display(),
        file.digest
    ));
    Ok(())
}
