//! `nhi plan`: refresh, diff, and print or save the plan.

use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::plan::{PlanFile, PlanOptions, ScopeRead};

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Write the plan file here (for `nhi sign`, `nhi approve`, `nhi apply`)
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Print the plan as JSON (see schemas/plan-json.schema.json) instead of text
    #[arg(long)]
    json: bool,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    detailed_exitcode: bool,

    /// How long the plan stays valid for apply
    #[arg(long, value_name = "AGE", default_value = "24h")]
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
}

pub(crate) fn run(global: &Global, args: &PlanArgs) -> miette::Result<Outcome> {
    let started = std::time::Instant::now();
    let mut phases: Vec<(&str, f64)> = Vec::new();
    let mut lap = std::time::Instant::now();
    let mut phase = |name: &'static str, phases: &mut Vec<(&str, f64)>| {
        phases.push((name, lap.elapsed().as_secs_f64()));
        lap = std::time::Instant::now();
    };
    let spinner = crate::render::spinner(format!("reading {}", global.config.display()));
    // In a large configuration the provider blocks come first and are checked
    // first: a cloud's live state is read on another thread while the identities
    // are (see `ProviderType::read_beside_config`).
    let (config, early) = std::thread::scope(|threads| {
        let mut early = None;
        let config = crate::config::load_with(&global.config, &mut |dir, blocks| {
            let blocks: Vec<_> = blocks
                .iter()
                .filter(|b| {
                    crate::registry::find(&b.type_name)
                        .is_some_and(nhi_provider_sdk::ProviderType::read_beside_config)
                })
                .cloned()
                .collect();
            if blocks.is_empty() {
                return;
            }
            let dir = dir.to_path_buf();
            early = Some(threads.spawn(move || {
                let refreshed = super::runtime().map(|runtime| {
                    runtime.block_on(crate::refresh::refresh_blocks(&dir, &blocks, false))
                });
                (blocks, refreshed)
            }));
        });
        (config, early.map(std::thread::ScopedJoinHandle::join))
    });
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let config = config?;
    phase("config", &mut phases);
    let now = super::now()?;
    let early = match early {
        Some(Ok((blocks, Ok(refreshed))))
            if blocks.iter().all(|b| config.providers.contains(b)) =>
        {
            refreshed?
        }
        _ => Vec::new(),
    };
    let rest: Vec<_> = config
        .providers
        .iter()
        .filter(|block| !early.iter().any(|r| r.block == **block))
        .cloned()
        .collect();
    let rest = if rest.is_empty() {
        Vec::new()
    } else {
        super::runtime()?.block_on(crate::refresh::refresh_blocks(&config.dir, &rest, true))?
    };
    // In configuration order.
    let mut refreshed: Vec<_> = early.into_iter().chain(rest).collect();
    refreshed.sort_by_key(|r| config.providers.iter().position(|b| *b == r.block));
    phase("refresh", &mut phases);
    if global.verbose {
        for r in &refreshed {
            crate::render::note(&format!(
                "{}.{}: {} identities observed in {} API call{}",
                r.block.type_name,
                r.block.name,
                r.observed.identities.len(),
                r.api_calls,
                if r.api_calls == 1 { "" } else { "s" }
            ));
        }
    }
    let scopes: Vec<_> = refreshed
        .iter()
        .map(|r| {
            let provider_type = crate::registry::find(&r.block.type_name);
            crate::diff::Scope {
                block: &r.block,
                observed: &r.observed,
                key_slots: provider_type.and_then(nhi_provider_sdk::ProviderType::key_slots),
                retire: provider_type.and_then(|t| t.retire_first(&r.block.settings)),
            }
        })
        .collect();
    // Hashing each scope's whole live state takes as long as a large diff: both
    // run at once.
    let (mut diff, digests) = std::thread::scope(|threads| {
        let digests = threads.spawn(|| {
            refreshed
                .iter()
                .map(|r| r.observed.digest())
                .collect::<Vec<_>>()
        });
        let diff = crate::diff::diff(&config, &scopes, now);
        (diff, digests.join())
    });
    let digests = digests.map_err(|_| miette::miette!("hashing the live state failed"))?;
    advise(&mut diff, &refreshed);
    phase("diff", &mut phases);
    let reads: Vec<_> = refreshed
        .iter()
        .zip(digests)
        .map(|(r, digest)| ScopeRead {
            block: &r.block,
            scope: r.scope.clone(),
            observed: &r.observed,
            observed_digest: Some(digest),
        })
        .collect();
    let signer = match &args.sign_key {
        Some(key) => {
            let signer = crate::trust::Signer::open(key)?;
            let principal = crate::trust::principal_for(&signer, args.principal.as_deref())?;
            Some((signer, principal))
        }
        None => None,
    };
    // Without `--author`, a signed plan names its signer as author.
    let author = match (&args.author, &signer) {
        (None, Some((_, principal))) => principal.clone(),
        _ => author(args.author.as_deref()),
    };
    let options = PlanOptions {
        author,
        now,
        valid_for: args.valid_for.as_duration(),
    };
    let mut file = PlanFile::new(crate::plan::build(&config, &reads, diff, &options));
    phase("plan", &mut phases);
    if let Some(out) = &args.out {
        if let Some((signer, principal)) = &signer {
            super::sign::sign_file(
                &mut file,
                out,
                signer,
                principal,
                crate::trust::Role::Author,
                None,
            )?;
        }
        file.write(out)?;
    }
    let rendered = if args.json {
        let mut text = serde_json::to_string_pretty(&crate::render::json::plan(&file))
            .map_err(|e| miette::miette!("{e}"))?;
        text.push('\n');
        text
    } else {
        crate::render::text::plan(&file.body, global.painter)
    };
    crate::render::stdout(&rendered).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    phase("write", &mut phases);
    if let Some(out) = &args.out {
        crate::render::note(&format!(
            "Saved the plan to `{}` (digest `{}`).",
            out.display(),
            file.digest
        ));
        if file.body.has_changes() {
            crate::render::note(&format!(
                "Next: `nhi sign {0}` or `nhi approve {0}`, then `nhi apply {0}`.",
                out.display()
            ));
        }
    }
    if global.verbose {
        let laps: Vec<String> = phases
            .iter()
            .map(|(name, secs)| format!("{name} {secs:.3} s"))
            .collect();
        crate::render::note(&format!(
            "planned in {:.3} s ({})",
            started.elapsed().as_secs_f64(),
            laps.join(", ")
        ));
    }
    let changes = file.body.has_changes();
    // The process ends here: freeing a large estate and configuration piece by
    // piece costs time (about 0.4 s at 100,000 identities) and returns nothing
    // the OS does not reclaim at exit.
    std::mem::forget((config, refreshed, file));
    Ok(if args.detailed_exitcode && changes {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}

fn author(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("NHI_AUTHOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Adds each provider type's warning for reviewers to the changes it concerns
/// (e.g. that deleting a Google Cloud service account becomes irreversible).
fn advise(diff: &mut crate::diff::Diff, refreshed: &[crate::refresh::Refreshed]) {
    let types: Vec<(String, &dyn nhi_provider_sdk::ProviderType)> = refreshed
        .iter()
        .filter_map(|r| {
            let prefix = format!("{}.{}", r.block.type_name, r.block.name);
            crate::registry::find(&r.block.type_name).map(|t| (prefix, t))
        })
        .collect();
    for change in &mut diff.changes {
        let prefix = change.address.provider_prefix();
        let advice = types
            .iter()
            .find(|(p, _)| p == prefix)
            .and_then(|(_, t)| t.advice(&change.operation));
        if let Some(advice) = advice {
            change.detail = Some(match change.detail.take() {
                Some(detail) => format!("{detail}. {advice}"),
                None => advice.to_owned(),
            });
        }
    }
}
