//! The connected `local` provider: one estate file, read on demand, kept parsed in
//! memory between applies while no other process rewrites it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, DescribeResponse, LockGuard, LockRequest, ObservedIdentity,
    ObservedState, Provider, ProviderError, ReadRequest, ReadResponse, RecordKeyRequest,
};

use crate::estate::{self, Stamp};
use crate::{keygen, lock, ops};

/// A provider for one estate file.
pub struct LocalProvider {
    shared: Arc<Shared>,
}

struct Shared {
    /// The `state` setting as the user wrote it, for messages.
    state: String,
    /// `state` resolved against the configuration's directory.
    path: PathBuf,
    cache: Mutex<Option<Cached>>,
}

/// The estate as of the file version `stamp` (`None`: no file).
struct Cached {
    stamp: Option<Stamp>,
    identities: Vec<ObservedIdentity>,
}

impl LocalProvider {
    /// A provider for the estate at `state`, resolved against `base_dir` when relative.
    pub fn new(state: &str, base_dir: &Path) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: state.to_owned(),
                path: base_dir.join(state),
                cache: Mutex::new(None),
            }),
        }
    }

    /// The resolved path of the estate file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs blocking file work off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, ProviderError> + Send + 'static,
    ) -> Result<T, ProviderError> {
        let shared = Arc::clone(&self.shared);
        match tokio::task::spawn_blocking(move || work(&shared)).await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(ProviderError::Other(format!(
                "the local provider's file task stopped: {err}"
            ))),
        }
    }
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, Option<Cached>> {
        // A panic mid-apply may have left the cache half-changed: forget it.
        self.cache.lock().unwrap_or_else(|poisoned| {
            let mut cache = poisoned.into_inner();
            *cache = None;
            self.cache.clear_poison();
            cache
        })
    }

    fn read(&self) -> Result<Vec<ObservedIdentity>, ProviderError> {
        {
            let cache = self.cache();
            if let Some(cached) = cache.as_ref()
                && estate::current_stamp(&self.path)? == cached.stamp
            {
                return Ok(cached.identities.clone());
            }
        }
        // Not cached: reads for planning stay at one parse, with no copy kept.
        estate::load(&self.path).map(|(_, identities)| identities)
    }

    /// The estate file itself: a symbolic link at `path` is followed, so the
    /// estate it names is rewritten in place instead of forked beside the link.
    fn real_path(&self) -> Result<PathBuf, ProviderError> {
        nhi_provider_sdk::files::real_path(&self.path).map_err(|err| {
            ProviderError::io(
                format!(
                    "estate file `{}` is a symbolic link that leads nowhere",
                    self.state
                ),
                err,
            )
        })
    }

    fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        let operation = request.operation;
        self.change(|identities| ops::execute(identities, operation, &mut keygen::new_key))
    }

    fn record_key(&self, request: &RecordKeyRequest) -> Result<(), ProviderError> {
        self.change(|identities| {
            ops::record_key(identities, &request.identity, &request.key, &request.key_id)
        })
        .map(drop)
    }

    /// Runs `change` on the estate as of the file now, and writes it if it changed.
    fn change(
        &self,
        change: impl FnOnce(&mut Vec<ObservedIdentity>) -> Result<ops::Outcome, ProviderError>,
    ) -> Result<ApplyResponse, ProviderError> {
        let mut cache = self.cache();
        let fresh = match cache.as_ref() {
            Some(cached) => estate::current_stamp(&self.path)? == cached.stamp,
            None => false,
        };
        if !fresh {
            *cache = None;
            let (stamp, identities) = estate::load(&self.path)?;
            *cache = Some(Cached { stamp, identities });
        }
        let cached = cache
            .as_mut()
            .expect("invariant: the cache was filled above");
        let outcome = change(&mut cached.identities)?;
        if outcome.changed {
            let stored = self
                .real_path()
                .and_then(|real| estate::store(&real, &cached.identities));
            match stored {
                Ok(stamp) => cached.stamp = Some(stamp),
                Err(err) => {
                    // Memory is ahead of the file now; the next call reads the file again.
                    *cache = None;
                    return Err(err);
                }
            }
        }
        let new_key_id = outcome.secret.as_ref().map(|s| s.key_id.clone());
        Ok(ApplyResponse {
            secret: outcome.secret,
            new_key_id,
        })
    }
}

#[async_trait]
impl Provider for LocalProvider {
    async fn describe(&self) -> Result<DescribeResponse, ProviderError> {
        let real = self.shared.real_path()?;
        let mut scope = format!("estate file `{}`", self.shared.state);
        // Where a link leads is part of the scope: a link changed after planning
        // makes apply refuse the plan as reaching another scope.
        if real != self.shared.path {
            scope = format!("{scope} (a link to `{}`)", real.display());
        }
        Ok(DescribeResponse {
            scope,
            files: vec![lock::lock_path(&real), real],
        })
    }

    async fn read(&self, _request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let identities = self.blocking(Shared::read).await?;
        Ok(ReadResponse {
            state: ObservedState { identities },
            api_calls: 1,
            deleted: Vec::new(),
        })
    }

    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError> {
        lock::acquire(&lock::lock_path(&self.shared.real_path()?), &request).await
    }

    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        self.blocking(move |shared| shared.apply(request)).await
    }

    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError> {
        self.blocking(move |shared| shared.record_key(&request))
            .await
    }
}

#[cfg(test)]
mod tests;
