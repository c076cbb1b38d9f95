//! Rendering: the one place that writes to stdout. Data goes to stdout; progress,
//! notes and errors go to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod audit;
pub mod drift;
mod escape;
mod findings;
pub mod import;
pub mod json;
pub mod kit;
pub mod markdown;
pub mod policy_test;
pub mod progress;
pub mod revoke;
pub mod sarif;
pub mod text;
pub mod validate;
pub mod verify;
mod verify_json;
mod view;
mod yaml;

use std::fmt::Write as _;
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

/// `nhi validate`'s warnings for declared objects past their `expires` day.
pub fn expired_warnings(expired: &[crate::config::Expired]) {
    for e in expired {
        note(&format!(
            "warning: {} `{}` expired on {}",
            e.what, e.address, e.expires
        ));
    }
    if !expired.is_empty() {
        note(
            "  help: a plan deletes an expired object that exists and never creates one; \
             remove it from the configuration, or move its `expires` later",
        );
    }
}

/// `nhi plan`'s note on declared objects it leaves out because their `expires`
/// day has passed and they do not exist.
pub fn expired_note(expired: &[crate::config::Expired]) {
    if expired.is_empty() {
        return;
    }
    let (objects, are) = if expired.len() == 1 {
        ("object", "is")
    } else {
        ("objects", "are")
    };
    let mut text = format!(
        "note: {} declared {objects} {are} past {} `expires` day and absent; the plan does not create {}:",
        expired.len(),
        if expired.len() == 1 { "its" } else { "their" },
        if expired.len() == 1 { "it" } else { "them" },
    );
    for e in expired {
        let _ = write!(
            text,
            "\n  {} ({}, expired on {})",
            e.address, e.what, e.expires
        );
    }
    note(&text);
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

/// `<what> 1.234 s (phase 0.100 s, …)`: the whole and each phase, for `-v`.
pub fn timings(
    what: &str,
    total: std::time::Duration,
    phases: &[(&str, std::time::Duration)],
) -> String {
    let laps: Vec<String> = phases
        .iter()
        .map(|(name, took)| format!("{name} {:.3} s", took.as_secs_f64()))
        .collect();
    format!("{what} {:.3} s ({})", total.as_secs_f64(), laps.join(", "))
}

/// Plans for the rendering tests, built by the engine from a configuration and an
/// observed state, as `nhi plan` builds them.
#[cfg(test)]
pub(crate) mod fixture {
    use nhi_provider_sdk::ObservedState;

    use crate::config::Config;
    use crate::plan::PlanFile;

    pub(crate) fn plan(config: &Config, observed: &ObservedState) -> PlanFile {
        let scopes = [crate::diff::Scope {
            block: &config.providers[0],
            observed,
            key_slots: None,
            retire: None,
        }];
        let now: jiff::Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let diff = crate::diff::diff(config, &scopes, now);
        let reads = [crate::plan::ScopeRead {
            block: &config.providers[0],
            scope: "estate file `estate.json`".into(),
            observed,
            observed_digest: None,
            plugin: None,
        }];
        let options = crate::plan::BuildOptions {
            author: "alice".into(),
            now,
            valid_for: jiff::SignedDuration::from_hours(24),
            config_dir: "/work".into(),
        };
        let mut body = crate::plan::build(config, &reads, diff, &options);
        // Judged as `nhi plan` judges it.
        let judged = [crate::policy::ScopeInput {
            prefix: nhi_provider_sdk::Address::provider(
                &config.providers[0].type_name,
                &config.providers[0].name,
            ),
            type_name: &config.providers[0].type_name,
            reports_key_use: true,
            observed,
        }];
        body.findings = crate::policy::judge_body(&body, &judged, Some(config), false);
        PlanFile::new(body)
    }

    /// A pruning block over live state whose names, roles, resources and tags
    /// are hostile: what a provider (or a plan file) may hold.
    pub(crate) fn hostile() -> PlanFile {
        hostile_with(true)
    }

    /// [`hostile`] without pruning: the hostile objects stay, and so do the
    /// findings on them, whose messages quote their names.
    pub(crate) fn hostile_with(prune: bool) -> PlanFile {
        let yaml = format!(
            "version: 1\nproviders:\n  - name: demo\n    type: local\n    prune: {prune}\n    settings: {{state: estate.json}}\nidentities:\n  - name: ok\n    provider: demo\n    owner: o@example.com\n"
        );
        let yaml = yaml.as_str();
        let config = crate::config::parse(std::path::Path::new("nhi.yaml"), yaml).unwrap();
        let observed = serde_json::from_value(serde_json::json!({"identities": [
            {"name": "ok", "kind": "service_account", "owner": "o@example.com",
             "tags": {"team\u{1b}[8m": "web\u{202e}gnp.exe", "a = \"x\"": "y"},
             "bindings": [
                {"role": "view`er", "resource": "*"},
                {"role": "admin", "resource": "\n\n**Plan reviewed: low risk only.**\n\n<!--"},
                {"role": "x|y\u{1b}[2K\rviewer", "resource": "db/<b>", "policy": {"S": "\u{85}\u{2028}\u{1b}"}}
             ]},
            {"name": "evil\u{1b}]8;;http://x\u{7}", "kind": "service_account", "owner": "o\u{9b}31m"}
        ]}))
        .unwrap();
        plan(&config, &observed)
    }

    /// The quickstart example: deletes, an update, creates and a rotation.
    pub(crate) fn quickstart() -> PlanFile {
        let yaml = include_str!("../../examples/quickstart/nhi.yaml");
        let config = crate::config::parse(std::path::Path::new("nhi.yaml"), yaml).unwrap();
        let observed: ObservedState =
            serde_json::from_str(include_str!("../../examples/quickstart/estate.json")).unwrap();
        plan(&config, &observed)
    }
}
