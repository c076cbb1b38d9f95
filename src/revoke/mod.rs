//! `nhi revoke`, the kill path: act now on the live estate, without a reviewed
//! plan, but only to reduce access. Authorise every key against the trust
//! policy's `revoke` bar before any provider call, lock each scope as apply
//! does, read the live objects through the one read path, run [`Reduction`]s
//! only (each checked by [`reduce::reduces`] right before the call), and write
//! a signed [`record::RevocationBody`] into the configuration's
//! `.nhi/revocations/` and the receipt log. [`sticky`] makes later plans honour
//! it.

mod error;
pub mod patch;
pub mod record;
pub mod reduce;
pub mod sticky;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nhi_provider_sdk::{
    Address, ApplyRequest, Digest, KeyStatus, LockGuard, LockRequest, ObservedState, Provider,
    ProviderError,
};

pub use error::RevokeError;
pub use record::{RevocationBody, RevocationFile, RevokedObject, Target};
pub use reduce::Reduction;

use crate::config::ProviderBlock;
use crate::registry::Registry;
use crate::trust::{AllowedSigners, Role, Signer, TrustPolicy};

/// Everything a revocation needs.
pub struct RevokeOptions<'a> {
    /// The configuration file: its provider blocks say how to reach each scope,
    /// and its directory keeps the records.
    pub config: &'a Path,
    pub addresses: &'a [Address],
    pub reason: &'a str,
    pub policy: &'a TrustPolicy,
    pub signers: &'a AllowedSigners,
    /// The signing keys: how the user named each, the signer, its principal.
    pub keys: &'a [(String, Signer, String)],
    /// Revoke sessions already issued where the provider has them; `None`: the
    /// default, on.
    pub sessions: Option<bool>,
    /// The real clock: sessions issued before it are revoked.
    pub now: jiff::Timestamp,
    pub lock_timeout: Duration,
    pub registry: &'a Registry,
}

/// What a revocation did.
#[derive(Debug)]
pub struct Revoked {
    pub record: RevocationFile,
    /// The record in the configuration's `.nhi/revocations/`.
    pub path: PathBuf,
    /// The record's copy in the receipt log, when one is kept.
    pub logged: Option<String>,
    /// What the user must know: a key deleted where it could not be deactivated,
    /// sessions a provider does not have.
    pub notes: Vec<String>,
}

/// One scope a revocation touches.
struct Scope {
    block: ProviderBlock,
    provider: Box<dyn Provider>,
    before: ObservedState,
}

