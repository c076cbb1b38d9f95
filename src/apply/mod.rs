//! Apply: verify the plan and its approvals, check the configuration, lock every
//! scope, re-read live state and refuse a stale plan, execute the changes in
//! order, deliver key material to its sinks, and write a receipt. Every check
//! runs before the first change; a refusal changes nothing.

mod error;
mod sink;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nhi_provider_sdk::{Address, ApplyRequest, Digest, LockGuard, LockRequest, Provider};

pub use error::ApplyError;
pub use sink::StdoutWriter;

use crate::config::ProviderBlock;
use crate::events::{Event, Events};
use crate::plan::{PlanFile, ScopeRecord, Touched};
use crate::receipt::{
    ChangeOutcome, Outcome, RECEIPT_FORMAT_VERSION, ReceiptBody, ReceiptFile, Status,
};
use crate::registry::Registry;
use crate::trust::{AllowedSigners, Role, Signer, TrustError, TrustPolicy};

/// Everything apply needs besides the plan.
pub struct ApplyOptions<'a> {
    pub policy: &'a TrustPolicy,
    pub signers: &'a AllowedSigners,
    /// The real clock.
    pub now: jiff::Timestamp,
    /// Compare the configuration on disk with the plan's digest.
    pub check_config: bool,
    /// Where `sink: stdout` writes key material; `None` refuses such plans.
    pub stdout_secrets: Option<StdoutWriter<'a>>,
    pub lock_timeout: Duration,
    /// Who applies, for the lock and the receipt.
    pub applier: String,
    pub receipt_path: PathBuf,
    /// Signs the receipt when given.
    pub receipt_signer: Option<&'a Signer>,
    /// Directory relative paths in provider settings resolve against.
    pub base_dir: PathBuf,
    /// The provider types the plan's scopes may name.
    pub registry: &'a Registry,
    /// Progress: each change as it starts and ends, and warnings.
    pub events: &'a dyn Events,
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

/// Steps 3–10 of apply; the plan file was already parsed and its digest checked.
pub async fn apply(file: &PlanFile, options: &ApplyOptions<'_>) -> Result<Applied, Refusal> {
    let body = &file.body;
    // 3–5: signatures, trust policy, expiry.
    let (_, failure) = crate::trust::judge_plan(
        body,
        &file.digest,
        &file.signatures,
        options.policy,
        options.signers,
        options.now,
    );
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    // 6: the configuration the plan came from.
    if options.check_config {
        check_config(&body.config.path, body.config.digest)?;
    }
    let phase = |name| options.events.event(Event::PhaseFinished { name });
    phase("verify");
    // 7: connect and lock every scope, in plan order.
    let mut providers: Vec<(&ScopeRecord, ProviderBlock, Box<dyn Provider>)> = Vec::new();
    for scope in &body.scopes {
        let block = block_of(scope);
        let provider = crate::refresh::connect(options.registry, &options.base_dir, &block)
            .map_err(ApplyError::from)?;
        // What reviewers read about a scope must be what these settings reach.
        let actual = crate::refresh::describe(&block, provider.as_ref())
            .await
            .map_err(ApplyError::from)?;
        if actual != scope.scope {
            return Err(ApplyError::ScopeMismatch {
                scope: scope.provider.clone(),
                planned: scope.scope.clone(),
                actual,
            }
            .into());
        }
        providers.push((scope, block, provider));
    }
    phase("connect");
    let mut guards: Vec<Box<dyn LockGuard>> = Vec::new();
    for (scope, _, provider) in &providers {
        let request = |timeout| LockRequest {
            holder: options.applier.clone(),
            timeout,
        };
        // Tried once at once, so that a wait can say whom it waits for.
        let guard = match provider.lock(request(Duration::ZERO)).await {
            Err(nhi_provider_sdk::ProviderError::Locked { holder })
                if !options.lock_timeout.is_zero() =>
            {
                options.events.event(Event::Warning(&format!(
                    "waiting up to {}s for the scope lock of `{}`, held by {holder}",
                    options.lock_timeout.as_secs(),
                    scope.provider
                )));
                provider.lock(request(options.lock_timeout)).await
            }
            attempt => attempt,
        };
        let guard = guard.map_err(|source| ApplyError::Locked {
            scope: scope.provider.clone(),
            source,
        })?;
        guards.push(guard);
    }
    phase("lock");
    // 8: re-read and compare every touched object.
    let before = observe(&providers, &body.touched).await?;
    let stale = stale_objects(&body.touched, &before);
    if !stale.is_empty() {
        return Err(ApplyError::Stale { objects: stale }.into());
    }
    phase("read");
    if !body.has_changes() {
        return Ok(Applied::NothingToDo);
    }
    // Sinks are checked before the first change, so no key is minted whose secret
    // has nowhere to go.
    sink::preflight(
        &body.changes,
        options.stdout_secrets.is_some(),
        options.registry,
    )?;
    // 9: execute in order; stop at the first failure.
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
    for (index, change) in body.changes.iter().enumerate() {
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
        let request = ApplyRequest {
            operation: change.operation.clone(),
            sink: change.sink.clone(),
        };
        let result = provider.apply(request).await;
        let outcome = &mut outcomes[index];
        match result {
            Ok(response) => {
                outcome.status = Status::Completed;
                outcome.new_key_id = response
                    .new_key_id
                    .clone()
                    .or_else(|| response.secret.as_ref().map(|s| s.key_id.clone()));
                if let Some(Err(e)) = deliver_local(change, response.secret, options) {
                    outcome.status = Status::Failed;
                    outcome.error = Some(e);
                }
            }
            Err(e) => {
                outcome.status = Status::Failed;
                outcome.error = Some(e.to_string());
            }
        }
        let ok = outcome.status != Status::Failed;
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
    phase("apply");
    // 10: the receipt, with what the touched objects look like now.
    let after = observe(&providers, &body.touched).await.unwrap_or_default();
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
        outcome: if failed.is_some() {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        },
        changes: outcomes,
        observed_after,
    };
    let mut receipt = ReceiptFile::new(receipt);
    let receipt_error = |detail: String| ApplyError::Receipt {
        path: options.receipt_path.display().to_string(),
        detail,
    };
    if let Some(signer) = options.receipt_signer {
        let record = crate::trust::sign(
            signer,
            crate::trust::RECEIPT_NAMESPACE,
            Role::Applier,
            &options.applier,
            receipt.digest,
            crate::clock::system_now(),
            None,
        )
        .map_err(|e| receipt_error(e.to_string()))?;
        receipt.signatures.push(record);
    }
    receipt
        .store(&options.receipt_path)
        .map_err(|e| receipt_error(e.to_string()))?;
    phase("receipt");
    if let Some((index, detail)) = failed {
        return Err(ApplyError::ChangeFailed {
            index: index + 1,
            total: body.changes.len(),
            address: body.changes[index].address.to_string(),
            detail,
            receipt: options.receipt_path.display().to_string(),
        }
        .into());
    }
    Ok(Applied::Applied {
        changes: body.changes.len(),
        receipt: options.receipt_path.clone(),
    })
}

