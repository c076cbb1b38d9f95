//! The plan operation: load the configuration, read every scope's live state,
//! diff, add each provider's advice for reviewers, check file sinks and ask each
//! scope's preflight, and build the plan file. It returns values; callers (the
//! CLI, `drift`, and later import and audit) sign, write and render them. The
//! rest of `plan` is pure: this file does its I/O through `config`, `refresh`,
//! `minted` (the receipt log, with `--trust`) and `sink` only (and resolves the
//! configuration's directory).

use std::path::Path;
use std::time::{Duration, Instant};

use miette::Diagnostic;

use super::{BuildOptions, PlanFile, ScopeRead};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, Expired};
use crate::events::{Event, Events};
use crate::refresh::{RefreshError, Refreshed};
use crate::registry::Registry;
use crate::sink::SinkProblem;

/// What to plan, and how.
pub struct PlanOptions<'a> {
    /// The configuration file.
    pub config: &'a Path,
    /// Who plans, as recorded in the body (`--author`, or the signer).
    pub author: String,
    /// The planning clock (`NHI_NOW` fixes it).
    pub clock: Clock,
    /// How long the plan stays valid for apply.
    pub valid_for: jiff::SignedDuration,
    pub registry: &'a Registry,
    /// Progress of each scope's read.
    pub events: &'a dyn Events,
    /// Files that must never receive a secret besides each scope's own (the plan
    /// file being written).
    pub protected: crate::sink::Protected,
    /// Whether to check the file sinks of minting changes (`nhi plan`); a
    /// read-only look (`nhi drift`) mints nothing and skips it.
    pub check_sinks: bool,
    /// Whether a hard finding stops planning (`nhi plan`); a read-only look
    /// (`nhi drift`) reports it instead.
    pub enforce: bool,
    /// `--target` and `--replace`; empty for a full plan, which then skips
    /// selection entirely.
    pub request: &'a crate::diff::Request,
    /// The receipt log to check the providers' key records against (`nhi plan
    /// --trust`); `None` trusts them as they are, and the plan says so.
    pub key_log: Option<crate::minted::KeyLog<'a>>,
}

/// A plan and what it was made from.
pub struct Planned {
    pub config: Config,
    /// Each scope as read, in configuration order.
    pub refreshed: Vec<Refreshed>,
    /// The unsigned plan file.
    pub file: PlanFile,
    /// How long each phase took, in order: config, refresh, diff, plan.
    pub phases: Vec<(&'static str, Duration)>,
    /// Declared objects past their `expires` day that do not exist: the plan
    /// leaves them absent, so they appear in no change. Not part of the plan file.
    pub expired: Vec<Expired>,
    /// Whether the key records were checked against a receipt log that vouches
    /// for keys (one signed receipt at least). Not part of the plan file.
    pub keys_verified: bool,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum PlanningError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refresh(#[from] RefreshError),
    #[error("cannot start the async runtime: {0}")]
    #[diagnostic(code(nhi::plan::runtime))]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Rego(#[from] crate::policy::rego::RegoError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Select(#[from] crate::diff::SelectError),
    #[error("hashing the live state failed")]
    #[diagnostic(code(nhi::plan::digest))]
    Digest,
    #[error("cannot resolve the configuration's directory `{dir}`")]
    #[diagnostic(code(nhi::plan::config_dir))]
    ConfigDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} cannot receive the secret the plan would mint:\n{}", plural_sinks(problems.len()), list_sinks(problems))]
    #[diagnostic(
        code(nhi::plan::sink),
        help("fix each sink before planning again: an apply would fail there, after approval")
    )]
    Sinks { problems: Vec<SinkProblem> },
    #[error(
        "the live cloud refuses what the plan would do:\n{}",
        list_sinks(problems)
    )]
    #[diagnostic(
        code(nhi::plan::preflight),
        help("resolve each before planning again: an apply would fail there, after approval")
    )]
    Preflight { problems: Vec<SinkProblem> },
    #[error(
        "no plan is written: {} hard by the configuration's policy:\n{}",
        if findings.len() == 1 { "a finding is".to_owned() } else { format!("{} findings are", findings.len()) },
        findings.join("\n")
    )]
    #[diagnostic(
        code(nhi::plan::hard_finding),
        help(
            "change the configuration so the finding goes away, or add an exception with a justification and an expiry under `policy.exceptions`"
        )
    )]
    Blocked { findings: Vec<String> },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Revoked(#[from] crate::revoke::sticky::StickyError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    KeyLog(#[from] crate::log::LogError),
}

