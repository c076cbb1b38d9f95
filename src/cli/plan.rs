//! `nhi plan`: refresh, diff, and print or save the plan.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use nhi_provider_sdk::Address;

use super::{Global, Outcome};
use crate::plan::PlanOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Write the plan file here (for `nhi sign`, `nhi approve`, `nhi apply`)
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Print the plan as JSON (see schemas/plan-json.schema.json) instead of text
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// Output format: text, JSON, or SARIF 2.1.0 (the findings, for code scanning)
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    detailed_exitcode: bool,

    /// How long the plan stays valid for apply
    #[arg(long, value_name = "AGE", default_value = "24h", value_parser = age)]
    valid_for: nhi_provider_sdk::Age,

    /// Who is planning [default: $NHI_AUTHOR, then $USER]
    #[arg(long)]
    author: Option<String>,

    /// Sign the saved plan as its author with this key (needs `--out`)
    #[arg(long, value_name = "KEY", requires = "out")]
    sign_key: Option<PathBuf>,

    /// Principal to sign as [default: the key's comment]
    #[arg(long, requires = "sign_key")]
    principal: Option<String>,

    /// Replace the file `--out` names even when it holds a plan carrying approvals
    #[arg(long, requires = "out")]
    force: bool,

    /// Plan only this object and what it depends on (repeatable): an address as
    /// the plan shows it, e.g. `local.demo/identity/ci` (with its keys and
    /// bindings) or `.../key/primary`. The plan is partial and says so; for
    /// emergencies
    #[arg(long, value_name = "ADDRESS")]
    target: Vec<String>,

    /// Rotate this live key, or replace this identity with what it holds,
    /// although nothing else calls for it (repeatable), e.g. a leaked key:
    /// `local.demo/identity/ci/key/primary`
    #[arg(long, value_name = "ADDRESS")]
    replace: Vec<String>,

    /// Trust policy whose receipt log tells which live keys nhi minted
    /// [default: $NHI_TRUST; without either, the providers' key records are
    /// trusted as they are]
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
}

pub(crate) fn run(global: &Global, args: &PlanArgs) -> miette::Result<Outcome> {
    let started = std::time::Instant::now();
    let clock = crate::clock::Clock::from_setting(global.env.now.as_deref())?;
    if let Some(out) = &args.out
        && !args.force
    {
        refuse_to_overwrite_approvals(out)?;
    }
    let signer = match &args.sign_key {
        Some(key) => {
            let signer = global.env.signer(key)?;
            let principal = crate::trust::principal_for(&signer, args.principal.as_deref())?;
            Some((signer, principal))
        }
        None => None,
    };
    // Without `--author`, a signed plan names its signer as author.
    let author = match (&args.author, &signer) {
        (Some(author), _) => author.clone(),
        (None, Some((_, principal))) => principal.clone(),
        (None, None) => global.env.user(),
    };
    let request = crate::diff::Request {
        targets: args.target.iter().map(|a| Address::raw(a)).collect(),
        replace: args.replace.iter().map(|a| Address::raw(a)).collect(),
    };
    let trust = key_trust(global, args.trust.as_deref())?;
    let key_log = key_log(trust.as_ref());
    let progress = crate::render::progress::Progress::default();
    let mut protected = crate::sink::Protected::default();
    if let Some(out) = &args.out {
        protected.add("plan file", out);
    }
    let planned = crate::plan::plan(&PlanOptions {
        config: &global.config,
        author,
        clock,
        valid_for: args.valid_for.as_duration(),
        registry: crate::registry::Registry::builtin(),
        events: &progress,
        protected,
        check_sinks: true,
        enforce: true,
        request: &request,
        key_log,
    });
    let mut planned = planned?;
    if global.verbose {
        for r in &planned.refreshed {
            crate::render::note(&format!(
                "{}.{}: {} observed in {}",
                r.block.type_name,
                r.block.name,
                super::count(r.observed.identities.len(), "identity", "identities"),
                super::count(r.api_calls, "API call", "API calls"),
            ));
        }
    }
    let lap = std::time::Instant::now();
    let file = &mut planned.file;
    if let Some(out) = &args.out {
        if let Some((signer, principal)) = &signer {
            super::sign::sign_file(
                file,
                out,
                signer,
                principal,
                crate::trust::Role::Author,
                None,
            )?;
        }
        file.write(out)?;
    }
    let format = if args.json {
        Format::Json
    } else {
        args.format.unwrap_or(Format::Text)
    };
    let rendered = match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&crate::render::json::plan(file))
                .map_err(|e| miette::miette!("{e}"))?;
            text.push('\n');
            text
        }
        Format::Sarif => {
            // Read again only here: the plan path keeps no spans of the file.
            let anchors = Some(crate::config::Anchors::load(&planned.config.path));
            crate::render::sarif::text(
                &file.body.findings,
                &crate::render::sarif::Source {
                    config_path: &file.body.config.path,
                    anchors: anchors.as_ref(),
                    tool_version: &file.body.tool_version,
                },
            )
        }
        Format::Text => crate::render::text::plan(&file.body, global.painter),
    };
    crate::render::stdout(&rendered).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    planned.phases.push(("write", lap.elapsed()));
    crate::render::expired_note(&planned.expired);
    if !planned.keys_verified
        && planned
            .file
            .body
            .changes
            .iter()
            .any(|c| c.operation.live_key().is_some())
    {
        crate::render::note(&unverified_note(trust.as_ref()));
    }
    if let Some(out) = &args.out {
        crate::render::note(&format!(
            "Saved the plan to `{}` (digest `{}`).",
            out.display(),
            planned.file.digest
        ));
        if planned.file.body.has_changes() {
            // A plan signed here needs approvals, not a second author signature.
            let next = if signer.is_some() {
                "Next: `nhi approve {0}`, then `nhi apply {0}`."
            } else {
                "Next: `nhi sign {0}` or `nhi approve {0}`, then `nhi apply {0}`."
            };
            crate::render::note(&next.replace("{0}", &out.display().to_string()));
        }
    }
    if global.verbose {
        crate::render::note(&crate::render::timings(
            "planned in",
            started.elapsed(),
            &planned.phases,
        ));
    }
    let changes = planned.file.body.has_changes();
    // The process ends here: freeing a large estate and configuration piece by
    // piece costs time (about 0.4 s at 100,000 identities) and returns nothing
    // the OS does not reclaim at exit.
    std::mem::forget(planned);
    Ok(if args.detailed_exitcode && changes {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}

/// Approvals are work of other people: a plan carrying any is not replaced
/// without `--force`. Checked before planning, so a refusal costs nothing.
fn refuse_to_overwrite_approvals(out: &std::path::Path) -> miette::Result<()> {
    // Anything unreadable or no plan holds no approvals to lose.
    let Ok(bytes) = crate::sealed::read_bounded(out, crate::plan::MAX_PLAN_BYTES) else {
        return Ok(());
    };
    let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Ok(());
    };
    if envelope.get("nhi_plan").is_none() {
        return Ok(());
    }
    let approvals = envelope
        .get("signatures")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("statement")?.as_str())
        .filter(|s| {
            crate::trust::Statement::parse(s).is_ok_and(|s| s.role == crate::trust::Role::Approver)
        })
        .count();
    if approvals == 0 {
        return Ok(());
    }
    Err(miette::miette!(
        code = "nhi::plan::would_overwrite_approvals",
        help = "write the new plan to another file, or pass `--force` to replace this one and lose its approvals",
        "`{}` holds a plan carrying {}",
        out.display(),
        super::count(approvals, "approval", "approvals")
    ))
}

