//! Progress on a terminal: engine events rendered as a spinner while a scope is
//! read and a bar while changes are applied, on stderr and only when stderr is a
//! terminal. Warnings are always written.

use std::sync::Mutex;

use crate::events::{Event, Events};

/// Renders [`Event`]s for a person at a terminal.
#[derive(Debug, Default)]
pub struct Progress {
    spinner: Mutex<Option<indicatif::ProgressBar>>,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Events for Progress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::LoadStarted { path } => {
                *lock(&self.spinner) = super::spinner(format!("reading {}", path.display()));
            }
            Event::ReadStarted { provider } => {
                *lock(&self.spinner) = super::spinner(format!("reading {provider}"));
            }
            Event::LoadFinished | Event::ReadFinished { .. } => {
                if let Some(s) = lock(&self.spinner).take() {
                    s.finish_and_clear();
                }
            }
            Event::ApplyStarted { total } => {
                *lock(&self.bar) = super::progress(total as u64, "applying");
            }
            Event::ChangeStarted { address, .. } => {
                if let Some(bar) = &*lock(&self.bar) {
                    bar.set_message(address.to_string());
                }
            }
            Event::ChangeFinished { ok, .. } => {
                if let Some(bar) = lock(&self.bar).as_ref().filter(|_| ok) {
                    bar.inc(1);
                }
            }
            Event::ApplyFinished => {
                if let Some(bar) = lock(&self.bar).take() {
                    bar.finish_and_clear();
                }
            }
            Event::Warning(text) => {
                let bar = lock(&self.bar);
                match &*bar {
                    Some(bar) => bar.suspend(|| super::note(text)),
                    None => super::note(text),
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A renderer that panicked mid-update leaves a bar, not a broken invariant.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
