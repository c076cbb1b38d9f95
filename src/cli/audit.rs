//! `nhi audit verify LOG`: check a receipt log's chain offline and name its first
//! break.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Global, Outcome};
use crate::trust::{AllowedSigners, TrustPolicy};

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check a receipt log: every receipt whole, in sequence, chained to the one
    /// before it, and counted by the signed checkpoint
    Verify(VerifyLogArgs),
}

#[derive(Debug, Args)]
struct VerifyLogArgs {
    /// The receipt log directory (the trust policy's `receipt_log`)
    log: PathBuf,

    /// Trust policy whose allowed signers must have signed every receipt and the
    /// checkpoint as applier [default: $NHI_TRUST, then ~/.config/nhi/trust.yaml]
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,

    /// Check the chain only, not the signatures (no trust policy needed)
    #[arg(long, conflicts_with = "trust")]
    unsigned: bool,

    /// Print the report as JSON; a broken log still exits 1
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: &AuditArgs) -> miette::Result<Outcome> {
    let AuditCommand::Verify(args) = &args.command;
    let signers = if args.unsigned {
        None
    } else {
        let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
        Some(AllowedSigners::read(&policy.allowed_signers)?)
    };
    let report = crate::log::verify(&args.log, signers.as_ref());
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&report).map_err(|e| miette::miette!("{e}"))?;
        text.push('\n');
        text
    } else {
        crate::render::verify::log(&report, signers.is_some())
    };
    crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    match &report.problem {
        None => Ok(Outcome::Success),
        Some(problem) => Err(miette::miette!(
            code = "nhi::log::broken",
            help = "the receipts before the break are intact; keep the log as it is for the audit",
            "the receipt log `{}` is broken: {problem}",
            args.log.display()
        )),
    }
}
