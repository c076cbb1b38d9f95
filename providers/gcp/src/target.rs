//! What an apply works on: the project through its clients, as the block's
//! settings scope it, with the pacing of reads and writes within Google's quotas
//! and the count of calls made. `apply` and the Secret Manager sink (`secrets`)
//! both take it, so neither depends on the other.

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
    /// Ids of keys this provider minted in this run. Listing keys may lag
    /// behind a create, so these are never dropped from a record as dead.
    pub(crate) minted: &'a std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Target<'_> {
    pub(crate) fn note_minted(&self, id: &str) {
        self.minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned());
    }

    pub(crate) fn was_minted(&self, id: &str) -> bool {
        self.minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(id)
    }
}