fn plural_sinks(n: usize) -> String {
    if n == 1 {
        "a secret sink".to_owned()
    } else {
        format!("{n} secret sinks")
    }
}

fn list_sinks(problems: &[SinkProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  `{}`: {}", p.address, p.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Plans the configuration at `options.config` against live state.
pub fn plan(options: &PlanOptions<'_>) -> Result<Planned, PlanningError> {
    let mut phases = Vec::new();
    let mut lap = Instant::now();
    let mut phase = |name: &'static str, phases: &mut Vec<(&'static str, Duration)>| {
        phases.push((name, lap.elapsed()));
        lap = Instant::now();
    };
    let registry = options.registry;
    // In a large configuration the provider blocks come first and are checked
    // first: a cloud's live state is read on another thread while the identities
    // are (see `ProviderType::read_beside_config`).
    options.events.event(Event::LoadStarted {
        path: options.config,
    });
    let (config, early) = std::thread::scope(|threads| {
        let mut early = None;
        let config = crate::config::load_with(options.config, registry, &mut |dir, blocks| {
            let blocks: Vec<_> = blocks
                .iter()
                .filter(|b| {
                    registry
                        .find(&b.type_name)
                        .is_some_and(nhi_provider_sdk::ProviderType::read_beside_config)
                })
                .cloned()
                .collect();
            if blocks.is_empty() {
                return;
            }
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            early = Some(threads.spawn(move || {
                let refreshed = crate::refresh::runtime().map(|runtime| {
                    runtime.block_on(crate::refresh::refresh_blocks(
                        registry,
                        &dir,
                        &blocks,
                        &crate::events::OnlyWaiting(options.events),
                        options.clock.now(),
                    ))
                });
                (blocks, refreshed)
            }));
        });
        (config, early.map(std::thread::ScopedJoinHandle::join))
    });
    options.events.event(Event::LoadFinished);
    let config = config?;
    let config_dir =
        std::fs::canonicalize(&config.dir).map_err(|source| PlanningError::ConfigDir {
            dir: config.dir.display().to_string(),
            source,
        })?;
    phase("config", &mut phases);
    let now = options.clock.now();
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
        crate::refresh::runtime()
            .map_err(PlanningError::Runtime)?
            .block_on(crate::refresh::refresh_blocks(
                registry,
                &config_dir,
                &rest,
                options.events,
                now,
            ))?
    };
    // In configuration order.
    let mut refreshed: Vec<_> = early.into_iter().chain(rest).collect();
    refreshed.sort_by_key(|r| config.providers.iter().position(|b| *b == r.block));
    // Which live key is which: the receipt log's record outranks the providers'.
    let minted = options.key_log.map(crate::minted::read).transpose()?;
    let keys_verified = minted
        .as_ref()
        .is_some_and(crate::diff::MintedKeys::verifies);
    let planted: Vec<crate::diff::Planted> = refreshed
        .iter_mut()
        .map(|r| match &minted {
            Some(minted) => crate::diff::recognise(
                &nhi_provider_sdk::Address::provider(&r.block.type_name, &r.block.name),
                &mut r.observed,
                minted,
            ),
            None => crate::diff::Planted::default(),
        })
        .collect();
    phase("refresh", &mut phases);
    let scopes: Vec<_> = refreshed
        .iter()
        .zip(&planted)
        .map(|(r, planted)| {
            let provider_type = registry.for_block(&r.block, &config_dir).ok();
            crate::diff::Scope {
                block: &r.block,
                observed: &r.observed,
                key_slots: provider_type.and_then(nhi_provider_sdk::ProviderType::key_slots),
                retire: provider_type.and_then(|t| t.retire_first(&r.block.settings)),
                planted,
            }
        })
        .collect();
    let request = options.request;
    if !request.is_empty() {
        crate::diff::check_request(&config, &scopes, request, &|prefix| {
            let block = config.providers.iter().find(|b| {
                nhi_provider_sdk::Address::provider(&b.type_name, &b.name).as_str() == prefix
            });
            block
                .and_then(|b| registry.for_block(b, &config_dir).ok())
                .is_none_or(nhi_provider_sdk::ProviderType::replaces_identities)
        })?;
    }
    // Hashing each scope's whole live state takes as long as a large diff: both
    // run at once.
    let (mut diff, digests) = std::thread::scope(|threads| {
        let digests = threads.spawn(|| {
            refreshed
                .iter()
                .map(|r| r.observed.digest())
                .collect::<Vec<_>>()
        });
        let diff = crate::diff::diff_replacing(&config, &scopes, now, &request.replace);
        (diff, digests.join())
    });
    let digests = digests.map_err(|_| PlanningError::Digest)?;
    // What a partial plan leaves out is still planned, not absent (see `expired`).
    let mut left_out = std::collections::BTreeSet::new();
    let selected = if request.is_empty() {
        None
    } else {
        left_out.extend(diff.changes.iter().map(|c| c.address.clone()));
        let selected = crate::diff::select(&mut diff, request)?;
        for change in &diff.changes {
            left_out.remove(&change.address);
        }
        Some(selected)
    };
    note_deleted(&mut diff, &refreshed);
    advise(registry, &config_dir, &mut diff, &refreshed);
    if options.enforce {
        // A plan may not undo a revocation (`nhi revoke`).
        let revocations = crate::revoke::sticky::load(&config_dir)?;
        crate::revoke::sticky::check(&diff.changes, &revocations)?;
    }
    if options.check_sinks {
        check_sinks(&config_dir, &diff.changes, &refreshed, &options.protected)?;
        // What only the live cloud can judge: names taken outside a scope,
        // provider sinks that are not nhi's to write.
        let mut problems = Vec::new();
        for r in &refreshed {
            let Some(request) = crate::refresh::preflight_request(&r.block, &diff.changes) else {
                continue;
            };
            // Connected afresh: a cloud read beside the configuration was read
            // in a runtime that is gone, and its clients' connections with it.
            let runtime = crate::refresh::runtime().map_err(PlanningError::Runtime)?;
            let provider = crate::refresh::connect(registry, &config_dir, &r.block)?;
            problems.extend(runtime.block_on(crate::refresh::preflight(
                &r.block,
                provider.as_ref(),
                request,
            ))?);
        }
        if !problems.is_empty() {
            return Err(PlanningError::Preflight { problems });
        }
    }
    phase("diff", &mut phases);
    let reads: Vec<_> = refreshed
        .iter()
        .zip(digests)
        .map(|(r, digest)| ScopeRead {
            block: &r.block,
            scope: r.scope.clone(),
            observed: &r.observed,
            observed_digest: Some(digest),
            plugin: registry
                .for_block(&r.block, &config_dir)
                .ok()
                .and_then(nhi_provider_sdk::ProviderType::plugin),
        })
        .collect();
    let build = BuildOptions {
        author: options.author.clone(),
        now,
        valid_for: options.valid_for,
        config_dir: config_dir.clone(),
    };
    let mut body = super::build(&config, &reads, diff, &build);
    if let Some(selected) = selected {
        body.set_selection(super::SelectionRecord {
            targets: request.targets.iter().cloned().collect(),
            replace: request.replace.iter().cloned().collect(),
            left_out: selected.left_out,
        });
    }
    let scopes = scope_inputs(
        registry,
        &config_dir,
        refreshed.iter().map(|r| (&r.block, &r.observed)),
    );
    // A partial plan leaves pruned identities in place: judged, as apply judges
    // every plan, from what the configuration does not declare.
    let rediscover = body.is_partial();
    body.findings = crate::policy::judge_body(&body, &scopes, Some(&config), rediscover);
    if !config.rego.is_empty() {
        let bundle = crate::policy::rego::Bundle::load(&config_dir, &config.rego)?;
        body.policy.rego = Some(bundle.record());
        let found = crate::policy::judge_rego(&bundle, &body, &config)?;
        crate::policy::merge(&mut body.findings, found);
    }
    if options.enforce {
        let blocking: Vec<String> = crate::policy::blocking(&body.findings)
            .map(|f| {
                format!(
                    "  `{}`: {} ({}): {}",
                    f.address, f.rule, f.severity, f.message
                )
            })
            .collect();
        if !blocking.is_empty() {
            return Err(PlanningError::Blocked { findings: blocking });
        }
    }
    let file = PlanFile::new(body);
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut expired = config.expired(today);
    if !expired.is_empty() {
        let changed: std::collections::BTreeSet<_> =
            file.body.changes.iter().map(|c| &c.address).collect();
        expired.retain(|e| !changed.contains(&e.address) && !left_out.contains(&e.address));
    }
    phase("plan", &mut phases);
    Ok(Planned {
        config,
        refreshed,
        file,
        phases,
        expired,
        keys_verified,
    })
}