/// Revokes `options.addresses`; see the module documentation.
pub async fn revoke(options: &RevokeOptions<'_>) -> Result<Revoked, RevokeError> {
    let reason = options.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || !record::printable(reason) {
        return Err(RevokeError::Reason);
    }
    let principals = authorise(options)?;
    let config = crate::config::load_with(options.config, options.registry, &mut |_, _| {})?;
    let config_dir = std::fs::canonicalize(&config.dir).map_err(|e| RevokeError::Record {
        path: config.dir.display().to_string(),
        detail: e.to_string(),
    })?;
    // Connect, lock and read each scope the addresses name, in the order named.
    let mut scopes: Vec<Scope> = Vec::new();
    let mut guards: Vec<Box<dyn LockGuard>> = Vec::new();
    let actor = principals[0].clone();
    // With the S3 backend each scope's shared lease comes first, as at apply.
    let log = options
        .policy
        .receipt_log
        .as_ref()
        .map(crate::log::LogStore::open)
        .transpose()?;
    let holder = crate::backend::lease::Holder::new(&actor, None);
    let mut shared = Vec::new();
    for address in options.addresses {
        let prefix = address.provider_prefix();
        if scopes.iter().any(|s| prefix_of(&s.block) == prefix) {
            continue;
        }
        let block = config
            .providers
            .iter()
            .find(|b| prefix_of(b) == prefix)
            .ok_or_else(|| RevokeError::UnknownScope {
                address: address.to_string(),
            })?
            .clone();
        let provider = crate::refresh::connect(options.registry, &config_dir, &block)?;
        crate::refresh::describe(&block, provider.as_ref()).await?;
        if let Some(bucket) = log.as_ref().and_then(crate::log::LogStore::s3) {
            shared.push(
                crate::backend::lease::acquire(bucket, prefix, &holder, options.lock_timeout)
                    .await?,
            );
        }
        guards.push(lock(provider.as_ref(), &block, &actor, options.lock_timeout).await?);
        let (before, _) = crate::refresh::read(&block, provider.as_ref(), options.now).await?;
        scopes.push(Scope {
            block,
            provider,
            before,
        });
    }
    // Everything is resolved before the first change: an unknown address changes
    // nothing.
    let mut planned = Vec::new();
    for address in options.addresses {
        let scope = scopes
            .iter()
            .position(|s| prefix_of(&s.block) == address.provider_prefix())
            .expect("invariant: every address's scope was read");
        let (target, steps) = resolve(
            address,
            &scopes[scope],
            options.sessions.unwrap_or(true),
            options.now,
        )?;
        planned.push((scope, address.clone(), target, steps));
    }
    // A log with a break refuses before anything changes, as at apply.
    let append = match &log {
        Some(store) => Some(crate::log::begin(store, &holder, options.lock_timeout).await?),
        None => None,
    };
    for lease in &shared {
        lease.fence()?;
    }
    let mut notes = Vec::new();
    let mut objects = Vec::new();
    let mut failure = None;
    'objects: for (scope, address, target, steps) in planned {
        let scope = &scopes[scope];
        let mut actions = Vec::new();
        for step in steps {
            match run(scope, &step).await {
                Ok(()) => actions.push(step.verb().to_owned()),
                Err(ProviderError::Unsupported(detail)) => match step {
                    Reduction::DeactivateKey { identity, key } => {
                        let delete = Reduction::DeleteKey { identity, key };
                        notes.push(format!(
                            "note: {detail}: `{address}` was deleted instead of deactivated"
                        ));
                        if let Err(e) = run(scope, &delete).await {
                            failure = Some((address.clone(), e.to_string()));
                        } else {
                            actions.push(delete.verb().to_owned());
                        }
                    }
                    _ => notes.push(format!("note: `{address}`: {detail}")),
                },
                Err(e) => failure = Some((address.clone(), e.to_string())),
            }
            if failure.is_some() {
                objects.push((scope, address, target, actions));
                break 'objects;
            }
        }
        objects.push((scope, address, target, actions));
    }
    // The fingerprints before and after, read again through the one read path.
    let mut after_states = HashMap::new();
    for (i, scope) in scopes.iter().enumerate() {
        if let Ok((state, _)) =
            crate::refresh::read(&scope.block, scope.provider.as_ref(), options.now).await
        {
            after_states.insert(i, state);
        }
    }
    let objects = objects
        .into_iter()
        .map(|(scope, address, target, actions)| {
            let index = scopes
                .iter()
                .position(|s| std::ptr::eq(s, scope))
                .expect("invariant: a scope of the list");
            RevokedObject {
                before: fingerprint(&scope.before, &address, &target),
                after: after_states
                    .get(&index)
                    .and_then(|s| fingerprint(s, &address, &target)),
                address,
                target,
                actions,
            }
        })
        .collect();
    let mut body = RevocationBody {
        format_version: record::REVOCATION_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        reason: reason.to_owned(),
        actor: actor.clone(),
        revoked_at: options.now,
        objects,
        chain: None,
    };
    body.chain = append.as_ref().map(|a| a.link.clone());
    let mut file = RevocationFile::new(body);
    for ((_, signer, _), principal) in options.keys.iter().zip(&principals) {
        let signature = crate::trust::sign(
            signer,
            crate::trust::RECEIPT_NAMESPACE,
            Role::Applier,
            principal,
            file.digest,
            crate::clock::system_now(),
            None,
        )?;
        file.signatures.push(signature);
    }
    let path = store(&config_dir, &file)?;
    let logged = match append {
        Some(append) => {
            let signer = options.keys.first().map(|(_, s, _)| (s, actor.as_str()));
            Some(append.commit_entry(
                &file.encode(),
                file.digest,
                file.body.chain.as_ref(),
                signer,
            )?)
        }
        None => None,
    };
    drop(guards);
    drop(shared);
    if let Some((address, detail)) = failure {
        return Err(RevokeError::Failed {
            address: address.to_string(),
            detail,
            record: path.display().to_string(),
        });
    }
    Ok(Revoked {
        record: file,
        path,
        logged,
        notes,
    })
}

