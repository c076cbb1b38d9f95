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
}
