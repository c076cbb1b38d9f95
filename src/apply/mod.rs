//! Apply: verify the plan and its approvals, check the configuration, lock every
//! scope, re-read live state and refuse a stale plan, check every sink, execute
//! the changes in order (journalled), deliver key material to its sinks, and
//! write a receipt. Every check runs before the first change; a refusal changes
//! nothing. Paths resolve against the configuration directory the plan records.

mod complete;
mod connect;
mod error;
mod execute;
mod gate;
pub mod journal;
mod minted;
mod receipt;
mod sink;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nhi_provider_sdk::{Address, Digest, ObservedState, Provider};

pub use error::ApplyError;
pub use sink::StdoutWriter;

use crate::config::ProviderBlock;
use crate::events::{Event, Events};
use crate::plan::{PlanFile, ScopeRecord, Touched};
use crate::receipt::{ChangeOutcome, RECEIPT_FORMAT_VERSION, ReceiptBody, Status};
use crate::registry::Registry;
use crate::trust::{AllowedSigners, Signer, TrustError, TrustPolicy};

/// Everything apply needs besides the plan.
pub struct ApplyOptions<'a> {
    pub policy: &'a TrustPolicy,
    pub signers: &'a AllowedSigners,
    /// Detached approvals given beside the plan (`--signatures`), judged with
    /// the plan's own signatures.
    pub approvals: &'a [crate::trust::DetachedApproval],
    /// The real clock.
    pub now: jiff::Timestamp,
    /// Compare the configuration on disk with the plan's digest.
    pub check_config: bool,
    /// Where `sink: stdout` writes key material; `None` refuses such plans.
    pub stdout_secrets: Option<StdoutWriter<'a>>,
    pub lock_timeout: Duration,
    /// Who applies, for the lock and the receipt.
    pub applier: String,
    /// Where the receipt goes; never over an existing file. The journal goes
    /// beside it (`journal::path_for`).
    pub receipt_path: PathBuf,
    /// Signs the receipt when given.
    pub receipt_signer: Option<&'a Signer>,
    /// The plan file applied, which no sink may overwrite.
    pub plan_path: Option<PathBuf>,
    /// The provider types the plan's scopes may name.
    pub registry: &'a Registry,
    /// Progress: each change as it starts and ends, and warnings.
    pub events: &'a dyn Events,
    /// Set (on SIGINT or SIGTERM) to stop before the next change; the receipt
    /// then says the apply was interrupted.
    pub stop: Option<&'a AtomicBool>,
}

/// What apply did.
#[derive(Debug)]
pub enum Applied {
    NothingToDo,
    Applied { changes: usize, receipt: PathBuf },
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Refusal {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] ApplyError),
}

type Connected<'a> = Vec<(&'a ScopeRecord, ProviderBlock, Box<dyn Provider>)>;