fn prefix_of(block: &ProviderBlock) -> String {
    format!("{}.{}", block.type_name, block.name)
}

/// Checks every key against the `revoke` bar before anything else happens: it
/// signs a probe, the probe must verify against the allowed signers as the
/// key's principal, and that principal must be one of `revoke.signers`.
/// Returns the principals, in the keys' order.
fn authorise(options: &RevokeOptions<'_>) -> Result<Vec<String>, RevokeError> {
    let bar = options
        .policy
        .revoke
        .as_ref()
        .ok_or_else(|| RevokeError::NoBar {
            policy: options.policy.path.display().to_string(),
        })?;
    let mut probe = format!("nhi-revoke-probe\n{}\n{}\n", options.now, options.reason);
    for address in options.addresses {
        probe.push_str(address.as_str());
        probe.push('\n');
    }
    let digest = Digest::of(probe.as_bytes());
    let mut principals = Vec::new();
    for (shown, signer, principal) in options.keys {
        let refuse = |detail: String| RevokeError::NotAllowed {
            key: shown.clone(),
            detail,
        };
        let record = crate::trust::sign(
            signer,
            crate::trust::RECEIPT_NAMESPACE,
            Role::Applier,
            principal,
            digest,
            options.now,
            None,
        )?;
        let (good, failure) = crate::trust::judge_receipt(&digest, &[record], options.signers);
        if let Some(failure) = failure {
            return Err(refuse(failure.to_string()));
        }
        let Some(good) = good.into_iter().next() else {
            return Err(refuse("its signature did not verify".into()));
        };
        let principal = good.statement.principal;
        if !bar.signers.contains(&principal) {
            return Err(refuse(format!(
                "principal `{principal}` is not one of the trust policy's `revoke.signers` ({})",
                bar.signers
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !principals.contains(&principal) {
            principals.push(principal);
        }
    }
    if principals.len() < bar.required {
        return Err(RevokeError::UnderSigned {
            got: principals.len(),
            required: bar.required,
        });
    }
    Ok(principals)
}

/// Tried once at once, then for `timeout`, as apply locks.
async fn lock(
    provider: &dyn Provider,
    block: &ProviderBlock,
    holder: &str,
    timeout: Duration,
) -> Result<Box<dyn LockGuard>, RevokeError> {
    let request = |timeout| LockRequest {
        holder: holder.to_owned(),
        timeout,
    };
    let guard = match provider.lock(request(Duration::ZERO)).await {
        Err(ProviderError::Locked { .. }) if !timeout.is_zero() => {
            provider.lock(request(timeout)).await
        }
        attempt => attempt,
    };
    guard.map_err(|source| RevokeError::Locked {
        scope: prefix_of(block),
        source,
    })
}

/// The live object at `address` and the steps that revoke it.
fn resolve(
    address: &Address,
    scope: &Scope,
    sessions: bool,
    now: jiff::Timestamp,
) -> Result<(Target, Vec<Reduction>), RevokeError> {
    let prefix = Address::raw(&prefix_of(&scope.block));
    let session_step = |identity: &str| {
        sessions.then(|| Reduction::RevokeSessions {
            identity: identity.to_owned(),
            issued_before: now,
        })
    };
    for have in &scope.before.identities {
        let name = &have.identity.name;
        let at = prefix.identity(name);
        if *address == at {
            let mut steps: Vec<Reduction> = have
                .keys
                .iter()
                .filter(|k| k.status == KeyStatus::Active)
                .map(|key| Reduction::DeactivateKey {
                    identity: name.clone(),
                    key: key.clone(),
                })
                .collect();
            if scope.block.type_name == "gcp"
                || have.identity.attributes.contains_key(reduce::DISABLED)
            {
                steps.push(Reduction::DisableIdentity {
                    before: have.identity.clone(),
                });
            }
            steps.extend(session_step(name));
            return Ok((
                Target::Identity {
                    identity: name.clone(),
                },
                steps,
            ));
        }
        if *address == at.holdings() {
            return Err(RevokeError::Unsupported {
                address: address.to_string(),
                what: "everything an identity holds".into(),
            });
        }
        for (key_at, key) in crate::diff::key_addresses(&at, &have.keys) {
            if *address == key_at {
                let mut steps = vec![Reduction::DeactivateKey {
                    identity: name.clone(),
                    key: key.clone(),
                }];
                steps.extend(session_step(name));
                let target = Target::Key {
                    identity: name.clone(),
                    name: key.name.clone(),
                    id: key.id.clone(),
                };
                return Ok((target, steps));
            }
        }
        for binding in &have.bindings {
            if *address == at.binding(&binding.role, &binding.resource) {
                let target = Target::Binding {
                    identity: name.clone(),
                    role: binding.role.clone(),
                    resource: binding.resource.clone(),
                };
                if reduce::denies(binding) {
                    // Detaching a deny (a guardrail, an earlier revoke's
                    // session deny) widens access: that is a reviewed plan's job.
                    return Err(RevokeError::Unsupported {
                        address: address.to_string(),
                        what: "a binding whose policy denies: detaching it grants access".into(),
                    });
                }
                let step = Reduction::DetachBinding {
                    identity: name.clone(),
                    binding: binding.clone(),
                };
                return Ok((target, vec![step]));
            }
        }
    }
    Err(RevokeError::NotFound {
        address: address.to_string(),
    })
}

/// Asks the provider for one step, after checking again that it only reduces.
async fn run(scope: &Scope, step: &Reduction) -> Result<(), ProviderError> {
    let operation = step.operation();
    if !reduce::reduces(&operation) {
        return Err(ProviderError::Other(
            RevokeError::NotAReduction {
                provider: prefix_of(&scope.block),
                operation: format!("{operation:?}"),
            }
            .to_string(),
        ));
    }
    scope
        .provider
        .apply(ApplyRequest {
            operation,
            sink: None,
            progress: nhi_provider_sdk::ProgressSink::default(),
        })
        .await
        .map(drop)
}

/// The fingerprint of the revoked object in `state` (`None`: absent). A key
/// is found by its id, whatever address it has now.
fn fingerprint(state: &ObservedState, address: &Address, target: &Target) -> Option<Digest> {
    let have = state
        .identities
        .iter()
        .find(|i| i.identity.name == target.identity())?;
    match target {
        Target::Key { id, .. } => have
            .keys
            .iter()
            .find(|k| k.id == *id)
            .map(nhi_provider_sdk::ObservedKey::fingerprint),
        Target::Identity { .. } | Target::Binding { .. } => {
            let names: HashSet<&str> = std::iter::once(target.identity()).collect();
            let prefix = Address::raw(address.provider_prefix());
            crate::diff::fingerprints(&prefix, state, &names)
                .get(address)
                .copied()
        }
    }
}

/// Writes the record into `<config dir>/.nhi/revocations/`, never over a file.
fn store(config_dir: &Path, file: &RevocationFile) -> Result<PathBuf, RevokeError> {
    let dir = config_dir.join(sticky::DIR);
    let fail = |path: &Path, e: std::io::Error| RevokeError::Record {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
    let stamp = file.body.revoked_at.strftime("%Y%m%dT%H%M%SZ");
    let hex = file.digest.to_string();
    let short = hex.trim_start_matches("sha256:").get(..12).unwrap_or("");
    let path = dir.join(format!("{stamp}-{short}.revocation.json"));
    file.store_new(&path).map_err(|e| fail(&path, e))?;
    Ok(path)
}
