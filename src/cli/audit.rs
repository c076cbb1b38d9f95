//! `nhi audit`: the live estate judged by the policy's rules, as a posture
//! report that exits 2 when something at or above `--fail-on` is found; and
//! `nhi audit verify LOG`: check a receipt log's chain offline and name its
//! first break.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{Global, Outcome};
use crate::policy::Severity;
use crate::trust::{AllowedSigners, TrustPolicy};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,

    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
    Sarif,
}

/// `nhi audit` without a subcommand.
#[derive(Debug, Args)]
struct ReportArgs {
    /// Print the report as JSON (see schemas/audit-json.schema.json)
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// Output format: text, JSON, markdown (an issue body) or SARIF 2.1.0 (for
    /// code scanning)
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,

    /// Exit 2 when a finding at or above this severity is found (low, medium,
    /// high, critical); findings an exception excuses never count
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = severity)]
    fail_on: Severity,
}

fn severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not a severity; the severities are `low`, `medium`, `high` and `critical`"
        )
    })
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check a receipt log: every receipt whole, in sequence, chained to the one
    /// before it, and counted by the signed checkpoint
    Verify(VerifyLogArgs),
}

#[derive(Debug, Args)]
struct VerifyLogArgs {
    /// The receipt log: a directory (the trust policy's `receipt_log`), or
    /// `s3://BUCKET/PREFIX` (its `backend`, whose region and endpoint are used
    /// when the bucket matches; else the standard AWS chain)
    log: String,

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
    match &args.command {
        Some(AuditCommand::Verify(verify)) => verify_log(global, verify),
        None => report(global, &args.report),
    }
}

/// The posture report: reads every provider block, writes nothing.
fn report(global: &Global, args: &ReportArgs) -> miette::Result<Outcome> {
    let clock = crate::clock::Clock::from_setting(global.env.now.as_deref())?;
    let progress = crate::render::progress::Progress::default();
    let (report, planned) = crate::audit::audit(&crate::audit::AuditOptions {
        config: &global.config,
        clock,
        registry: crate::registry::Registry::builtin(),
        events: &progress,
    })?;
    let format = if args.json {
        Format::Json
    } else {
        args.format.unwrap_or(Format::Text)
    };
    let text = match format {
        Format::Json => {
            let mut text =
                serde_json::to_string_pretty(&report).map_err(|e| miette::miette!("{e}"))?;
            text.push('\n');
            text
        }
        Format::Markdown => crate::render::audit::markdown(&report, args.fail_on),
        Format::Sarif => {
            let anchors = Some(crate::config::Anchors::load(&planned.config.path));
            crate::render::sarif::text(
                &report.findings,
                &crate::render::sarif::Source {
                    config_path: &report.config_path,
                    anchors: anchors.as_ref(),
                    tool_version: env!("CARGO_PKG_VERSION"),
                },
            )
        }
        Format::Text => crate::render::audit::text(&report, args.fail_on, global.painter),
    };
    crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    // As `nhi plan` does: the process ends here, and freeing a large estate piece
    // by piece costs more than it returns.
    std::mem::forget(planned);
    Ok(if report.fails_at(args.fail_on) {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}

fn verify_log(global: &Global, args: &VerifyLogArgs) -> miette::Result<Outcome> {
    let (signers, policy) = if args.unsigned {
        (None, None)
    } else {
        let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
        (
            Some(AllowedSigners::read(&policy.allowed_signers)?),
            Some(policy),
        )
    };
    let location = log_location(global, &args.log, policy.as_ref())?;
    let store = crate::log::LogStore::open(&location)?;
    let report = crate::log::verify(&store, signers.as_ref());
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
            args.log
        )),
    }
}

/// A directory, or `s3://…` with the settings of the trust policy's backend
/// when it names the same bucket and prefix, else of the environment.
fn log_location(
    global: &Global,
    log: &str,
    policy: Option<&TrustPolicy>,
) -> miette::Result<crate::backend::LogLocation> {
    use crate::backend::{DEFAULT_LEASE, LogLocation, S3Settings};
    if !log.starts_with("s3://") {
        return Ok(LogLocation::Dir(PathBuf::from(log)));
    }
    let (bucket, prefix) = S3Settings::parse_url(log).map_err(|e| {
        miette::miette!(
            code = "nhi::log::url",
            help = "name a log in S3 as `s3://BUCKET/PREFIX`",
            "{e}"
        )
    })?;
    let configured = policy
        .and_then(|p| p.receipt_log.as_ref())
        .and_then(LogLocation::s3)
        .filter(|s| s.bucket == bucket && s.prefix == prefix);
    Ok(LogLocation::S3(configured.cloned().unwrap_or(S3Settings {
        bucket,
        prefix,
        region: None,
        endpoint_url: global.env.aws_endpoint_url.clone(),
        lease: DEFAULT_LEASE,
    })))
}
