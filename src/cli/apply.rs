//! `nhi apply`: apply a signed, approved, fresh plan exactly as approved.

use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::apply::{Applied, ApplyOptions};
use crate::plan::PlanFile;
use crate::trust::{AllowedSigners, TrustPolicy};

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The plan file
    file: PathBuf,

    /// Trust policy [default: $NHI_TRUST, then ~/.config/nhi/trust.yaml]
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,

    /// Detached approvals to judge with the plan's own signatures: approval files
    /// (JSON or the one-line form) or directories of `*.approval` files
    #[arg(long, value_name = "DIR|FILE", num_args = 1..)]
    signatures: Vec<PathBuf>,

    /// Sign the receipt with this key (private key, or `.pub` through ssh-agent)
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,

    /// Principal to sign the receipt as [default: the key's comment]
    #[arg(long)]
    principal: Option<String>,

    /// Where to write the receipt [default: PLAN.receipt.json beside the plan]
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,

    /// Skip the check that the configuration on disk is the one the plan came from
    /// (for pipelines where only the plan travels)
    #[arg(long)]
    ignore_config: bool,

    /// How long to wait for another apply's scope lock (e.g. `30s`, `5m`)
    #[arg(long, value_name = "AGE")]
    lock_timeout: Option<nhi_provider_sdk::Age>,

    /// Allow sinks that print new key material on standard output
    #[arg(long)]
    allow_secrets_on_stdout: bool,

    /// Exit 0 when nothing was applied, 2 when changes were applied, 1 on error
    #[arg(long)]
    detailed_exitcode: bool,
}

pub(crate) fn run(global: &Global, args: &ApplyArgs) -> miette::Result<Outcome> {
    // 1–2: format version and digest over the exact bytes.
    let file = PlanFile::read(&args.file)?;
    let approvals = super::merge::gather(&args.signatures)?;
    let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
    let signers = AllowedSigners::read(&policy.allowed_signers)?;
    let signer = args
        .key
        .as_deref()
        .map(|key| global.env.signer(key))
        .transpose()?;
    let private_key = args
        .key
        .as_deref()
        .filter(|_| matches!(signer, Some(crate::trust::Signer::File(_))));
    super::verify::warn_unprotected(
        &policy,
        private_key,
        &[
            super::verify::directory_of(&global.config),
            super::verify::directory_of(&args.file),
        ],
    );
    let applier = match &signer {
        Some(s) => crate::trust::principal_for(s, args.principal.as_deref())?,
        None => global.env.user(),
    };
    let started = std::time::Instant::now();
    let progress = crate::render::progress::Progress::default();
    let stdout = |text: &str| crate::render::stdout(text);
    let receipt_path = receipt_path(args)?;
    let stop = stop_on_signals()?;
    let options = ApplyOptions {
        policy: &policy,
        signers: &signers,
        approvals: &approvals,
        now: jiff::Timestamp::now(),
        check_config: !args.ignore_config,
        stdout_secrets: args
            .allow_secrets_on_stdout
            .then_some(&stdout as crate::apply::StdoutWriter<'_>),
        lock_timeout: args.lock_timeout.map_or(std::time::Duration::ZERO, |a| {
            std::time::Duration::from_secs(a.seconds().unsigned_abs())
        }),
        applier: applier.clone(),
        receipt_path,
        receipt_signer: signer.as_ref(),
        plan_path: Some(args.file.clone()),
        registry: crate::registry::Registry::builtin(),
        events: &progress,
        stop: Some(&stop),
    };
    if args.ignore_config {
        crate::render::note(
            "note: not comparing the configuration on disk with the plan (`--ignore-config`)",
        );
    }
    let applied = super::runtime()?.block_on(crate::apply::apply(&file, &options));
    if global.verbose {
        crate::render::note(&crate::render::timings(
            "apply took",
            started.elapsed(),
            &progress.phases(),
        ));
    }
    match applied? {
        Applied::NothingToDo => {
            crate::render::note("No changes to apply.");
            Ok(Outcome::Success)
        }
        Applied::Applied { changes, receipt } => {
            crate::render::note(&format!(
                "Apply complete: {changes} change{} applied. Receipt: `{}`.",
                if changes == 1 { "" } else { "s" },
                receipt.display()
            ));
            Ok(if args.detailed_exitcode {
                Outcome::Changes
            } else {
                Outcome::Success
            })
        }
    }
}

/// Where the receipt goes. Receipts are evidence and are never overwritten: a
/// named `--receipt` must not exist; the default takes the first free name of
/// `PLAN.receipt.json`, `PLAN.receipt-2.json`, …
fn receipt_path(args: &ApplyArgs) -> miette::Result<PathBuf> {
    if let Some(path) = &args.receipt {
        if exists(path) {
            return Err(miette::miette!(
                code = "nhi::apply::receipt_exists",
                help = "receipts are never overwritten; name a new file",
                "receipt `{}` already exists",
                path.display()
            ));
        }
        return Ok(path.clone());
    }
    let stem = args
        .file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    (1..10_000)
        .map(|n| {
            let name = if n == 1 {
                format!("{stem}.receipt.json")
            } else {
                format!("{stem}.receipt-{n}.json")
            };
            args.file.with_file_name(name)
        })
        // A journal without its receipt is an apply that did not finish: evidence.
        .find(|p| !exists(p) && !exists(&crate::apply::journal::path_for(p)))
        .ok_or_else(|| miette::miette!("no free receipt name beside `{}`", args.file.display()))
}

/// Whether anything, a dangling link included, is at `path`.
fn exists(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The first SIGINT or SIGTERM asks apply to stop before its next change (the
/// receipt then says it was interrupted); a second one ends the process at once.
fn stop_on_signals() -> miette::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for (signal, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        signal_hook::flag::register_conditional_shutdown(
            signal,
            code,
            std::sync::Arc::clone(&stop),
        )
        .and_then(|_| signal_hook::flag::register(signal, std::sync::Arc::clone(&stop)))
        .map_err(|e| miette::miette!("cannot handle signal {signal}: {e}"))?;
    }
    Ok(stop)
}
