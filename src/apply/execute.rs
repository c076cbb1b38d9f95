//! Carrying out one planned change on its provider, and minting: a new key's
//! secret is delivered and the key recorded under its name before anything that
//! depends on it (a rotation's deletion of the old key) happens.

use std::path::Path;

use nhi_provider_sdk::{
    ApplyRequest, KeyStatus, ObservedKey, Operation, Provider, RecordKeyRequest, Sink,
};

use super::ApplyOptions;
use super::journal::Journal;
use crate::diff::Change;
use crate::sink::Retiring;

/// Where a change runs and what it may touch.
pub(super) struct Context<'a> {
    pub provider: &'a dyn Provider,
    pub base: &'a Path,
    pub retiring: &'a Retiring<'a>,
    pub options: &'a ApplyOptions<'a>,
    /// Where the provider reports what the change waits for.
    pub progress: nhi_provider_sdk::ProgressSink,
}

/// A change that failed, and the id of the key it minted when that key lives
/// on with its secret delivered (the receipt records it, so the receipt log
/// knows the key as nhi's).
pub(super) struct Failed {
    pub error: String,
    pub minted: Option<String>,
    /// Whether the provider broke after the change was sent, so nobody knows
    /// whether it happened.
    pub unknown: bool,
}

impl From<String> for Failed {
    fn from(error: String) -> Self {
        Self {
            error,
            minted: None,
            unknown: false,
        }
    }
}

impl From<nhi_provider_sdk::ProviderError> for Failed {
    fn from(error: nhi_provider_sdk::ProviderError) -> Self {
        Self {
            unknown: error.outcome_unknown(),
            error: error.to_string(),
            minted: None,
        }
    }
}

/// Carries out change `index`; returns the id of a key it minted.
pub(super) async fn execute(
    cx: &Context<'_>,
    journal: &mut Journal,
    index: usize,
    change: &Change,
) -> Result<Option<String>, Failed> {
    match &change.operation {
        Operation::CreateKey { identity, key } => {
            mint(cx, journal, index, change, identity, key, None).await
        }
        Operation::RotateKey {
            identity,
            key,
            old,
            deactivate_old,
        } => {
            let old = Some((old, *deactivate_old));
            mint(cx, journal, index, change, identity, key, old).await
        }
        operation => {
            let request = ApplyRequest {
                operation: operation.clone(),
                sink: None,
                progress: cx.progress.clone(),
            };
            cx.provider
                .apply(request)
                .await
                .map(|_| None)
                .map_err(Failed::from)
        }
    }
}

async fn mint(
    cx: &Context<'_>,
    journal: &mut Journal,
    index: usize,
    change: &Change,
    identity: &str,
    key: &str,
    old: Option<(&ObservedKey, bool)>,
) -> Result<Option<String>, Failed> {
    let address = &change.address;
    let journal_error = |e: std::io::Error| format!("cannot write the apply journal: {e}");
    // The durable record that a key is about to be minted, before the provider call.
    journal
        .step(index, address, "minting", None, None)
        .map_err(journal_error)?;
    let request = ApplyRequest {
        operation: Operation::CreateKey {
            identity: identity.to_owned(),
            key: key.to_owned(),
        },
        sink: change.sink.clone(),
        progress: cx.progress.clone(),
    };
    let response = cx.provider.apply(request).await.map_err(Failed::from)?;
    let key_id = response
        .new_key_id
        .clone()
        .or_else(|| response.secret.as_ref().map(|s| s.key_id.clone()))
        .unwrap_or_default();
    journal
        .step(index, address, "minted", Some(&key_id), None)
        .map_err(journal_error)?;
    if change.sink.as_ref().is_some_and(Sink::is_local) {
        let delivered = match &response.secret {
            Some(secret) => super::sink::deliver(
                change,
                secret,
                cx.base,
                cx.retiring,
                cx.options.stdout_secrets,
                cx.options.events,
            ),
            None => Err("the provider created a key but returned no key material".to_owned()),
        };
        drop(response);
        if let Err(e) = delivered {
            return Err(discard(cx, journal, index, change, identity, &key_id, &e)
                .await
                .into());
        }
        let record = RecordKeyRequest {
            identity: identity.to_owned(),
            key: key.to_owned(),
            key_id: key_id.clone(),
        };
        cx.provider.record_key(record).await.map_err(|e| Failed {
            unknown: e.outcome_unknown(),
            error: format!(
                "the secret of key `{key_id}` is in its sink, but the key could not be recorded \
                 as `{key}` ({e}); a plan with the receipt log keeps it as `{key}`, any other \
                 plan replaces it"
            ),
            minted: Some(key_id.clone()),
        })?;
    }
    journal
        .step(index, address, "delivered", Some(&key_id), None)
        .map_err(journal_error)?;
    if let Some((old, deactivate)) = old {
        // With a grace period the old key is only deactivated: a later plan
        // deletes it once the new key is `retire_after` old.
        let (operation, verb) = if deactivate {
            let operation = Operation::DeactivateKey {
                identity: identity.to_owned(),
                key: old.clone(),
            };
            (operation, "deactivated")
        } else {
            let operation = Operation::DeleteKey {
                identity: identity.to_owned(),
                key: old.clone(),
            };
            (operation, "deleted")
        };
        let request = ApplyRequest {
            operation,
            sink: None,
            progress: cx.progress.clone(),
        };
        cx.provider.apply(request).await.map_err(|e| Failed {
            unknown: e.outcome_unknown(),
            error: format!(
                "the new key `{key_id}` is delivered and recorded, but the old key `{}` could \
                 not be {verb} ({e}); the next plan deletes it",
                old.id
            ),
            minted: Some(key_id.clone()),
        })?;
        #[cfg(unix)]
        if let Some(Sink::File(path)) = &change.sink {
            crate::sink::forget_previous(cx.base, path);
        }
    }
    Ok(Some(key_id))
}

/// Deletes a key whose secret could not be delivered, so that no key lives that
/// nobody holds; says what happened.
async fn discard(
    cx: &Context<'_>,
    journal: &mut Journal,
    index: usize,
    change: &Change,
    identity: &str,
    key_id: &str,
    cause: &str,
) -> String {
    let request = ApplyRequest {
        operation: Operation::DeleteKey {
            identity: identity.to_owned(),
            key: ObservedKey {
                id: key_id.to_owned(),
                name: None,
                created: crate::clock::system_now(),
                status: KeyStatus::Active,
                last_used: None,
                expires: None,
                leaked: None,
            },
        },
        sink: None,
        progress: cx.progress.clone(),
    };
    match cx.provider.apply(request).await {
        Ok(_) => {
            let _ = journal.step(index, &change.address, "discarded", Some(key_id), None);
            format!(
                "key `{key_id}` was created but its secret could not be delivered ({cause}); \
                 the key was deleted again"
            )
        }
        Err(e) => format!(
            "key `{key_id}` was created but its secret could not be delivered ({cause}), and \
             deleting it failed ({e}): it has no name, so the next plan deletes it"
        ),
    }
}
