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
    /// A provider waits for something during a call (a new identity to become
    /// visible, a quota window): `subject` is the change's address or the
    /// scope being read, `line` the provider's words.
    Waiting { subject: &'a str, line: &'a str },
}

/// Receives events; called from the thread doing the work.
pub trait Events: Sync {
    fn event(&self, event: Event<'_>);
}

/// Passes on only [`Event::Waiting`]: for work that runs beside other work
/// whose progress is shown (a read beside the configuration's).
pub struct OnlyWaiting<'a>(pub &'a dyn Events);

impl Events for OnlyWaiting<'_> {
    fn event(&self, event: Event<'_>) {
        if matches!(event, Event::Waiting { .. }) {
            self.0.event(event);
        }
    }
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Events for Silent {
    fn event(&self, _event: Event<'_>) {}
}

/// Runs `call`, a provider call given `sink`, and turns what the provider reports
/// there into [`Event::Waiting`] about `subject` as it arrives: providers report
/// from their own tasks, events go out from the thread running the operation.
pub async fn relayed<F: Future>(
    events: &dyn Events,
    subject: &str,
    call: impl FnOnce(nhi_provider_sdk::ProgressSink) -> F,
) -> F::Output {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let sink = nhi_provider_sdk::ProgressSink::new(move |line| {
        let _ = tx.send(line.to_owned());
    });
    let work = call(sink);
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            Some(line) = rx.recv() => events.event(Event::Waiting { subject, line: &line }),
        }
    };
    while let Ok(line) = rx.try_recv() {
        events.event(Event::Waiting {
            subject,
            line: &line,
        });
    }
    out
}