/// Steps 3–10 of apply; the plan file was already parsed and its digest checked.
pub async fn apply(file: &PlanFile, options: &ApplyOptions<'_>) -> Result<Applied, Refusal> {
    let body = &file.body;
    // 3–5: signatures, trust policy, expiry.
    let gathered =
        crate::trust::detached::join(&file.digest, &file.signatures, options.approvals, false)
            .map_err(|e| TrustError::Approval(Box::new(e)))?;
    for skipped in &gathered.skipped {
        options.events.event(Event::Warning(&format!(
            "warning: skipped approval `{}`: {}",
            skipped.file.display(),
            skipped.reason
        )));
    }
    let (_, failure) = crate::trust::detached::judge(
        body,
        &file.digest,
        &gathered,
        options.policy,
        options.signers,
        options.now,
    );
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    // Whoever applies must not take a partial plan for a full one either.
    if let Some(selection) = body.selection.as_ref().filter(|_| body.is_partial()) {
        let targets: Vec<String> = selection
            .targets
            .iter()
            .map(|t| format!("`{}`", t.as_str().escape_debug()))
            .collect();
        options.events.event(Event::Warning(&format!(
            "applying a partial plan: only {} and what {} on, {} other change{} of the configuration left out",
            targets.join(", "),
            if targets.len() == 1 { "it depends" } else { "they depend" },
            selection.left_out,
            if selection.left_out == 1 { "" } else { "s" }
        )));
    }
    // Everything relative resolves against the directory the plan was made in,
    // wherever apply runs from.
    let base = PathBuf::from(&body.config.dir);
    // 6: the configuration the plan came from.
    if options.check_config {
        check_config(&base, &body.config.path, body.config.digest)?;
    }
    let phase = |name| options.events.event(Event::PhaseFinished { name });
    phase("verify");
    // 7: connect and lock every scope, in plan order.
    let mut protected = crate::sink::Protected::default();
    protected.add("receipt", &options.receipt_path);
    protected.add("apply journal", &journal::path_for(&options.receipt_path));
    if let Some(plan) = &options.plan_path {
        protected.add("plan file", plan);
    }
    let providers = connect::scopes(&body.scopes, &base, options, &mut protected).await?;
    phase("connect");
    // With the S3 backend each scope's shared lease is taken first, before the
    // provider's own lock: it is what keeps appliers on other machines out.
    let store = options
        .policy
        .receipt_log
        .as_ref()
        .map(crate::log::LogStore::open)
        .transpose()
        .map_err(ApplyError::from)?;
    let holder = crate::backend::lease::Holder::new(&options.applier, Some(file.digest));
    let shared = match store.as_ref().and_then(crate::log::LogStore::s3) {
        Some(bucket) => {
            let names: Vec<&str> = providers
                .iter()
                .map(|(s, _, _)| s.provider.as_str())
                .collect();
            connect::shared_leases(bucket, &names, &holder, options).await?
        }
        None => Vec::new(),
    };
    let guards = connect::lock(&providers, options).await?;
    phase("lock");
    // Which live key is which comes from the receipt log where one is kept,
    // not from the providers' records (which anyone with tag write can forge).
    let minted = match &store {
        Some(store) => {
            Some(crate::minted::read_from(store, options.signers).map_err(ApplyError::from)?)
        }
        None => None,
    };
    // 8: re-read and compare every touched object.
    // Every scope is read, not only those the changes touch: the governance
    // gate judges the whole estate again.
    let (before, states, planted) = observe(
        &providers,
        &body.touched,
        true,
        minted.as_ref(),
        options.now,
    )
    .await?;
    // A plan made without the log may take a planted key for nhi's: refused
    // with what it got wrong, before the stale check would only say "changed".
    minted::check(&body.changes, &states, &planted)?;
    let stale = stale_objects(&body.touched, &before);
    if !stale.is_empty() {
        return Err(ApplyError::Stale { objects: stale }.into());
    }
    phase("read");
    if !body.has_changes() {
        return Ok(Applied::NothingToDo);
    }
    // A plan approved before a revocation, or planned without its record, may
    // not undo it: the records beside the configuration and in the receipt log.
    let revocations =
        crate::revoke::sticky::gather(&base, store.as_ref()).map_err(ApplyError::from)?;
    crate::revoke::sticky::check(&body.changes, &revocations).map_err(ApplyError::from)?;
    gate::check(body, &base, options, &providers, &states)?;
    phase("judge");
    // Sinks are checked before the first change, so no key is minted whose secret
    // has nowhere to go.
    let scopes: Vec<(&str, &ObservedState)> = states.iter().map(|(p, s)| (p.as_str(), s)).collect();
    let retiring = crate::sink::Retiring::new(&scopes, &body.changes);
    sink::preflight(
        &body.changes,
        options.stdout_secrets.is_some(),
        options.registry,
        (&base, &retiring, &protected),
    )?;
    let mut problems = Vec::new();
    for (_, block, provider) in &providers {
        if let Some(request) = crate::refresh::preflight_request(block, &body.changes) {
            problems.extend(
                crate::refresh::preflight(block, provider.as_ref(), request)
                    .await
                    .map_err(ApplyError::from)?,
            );
        }
    }
    if !problems.is_empty() {
        return Err(ApplyError::Preflight { problems }.into());
    }
    // The receipt log is locked for the whole apply, so the receipt's place in it
    // is known and nobody else appends meanwhile; a log with a break refuses
    // before anything changes.
    let append = match &store {
        Some(store) => Some(
            crate::log::begin(store, &holder, options.lock_timeout)
                .await
                .map_err(ApplyError::from)?,
        ),
        None => None,
    };
    // Fenced: a holder paused past its leases since it took them stops here.
    for lease in &shared {
        lease.fence().map_err(ApplyError::from)?;
    }
    let journal_path = journal::path_for(&options.receipt_path);
    let mut journal = journal::Journal::create(
        journal_path.clone(),
        file.digest,
        &options.applier,
        body.changes.len(),
    )
    .map_err(|e| ApplyError::Journal {
        path: journal_path.display().to_string(),
        detail: e.to_string(),
    })?;
    // 9: execute in order; stop at the first failure, or when asked to stop.
    let started_at = crate::clock::system_now();
    options.events.event(Event::ApplyStarted {
        total: body.changes.len(),
    });
    let mut outcomes: Vec<ChangeOutcome> = body
        .changes
        .iter()
        .map(|c| ChangeOutcome {
            address: c.address.clone(),
            action: c.action,
            status: Status::NotAttempted,
            error: None,
            new_key_id: None,
        })
        .collect();
    let mut failed = None;
    let mut interrupted = None;
    for (index, change) in body.changes.iter().enumerate() {
        if options.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            interrupted = Some(index);
            break;
        }
        options.events.event(Event::ChangeStarted {
            index,
            address: &change.address,
            action: change.action,
        });
        let provider = &providers
            .iter()
            .find(|(s, _, _)| s.provider == change.address.provider_prefix())
            .expect("invariant: checked plans only address their own scopes")
            .2;
        let _ = journal.step(index, &change.address, "started", None, None);
        let subject = change.address.to_string();
        let result = crate::events::relayed(options.events, &subject, |progress| {
            let journal = &mut journal;
            let (base, retiring) = (&base, &retiring);
            async move {
                let cx = execute::Context {
                    provider: provider.as_ref(),
                    base,
                    retiring,
                    options,
                    progress,
                };
                execute::execute(&cx, journal, index, change).await
            }
        })
        .await;
        let outcome = &mut outcomes[index];
        match result {
            Ok(new_key_id) => {
                outcome.status = Status::Completed;
                outcome.new_key_id = new_key_id;
                let _ = journal.step(index, &change.address, "completed", None, None);
            }
            Err(e) => {
                let (status, step) = if e.unknown {
                    (Status::Unknown, "unknown")
                } else {
                    (Status::Failed, "failed")
                };
                let _ = journal.step(index, &change.address, step, None, Some(&e.error));
                outcome.status = status;
                outcome.error = Some(e.error);
                outcome.new_key_id = e.minted;
            }
        }
        let ok = outcome.status == Status::Completed;
        options.events.event(Event::ChangeFinished {
            index,
            address: &change.address,
            action: change.action,
            ok,
        });
        if !ok {
            failed = Some((index, outcome.error.clone().unwrap_or_default()));
            break;
        }
    }
    options.events.event(Event::ApplyFinished);
    if failed.is_none() && interrupted.is_none() {
        // Every key the plan retires is gone: so are the secrets kept for them.
        #[cfg(unix)]
        for change in body.changes.iter().filter(|c| c.operation.creates_key()) {
            if let Some(nhi_provider_sdk::Sink::File(path)) = &change.sink {
                crate::sink::forget_previous(&base, path);
            }
        }
    }
    phase("apply");
    // 10: the receipt, with what the touched objects look like now: the keys
    // this apply minted are nhi's, as the receipt is about to say.
    let minted = minted.map(|mut minted| {
        if options.receipt_signer.is_some() {
            minted.vouch_from(started_at);
        }
        for outcome in &outcomes {
            if let Some(id) = &outcome.new_key_id {
                minted.record(&outcome.address, id);
            }
        }
        minted
    });
    let after = observe(
        &providers,
        &body.touched,
        false,
        minted.as_ref(),
        options.now,
    )
    .await
    .map(|(after, _, _)| after)
    .unwrap_or_default();
    drop(guards);
    let observed_after = body
        .touched
        .iter()
        .map(|t| Touched {
            address: t.address.clone(),
            fingerprint: after.get(&t.address).copied(),
        })
        .collect();
    let receipt = ReceiptBody {
        format_version: RECEIPT_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        plan_digest: file.digest,
        applier: options.applier.clone(),
        started_at,
        finished_at: crate::clock::system_now(),
        outcome: receipt::overall(&outcomes, failed.is_some(), interrupted.is_some()),
        changes: outcomes,
        observed_after,
        chain: append.as_ref().map(|a| a.link.clone()),
    };
    let receipt = receipt::write(receipt, options)?;
    journal.finish();
    if let Some(append) = append {
        let signer = options
            .receipt_signer
            .map(|s| (s, options.applier.as_str()));
        append.commit(&receipt, signer).map_err(ApplyError::from)?;
    }
    // Held until the receipt is in the log, so that whoever takes a scope
    // next reads a log that already holds it.
    drop(shared);
    phase("receipt");
    let receipt_shown = options.receipt_path.display().to_string();
    if let Some((index, detail)) = failed {
        return Err(ApplyError::ChangeFailed {
            index: index + 1,
            total: body.changes.len(),
            address: body.changes[index].address.to_string(),
            detail,
            receipt: receipt_shown,
        }
        .into());
    }
    if let Some(done) = interrupted {
        return Err(ApplyError::Interrupted {
            done,
            total: body.changes.len(),
            receipt: receipt_shown,
        }
        .into());
    }
    Ok(Applied::Applied {
        changes: body.changes.len(),
        receipt: options.receipt_path.clone(),
    })
}

