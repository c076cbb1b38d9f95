//! Apply's connect and lock steps: every scope of the plan connected with the
//! settings it was planned with (refused if the plugin or the scope they reach
//! is not the planned one), then locked, with the shared lease first where the
//! trust policy keeps state on S3.

use std::path::Path;
use std::time::Duration;

use nhi_provider_sdk::{LockGuard, LockRequest};

use super::{ApplyError, ApplyOptions, Connected};
use crate::config::ProviderBlock;
use crate::events::Event;
use crate::plan::ScopeRecord;

/// Connects every scope in plan order, checking that each reaches what the plan
/// says, and adds the files each scope reads or writes to `protected`.
pub(super) async fn scopes<'a>(
    scopes: &'a [ScopeRecord],
    base: &Path,
    options: &ApplyOptions<'_>,
    protected: &mut crate::sink::Protected,
) -> Result<Connected<'a>, ApplyError> {
    let mut providers: Connected<'a> = Vec::new();
    for scope in scopes {
        let block = block_of(scope);
        let provider = crate::refresh::connect(options.registry, base, &block)?;
        let running = options
            .registry
            .for_block(&block, base)
            .ok()
            .and_then(nhi_provider_sdk::ProviderType::plugin);
        if running != scope.plugin {
            let shown = |p: &Option<nhi_provider_sdk::plugin::PluginRecord>| {
                p.as_ref().map_or_else(
                    || "none".to_owned(),
                    |p| {
                        format!(
                            "`{} {}` ({}, `{}`)",
                            p.name, p.version, p.protocol, p.digest
                        )
                    },
                )
            };
            return Err(ApplyError::PluginMismatch {
                scope: scope.provider.clone(),
                planned: shown(&scope.plugin),
                actual: shown(&running),
            });
        }
        // What reviewers read about a scope must be what these settings reach.
        let actual = crate::refresh::describe(&block, provider.as_ref()).await?;
        if actual.scope != scope.scope {
            return Err(ApplyError::ScopeMismatch {
                scope: scope.provider.clone(),
                planned: scope.scope.clone(),
                actual: actual.scope,
            });
        }
        for file in &actual.files {
            protected.add(format!("file of scope `{}`", block.name), file);
        }
        providers.push((scope, block, provider));
    }
    Ok(providers)
}

/// Takes every connected scope's own lock, in plan order.
pub(super) async fn lock(
    providers: &[(
        &ScopeRecord,
        ProviderBlock,
        Box<dyn nhi_provider_sdk::Provider>,
    )],
    options: &ApplyOptions<'_>,
) -> Result<Vec<Box<dyn LockGuard>>, ApplyError> {
    let mut guards: Vec<Box<dyn LockGuard>> = Vec::new();
    for (scope, _, provider) in providers {
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
    Ok(guards)
}

/// Takes the shared lease of each scope in `names`, in order; tried once at
/// once, so that a wait can say whom it waits for.
pub(super) async fn shared_leases(
    bucket: &std::sync::Arc<crate::backend::s3::Bucket>,
    names: &[&str],
    holder: &crate::backend::lease::Holder,
    options: &ApplyOptions<'_>,
) -> Result<Vec<crate::backend::Lease>, ApplyError> {
    use crate::backend::lease;
    let mut leases = Vec::new();
    for name in names {
        let lease = match lease::acquire(bucket, name, holder, Duration::ZERO).await {
            Err(crate::backend::LockError::Held { holder: other, .. })
                if !options.lock_timeout.is_zero() =>
            {
                options.events.event(Event::Warning(&format!(
                    "waiting up to {}s for the shared lock of `{name}`, held by `{other}`",
                    options.lock_timeout.as_secs(),
                )));
                lease::acquire(bucket, name, holder, options.lock_timeout).await
            }
            attempt => attempt,
        }?;
        leases.push(lease);
    }
    Ok(leases)
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
