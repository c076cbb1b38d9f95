//! `nhi provider test PLUGIN`: the conformance kit against a plugin executable.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Global, Outcome};

#[derive(Debug, Args)]
pub(crate) struct ProviderArgs {
    #[command(subcommand)]
    command: ProviderCommand,
}

#[derive(Debug, Subcommand)]
enum ProviderCommand {
    /// Run the conformance suite against a plugin executable; prints a
    /// pass/fail table and exits 1 on any failure
    Test(TestArgs),
}

#[derive(Debug, Args)]
struct TestArgs {
    /// The plugin executable
    plugin: PathBuf,
    /// The plugin's own settings (YAML or JSON), relative paths resolving in a
    /// scratch directory; default `{state: estate.json}`. A `kit:` entry, which
    /// the plugin never sees, says what the kit declares: `names` (two),
    /// `key`, `bindings` (`{name}` in a resource is the identity's name)
    #[arg(long)]
    settings: Option<PathBuf>,
    /// How long each call may take, in milliseconds
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
}

pub(crate) fn run(_: &Global, args: &ProviderArgs) -> miette::Result<Outcome> {
    let ProviderCommand::Test(args) = &args.command;
    let mut settings = match &args.settings {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                miette::miette!(
                    code = "nhi::kit::settings",
                    "cannot read `{}`: {e}",
                    path.display()
                )
            })?;
            Some(
                serde_saphyr::from_str::<serde_json::Value>(&text).map_err(|e| {
                    miette::miette!(
                        code = "nhi::kit::settings",
                        "`{}` is not YAML: {e}",
                        path.display()
                    )
                })?,
            )
        }
    };
    // The `kit:` entry is the kit's, never the plugin's.
    let sample = match settings
        .as_mut()
        .and_then(serde_json::Value::as_object_mut)
        .and_then(|map| map.remove("kit"))
    {
        None => crate::kit::KitSample::default(),
        Some(sample) => serde_json::from_value(sample).map_err(|e| {
            miette::miette!(
                code = "nhi::kit::settings",
                help = "write `kit: {names: [a, b], key: primary, bindings: [{role: …, resource: …}]}`",
                "the `kit` entry of the settings is not what the kit declares: {e}"
            )
        })?,
    };
    let scratch = tempfile_dir()?;
    let report = crate::kit::run(&crate::kit::KitOptions {
        plugin: args.plugin.clone(),
        settings,
        scratch: scratch.clone(),
        timeout_ms: args.timeout_ms,
        sample,
    });
    let _ = std::fs::remove_dir_all(&scratch);
    crate::render::stdout(&crate::render::kit::table(&report))
        .map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    if report.passed() {
        Ok(Outcome::Success)
    } else {
        Err(miette::miette!(
            code = "nhi::kit::failed",
            help = "see the table above; docs/plugin-protocol.md says what each check expects",
            "the plugin failed the conformance suite"
        ))
    }
}

/// A fresh private directory for the kit's configuration and estate.
fn tempfile_dir() -> miette::Result<PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("nhi-kit-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(miette::miette!("cannot create a scratch directory: {e}")),
        }
    }
    Err(miette::miette!("cannot create a scratch directory"))
}