/// Each scope as the governance gate judges it, by the type that serves its
/// block (configuration in `dir`): a plugin's handshake says whether it reports
/// key use.
pub(crate) fn scope_inputs<'a>(
    registry: &Registry,
    dir: &std::path::Path,
    scopes: impl Iterator<
        Item = (
            &'a crate::config::ProviderBlock,
            &'a nhi_provider_sdk::ObservedState,
        ),
    >,
) -> Vec<crate::policy::ScopeInput<'a>> {
    scopes
        .map(|(block, observed)| crate::policy::ScopeInput {
            prefix: nhi_provider_sdk::Address::provider(&block.type_name, &block.name),
            type_name: &block.type_name,
            reports_key_use: registry
                .for_block(block, dir)
                .is_ok_and(nhi_provider_sdk::ProviderType::reports_key_use),
            observed,
        })
        .collect()
}

/// Adds each provider type's warning for reviewers to the changes it concerns
/// (e.g. that deleting a Google Cloud service account becomes irreversible).
/// A declared identity deleted outside nhi is not merely new: its provider
/// reports it restorable, and creating another under its name is a different
/// identity. Such a creation is drift, and says what the provider found.
fn note_deleted(diff: &mut crate::diff::Diff, refreshed: &[Refreshed]) {
    for r in refreshed.iter().filter(|r| !r.deleted.is_empty()) {
        let prefix = nhi_provider_sdk::Address::provider(&r.block.type_name, &r.block.name);
        for (name, detail) in &r.deleted {
            let address = prefix.identity(name);
            if let Some(change) = diff.changes.iter_mut().find(|c| {
                c.address == address
                    && matches!(
                        c.operation,
                        nhi_provider_sdk::Operation::CreateIdentity { .. }
                    )
            }) {
                change.reason = crate::diff::Reason::Drift;
                change.detail = Some(detail.clone());
            }
        }
    }
}