/// Delivers key material the provider handed back to the change's local sink.
/// `None` when the change has no local sink (nothing minted, or the provider
/// delivered it to its own sink).
fn deliver_local(
    change: &crate::diff::Change,
    secret: Option<nhi_provider_sdk::SecretMaterial>,
    options: &ApplyOptions<'_>,
) -> Option<Result<(), String>> {
    let sink = change.sink.as_ref().filter(|s| s.is_local())?;
    let Some(secret) = secret else {
        return Some(Err(
            "the provider created a key but returned no key material for the sink".to_owned(),
        ));
    };
    let delivered = sink::deliver(
        sink,
        &change.address,
        &secret,
        options.stdout_secrets,
        options.events,
    );
    Some(delivered.map_err(|e| {
        format!("key `{}` was created but its secret could not be delivered ({e}); the secret is lost: delete the key", secret.key_id)
    }))
}

fn check_config(path: &str, planned: Digest) -> Result<(), ApplyError> {
    let bytes = std::fs::read(Path::new(path)).map_err(|_| ApplyError::ConfigMissing {
        path: path.to_owned(),
    })?;
    let actual = Digest::of(&bytes);
    if actual != planned {
        return Err(ApplyError::ConfigChanged {
            path: path.to_owned(),
            planned: planned.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// The provider block a plan's scope record was planned from, as apply connects it.
fn block_of(scope: &ScopeRecord) -> ProviderBlock {
    let (type_name, name) = scope
        .provider
        .split_once('.')
        .expect("invariant: checked plans name scopes `<type>.<name>`");
    ProviderBlock {
        name: name.to_owned(),
        type_name: type_name.to_owned(),
        prune: scope.prune,
        settings: scope.settings.clone(),
    }
}

/// Current fingerprints of the touched objects (absent objects are missing from the map).
async fn observe(
    providers: &[(&ScopeRecord, ProviderBlock, Box<dyn Provider>)],
    touched: &[Touched],
) -> Result<HashMap<Address, Digest>, ApplyError> {
    let mut out = HashMap::new();
    for (scope, block, provider) in providers {
        let names: HashSet<String> = touched
            .iter()
            .filter(|t| t.address.provider_prefix() == scope.provider)
            .filter_map(|t| t.address.identity_name())
            .collect();
        if names.is_empty() {
            continue;
        }
        let (state, _) = crate::refresh::read(block, provider.as_ref()).await?;
        let prefix = Address::raw(&scope.provider);
        out.extend(crate::diff::fingerprints(&prefix, &state, &names));
    }
    Ok(out)
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
