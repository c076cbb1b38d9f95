//! Progress events: what long engine operations (reading live state, applying)
//! report while they run. The engine knows no terminal; whoever runs an operation
//! passes an [`Events`] sink, and the CLI renders the events as spinners and bars
//! on a terminal.

use nhi_provider_sdk::Address;

use crate::diff::Action;

/// One thing that happened during an operation.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Reading and validating the configuration file began.
    LoadStarted { path: &'a std::path::Path },
    /// The configuration is read, valid or not.
    LoadFinished,
    /// Reading one provider block's live state began (`type.name`).
    ReadStarted { provider: &'a str },
    /// Reading that block's live state ended, successfully or not.
    ReadFinished { provider: &'a str },
    /// Apply is about to run `total` changes, in order.
    ApplyStarted { total: usize },
    /// Change `index` (from 0) is being applied.
    ChangeStarted {
        index: usize,
        address: &'a Address,
        action: Action,
    },
    /// Change `index` completed (`ok`) or failed; apply stops after a failure.
    ChangeFinished {
        index: usize,
        address: &'a Address,
        action: Action,
        ok: bool,
    },
    /// Apply ran every change it was going to run.
    ApplyFinished,
    /// A phase of apply ended (`verify`, `connect`, `lock`, `read`, `apply`,
    /// `receipt`), in that order; whoever renders the events times them.
    PhaseFinished { name: &'static str },
    /// Something the person running nhi must be told now, e.g. that key material
    /// is about to be written to standard output.
    Warning(&'a str),
}

/// Receives events; called from the thread doing the work.
pub trait Events: Sync {
    fn event(&self, event: Event<'_>);
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Events for Silent {
    fn event(&self, _event: Event<'_>) {}
}
