//! What an apply works on: the project through its clients, as the block's
//! settings scope it, with the pacing of reads and writes within Google's quotas
//! and the count of calls made. `apply` and the Secret Manager sink (`secrets`)
//! both take it, so neither depends on the other.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::clients::Clients;
use crate::pace::Pace;
use crate::read::Calls;
use crate::settings::Settings;

/// What an apply works on.
pub(crate) struct Target<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) settings: &'a Settings,
    pub(crate) reads: &'a Pace,
    pub(crate) writes: &'a Pace,
    pub(crate) calls: &'a Calls,
    pub(crate) session: &'a Session,
    /// Where waits are reported (the call's `progress`).
    pub(crate) progress: &'a nhi_provider_sdk::ProgressSink,
}

/// What the provider remembers across the operations of one run.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Ids of keys minted in this run. Listing keys may lag behind a create,
    /// so these are never dropped from a record as dead.
    minted: Mutex<BTreeSet<String>>,
    /// Accounts created in this run, which Google may not show for a while.
    created: Mutex<BTreeSet<String>>,
}

fn locked(set: &Mutex<BTreeSet<String>>) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Session {
    pub(crate) fn note_minted(&self, id: &str) {
        locked(&self.minted).insert(id.to_owned());
    }

    pub(crate) fn was_minted(&self, id: &str) -> bool {
        locked(&self.minted).contains(id)
    }

    pub(crate) fn note_created(&self, account: &str) {
        locked(&self.created).insert(account.to_owned());
    }

    pub(crate) fn was_created(&self, account: &str) -> bool {
        locked(&self.created).contains(account)
    }
}
