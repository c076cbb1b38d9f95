//! The keys nhi minted, read from the applier's receipt log: the ids the
//! completed changes of signed receipts record, once the whole chain verified.
//! Plan (with `--trust`) and apply read it once, before the diff, so that a
//! provider's record of key names (which anyone with tag or description write
//! can forge) is only a hint; see `crate::diff::recognise`.

use crate::backend::LogLocation;
use crate::diff::MintedKeys;
use crate::log::{LogError, LogStore};
use crate::receipt::Status;
use crate::trust::AllowedSigners;

/// The receipt log a plan or an apply checks key records against, with the
/// allowed signers whose applier signatures make a receipt count.
#[derive(Clone, Copy)]
pub struct KeyLog<'a> {
    pub location: &'a LogLocation,
    pub signers: &'a AllowedSigners,
}

/// The keys the log at `log.location` says nhi minted; see [`read_from`].
pub fn read(log: KeyLog<'_>) -> Result<MintedKeys, LogError> {
    read_from(&LogStore::open(log.location)?, log.signers)
}

/// The keys the log in `store` says nhi minted. A log not started yet
/// vouches for nothing (the first apply starts it); one whose chain does not
/// verify is an error, never an empty record. Only receipts with a good
/// applier signature of `signers` count, and the first of them dates the log
/// (keys older than it keep the provider's name).
pub fn read_from(store: &LogStore, signers: &AllowedSigners) -> Result<MintedKeys, LogError> {
    let mut minted = MintedKeys::default();
    let unusable = |detail| LogError::Unusable {
        dir: store.name(),
        detail,
    };
    if !store.started().map_err(unusable)? {
        return Ok(minted);
    }
    crate::log::read_chain(store, &mut |entry| {
        let Some(receipt) = entry.receipt else {
            return;
        };
        let (good, failure) =
            crate::trust::judge_receipt(&entry.digest, &entry.signatures, signers);
        if failure.is_some() || good.is_empty() {
            return;
        }
        minted.vouch_from(receipt.body.started_at);
        // A change that failed after its key was minted and delivered still
        // records the id: that key's secret is in its sink.
        for change in &receipt.body.changes {
            if change.status == Status::NotAttempted {
                continue;
            }
            if let Some(id) = &change.new_key_id {
                minted.record(&change.address, id);
            }
        }
    })
    .map_err(unusable)?;
    Ok(minted)
}