/// `--valid-for`: an age, with the units spelt out when it is not one.
fn age(text: &str) -> Result<nhi_provider_sdk::Age, String> {
    text.parse().map_err(|e| {
        format!("{e}: write a whole number and a unit, one of s, m, h, d or w (`24h`, `7d`)")
    })
}

/// The trust policy whose receipt log says which keys nhi minted: `--trust`,
/// else `$NHI_TRUST`, with its allowed signers. The home default is not read:
/// a plan's view of the keys must not depend on whose machine it runs.
pub(super) fn key_trust(
    global: &Global,
    flag: Option<&std::path::Path>,
) -> miette::Result<Option<(crate::trust::TrustPolicy, crate::trust::AllowedSigners)>> {
    let Some(path) = flag.or(global.env.trust.as_deref()) else {
        return Ok(None);
    };
    let policy = crate::trust::TrustPolicy::load(path)?;
    let signers = crate::trust::AllowedSigners::read(&policy.allowed_signers)?;
    Ok(Some((policy, signers)))
}

pub(super) fn key_log(
    trust: Option<&(crate::trust::TrustPolicy, crate::trust::AllowedSigners)>,
) -> Option<crate::minted::KeyLog<'_>> {
    let (policy, signers) = trust?;
    Some(crate::minted::KeyLog {
        location: policy.receipt_log.as_ref()?,
        signers,
    })
}

/// Why the plan could not check which live key is which, and what to do.
fn unverified_note(
    trust: Option<&(crate::trust::TrustPolicy, crate::trust::AllowedSigners)>,
) -> String {
    let why = match trust {
        None => {
            "pass `--trust` with the trust policy whose receipt log records the keys nhi minted"
        }
        Some((policy, _)) if policy.receipt_log.is_none() => {
            "the trust policy keeps no `receipt_log`, which records the keys nhi minted"
        }
        Some(_) => "the receipt log holds no receipt signed by an applier yet (`nhi apply --key`)",
    };
    format!(
        "note: the key records are unverified: which live key is which comes from each \
         provider's record (tags, descriptions), which anyone allowed to write them can forge; \
         {why} (apply checks them against its log before the first change)"
    )
}
