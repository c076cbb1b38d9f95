//! Progress: engine events rendered on stderr as a spinner while a scope is read
//! and a bar while changes are applied when stderr is a terminal, and otherwise
//! (a pipeline's log) as one line per change as it completes. Warnings are always
//! written. Durations are measured here, between events.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::diff::Action;
use crate::events::{Event, Events};

/// Renders [`Event`]s for a person at a terminal, or for a log.
#[derive(Debug)]
pub struct Progress {
    spinner: Mutex<Option<indicatif::ProgressBar>>,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    /// Changes in this apply, and when the running one started.
    total: Mutex<usize>,
    change_started: Mutex<Option<Instant>>,
    /// When the running phase started, and the phases that ended.
    lap: Mutex<Instant>,
    phases: Mutex<Vec<(&'static str, Duration)>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            spinner: Mutex::default(),
            bar: Mutex::default(),
            total: Mutex::default(),
            change_started: Mutex::default(),
            lap: Mutex::new(Instant::now()),
            phases: Mutex::default(),
        }
    }
}

impl Progress {
    /// The phases that ended so far, in order, with how long each took (from
    /// this renderer's creation for the first).
    pub fn phases(&self) -> Vec<(&'static str, Duration)> {
        lock(&self.phases).clone()
    }
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
                *lock(&self.total) = total;
                *lock(&self.bar) = super::progress(total as u64, "applying");
            }
            Event::ChangeStarted { address, .. } => {
                *lock(&self.change_started) = Some(Instant::now());
                if let Some(bar) = &*lock(&self.bar) {
                    bar.set_message(address.to_string());
                }
            }
            Event::ChangeFinished {
                index,
                address,
                action,
                ok,
            } => {
                let took = lock(&self.change_started)
                    .take()
                    .map_or(Duration::ZERO, |t| t.elapsed());
                match &*lock(&self.bar) {
                    Some(bar) if ok => bar.inc(1),
                    Some(_) => {}
                    None => super::note(&format!(
                        "[{}/{}] {} {address}: {} in {:.3} s",
                        index + 1,
                        *lock(&self.total),
                        action_name(action),
                        if ok { "done" } else { "failed" },
                        took.as_secs_f64()
                    )),
                }
            }
            Event::PhaseFinished { name } => {
                let mut lap = lock(&self.lap);
                lock(&self.phases).push((name, lap.elapsed()));
                *lap = Instant::now();
            }
            Event::ApplyFinished => {
                if let Some(bar) = lock(&self.bar).take() {
                    bar.finish_and_clear();
                }
            }
            // On a terminal the running spinner or bar says it; in a log, a line.
            Event::Waiting { subject, line } => {
                let text = format!("{}: {}", subject, super::escape::text(line));
                if let Some(bar) = &*lock(&self.bar) {
                    bar.set_message(text);
                } else if let Some(spinner) = &*lock(&self.spinner) {
                    spinner.set_message(text);
                } else {
                    super::note(&text);
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

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Rotate => "rotate",
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A renderer that panicked mid-update leaves a bar, not a broken invariant.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
