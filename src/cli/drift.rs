//! `nhi drift`: read live state and report, by class, what differs from the
//! configuration: for schedules. Takes no lock and writes no file.

use clap::Args;

use super::{Global, Outcome};
use crate::drift::DriftClass;
use crate::plan::PlanOptions;

#[derive(Debug, Args)]
pub(crate) struct DriftArgs {
    /// Print the report as JSON (see schemas/drift-json.schema.json)
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// Print the report as text, JSON, markdown (an issue body for a nightly report)
    /// or SARIF (for code scanning)
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json", "markdown", "sarif"])]
    format: Option<String>,

    /// Classes that make drift exit 2 (comma-separated: drift, unmanaged, due)
    #[arg(
        long,
        value_name = "CLASSES",
        value_delimiter = ',',
        default_value = "drift,unmanaged,due",
        value_parser = class
    )]
    fail_on: Vec<DriftClass>,

    /// Trust policy whose receipt log tells which live keys nhi minted, so a
    /// key planted under a declared name is reported [default: $NHI_TRUST]
    #[arg(long, value_name = "FILE")]
    trust: Option<std::path::PathBuf>,
}

fn class(text: &str) -> Result<DriftClass, String> {
    DriftClass::parse(text).ok_or_else(|| {
        format!("`{text}` is not a class; the classes are `drift`, `unmanaged` and `due`")
    })
}

pub(crate) fn run(global: &Global, args: &DriftArgs) -> miette::Result<Outcome> {
    let clock = crate::clock::Clock::from_setting(global.env.now.as_deref())?;
    let progress = crate::render::progress::Progress::default();
    let trust = super::plan::key_trust(global, args.trust.as_deref())?;
    let (report, planned) = crate::drift::drift(&PlanOptions {
        config: &global.config,
        author: global.env.user(),
        clock,
        valid_for: jiff::SignedDuration::from_hours(1),
        registry: crate::registry::Registry::builtin(),
        events: &progress,
        protected: crate::sink::Protected::default(),
        check_sinks: false,
        enforce: false,
        request: &crate::diff::Request::default(),
        key_log: super::plan::key_log(trust.as_ref()),
    })?;
    let format = if args.json {
        "json"
    } else {
        args.format.as_deref().unwrap_or("text")
    };
    let text = match format {
        "json" => {
            let mut text =
                serde_json::to_string_pretty(&report).map_err(|e| miette::miette!("{e}"))?;
            text.push('\n');
            text
        }
        "markdown" => crate::render::drift::markdown(&report),
        "sarif" => {
            let anchors = crate::config::Anchors::load(&planned.config.path);
            crate::render::drift::sarif(
                &report,
                &crate::render::sarif::Source {
                    config_path: &report.config_path,
                    anchors: Some(&anchors),
                    tool_version: env!("CARGO_PKG_VERSION"),
                },
            )
        }
        _ => crate::render::drift::text(&report, global.painter),
    };
    crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    // As `nhi plan` does: the process ends here, and freeing a large estate piece
    // by piece costs more than it returns.
    std::mem::forget(planned);
    Ok(if report.has_any(&args.fail_on) {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
