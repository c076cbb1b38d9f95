//! `nhi import`: write the configuration that declares what a provider block's
//! scope holds, so that adopting an estate starts from a plan with no changes.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};

/// `nhi import --help`.
pub(crate) const LONG_ABOUT: &str =
    "Read the scope of one provider block of the configuration and write YAML that \
declares it: each identity with its owner, description, tags and attributes, its keys (adopted \
by their live ids: `adopt: <id>`), and its bindings, with the governance gate's findings as \
comments. `nhi plan` over the written configuration plans no changes.

No secret is ever written: a read holds none. Each adopted key is given a file sink beneath the \
configuration's directory; choose where a new secret goes before its first rotation.

With --only-unmanaged, only the identities in scope that the configuration does not declare are \
written, as entries to append to `identities:` (a shadow identity becomes a merge request).";

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The provider block whose scope is imported
    #[arg(long, value_name = "NAME")]
    provider: String,

    /// Only identities in scope that the configuration does not declare, as entries to append
    /// to `identities:`
    #[arg(long)]
    only_unmanaged: bool,

    /// Write to FILE instead of stdout; an existing file is never overwritten
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn run(global: &Global, args: &ImportArgs) -> miette::Result<Outcome> {
    let clock = crate::clock::Clock::from_setting(global.env.now.as_deref())?;
    let progress = crate::render::progress::Progress::default();
    let imported = crate::import::import(&crate::import::ImportOptions {
        config: &global.config,
        provider: &args.provider,
        only_unmanaged: args.only_unmanaged,
        clock,
        registry: crate::registry::Registry::builtin(),
        events: &progress,
    })?;
    let text = crate::render::import::yaml(&imported);
    match &args.output {
        None => crate::render::stdout(&text)
            .map_err(|e| miette::miette!("cannot write to stdout: {e}"))?,
        Some(path) => write_new(path, &text)?,
    }
    Ok(Outcome::Success)
}

/// Writes a file that must not exist yet: an import never replaces a
/// configuration someone wrote.
fn write_new(path: &std::path::Path, text: &str) -> miette::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                miette::miette!(
                    code = "nhi::import::exists",
                    help = "name a new file, or remove this one first: import never overwrites",
                    "`{}` exists already",
                    path.display()
                )
            } else {
                miette::miette!(
                    code = "nhi::import::write",
                    help = "check that the directory exists and is writable",
                    "cannot create `{}`: {e}",
                    path.display()
                )
            }
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            miette::miette!(
                code = "nhi::import::write",
                help = "check the free space and permissions of the directory",
                "cannot write `{}`: {e}",
                path.display()
            )
        })
}