/// The configuration the plan names, read from the directory the plan records,
/// with every file it includes.
fn check_config(base: &Path, path: &str, planned: Digest) -> Result<(), ApplyError> {
    let name = Path::new(path).file_name().unwrap_or_default();
    let actual = crate::config::digest_of(&base.join(name)).map_err(|source| match source {
        crate::config::ConfigError::Read { .. } => ApplyError::ConfigMissing {
            path: path.to_owned(),
        },
        source => ApplyError::ConfigInvalid {
            path: path.to_owned(),
            source: Box::new(source),
        },
    })?;
    if actual != planned {
        return Err(ApplyError::ConfigChanged {
            path: path.to_owned(),
            planned: planned.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// What [`observe`] read: fingerprints of the touched objects, each scope's live
/// state and its planted keys, by provider prefix.
type Observed = (
    HashMap<Address, Digest>,
    Vec<(String, ObservedState)>,
    Vec<(String, crate::diff::Planted)>,
);

/// Current fingerprints of the touched objects (absent objects are missing from
/// the map), and the live state of each scope read, by provider prefix, its
/// keys recognised by `minted` when a receipt log is kept.
async fn observe(
    providers: &Connected<'_>,
    touched: &[Touched],
    every_scope: bool,
    minted: Option<&crate::diff::MintedKeys>,
    now: jiff::Timestamp,
) -> Result<Observed, ApplyError> {
    let mut out = HashMap::new();
    let mut states = Vec::new();
    let mut planted = Vec::new();
    for (scope, block, provider) in providers {
        let names: HashSet<String> = touched
            .iter()
            .filter(|t| t.address.provider_prefix() == scope.provider)
            .filter_map(|t| t.address.identity_name())
            .collect();
        if names.is_empty() && !every_scope {
            continue;
        }
        let (mut state, _) = crate::refresh::read(block, provider.as_ref(), now).await?;
        let prefix = Address::raw(&scope.provider);
        if let Some(minted) = minted {
            let found = crate::diff::recognise(&prefix, &mut state, minted);
            planted.push((scope.provider.clone(), found));
        }
        out.extend(crate::diff::fingerprints(&prefix, &state, &names));
        states.push((scope.provider.clone(), state));
    }
    Ok((out, states, planted))
}

fn stale_objects(touched: &[Touched], now: &HashMap<Address, Digest>) -> Vec<String> {
    touched
        .iter()
        .filter_map(|t| match (t.fingerprint, now.get(&t.address)) {
            (Some(a), Some(b)) if a == *b => None,
            (None, None) => None,
            (Some(_), Some(_)) => Some(format!("  `{}` changed", t.address)),
            (Some(_), None) => Some(format!("  `{}` was deleted", t.address)),
            (None, Some(_)) => Some(format!("  `{}` now exists", t.address)),
        })
        .collect()
}
