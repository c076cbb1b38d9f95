//! Rendering: the one place that writes to stdout. Data goes to stdout; progress,
//! notes and errors go to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod json;
pub mod markdown;
pub mod progress;
pub mod text;
pub mod validate;
pub mod verify;
mod view;

use std::io::{IsTerminal as _, Write as _};

pub use text::Painter;

/// Whether to colour output written to stdout: as `color` forces (`--color`,
/// `NO_COLOR`, `TERM=dumb`, resolved by the caller), else when it is a terminal.
pub fn painter(color: Option<bool>) -> Painter {
    Painter {
        color: color.unwrap_or_else(|| std::io::stdout().is_terminal()),
    }
}

/// Writes data to stdout. A closed pipe (`nhi plan | head`) is not an error.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A note for the person at the terminal, on stderr.
pub fn note(text: &str) {
    eprintln!("{text}");
}

/// A spinner on stderr while slow work runs, only when stderr is a terminal.
pub fn spinner(message: String) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}

/// A progress bar on stderr over `len` steps, only when stderr is a terminal.
pub fn progress(len: u64, message: &'static str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = indicatif::ProgressBar::new(len)
        .with_style(style)
        .with_message(message);
    Some(bar)
}