fn advise(
    registry: &Registry,
    dir: &std::path::Path,
    diff: &mut crate::diff::Diff,
    refreshed: &[Refreshed],
) {
    let types: Vec<(String, &dyn nhi_provider_sdk::ProviderType)> = refreshed
        .iter()
        .filter_map(|r| {
            let prefix = format!("{}.{}", r.block.type_name, r.block.name);
            registry.for_block(&r.block, dir).ok().map(|t| (prefix, t))
        })
        .collect();
    // One request per scope: a plugin answers every change in one round trip.
    let mut advice: Vec<Option<&'static str>> = vec![None; diff.changes.len()];
    for (prefix, provider_type) in &types {
        let (at, operations): (Vec<usize>, Vec<&nhi_provider_sdk::Operation>) = diff
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.address.provider_prefix() == prefix)
            .map(|(i, c)| (i, &c.operation))
            .unzip();
        if operations.is_empty() {
            continue;
        }
        for (i, found) in at.into_iter().zip(provider_type.advise(&operations)) {
            advice[i] = found;
        }
    }
    for (change, advice) in diff.changes.iter_mut().zip(advice) {
        if let Some(advice) = advice {
            change.detail = Some(match change.detail.take() {
                Some(detail) => format!("{detail}. {advice}"),
                None => advice.to_owned(),
            });
        }
    }
}

/// Checks the file sinks of every minting change now, so that an apply that
/// would fail at one is known before anyone approves it.
fn check_sinks(
    dir: &Path,
    changes: &[crate::diff::Change],
    refreshed: &[Refreshed],
    protected: &crate::sink::Protected,
) -> Result<(), PlanningError> {
    if !changes.iter().any(|c| {
        c.operation.creates_key() && matches!(c.sink, Some(nhi_provider_sdk::Sink::File(_)))
    }) {
        return Ok(());
    }
    let prefixes: Vec<String> = refreshed
        .iter()
        .map(|r| nhi_provider_sdk::Address::provider(&r.block.type_name, &r.block.name).to_string())
        .collect();
    let scopes: Vec<_> = prefixes
        .iter()
        .zip(refreshed)
        .map(|(p, r)| (p.as_str(), &r.observed))
        .collect();
    let retiring = crate::sink::Retiring::new(&scopes, changes);
    let mut protected = protected.clone();
    for r in refreshed {
        for file in &r.files {
            protected.add(format!("file of scope `{}`", r.block.name), file);
        }
    }
    let problems = crate::sink::check_plan(dir, changes, &retiring, &protected);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PlanningError::Sinks { problems })
    }
}
