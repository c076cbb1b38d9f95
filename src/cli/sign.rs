//! `nhi sign` and `nhi approve`: add an author signature or an approval to a plan
//! file without touching its body.

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
    let file = PlanFile::read(&args.file)?;
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
    add_signature(
        &global.env,
        &args.file,
        &args.key,
        args.principal.as_deref(),
        Role::Approver,
        args.comment.as_deref(),
    )?;
    Ok(Outcome::Success)
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
            help = "a plan has exactly one author; plan again to re-sign",
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
