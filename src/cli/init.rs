//! `nhi init`: write a starter configuration for a provider type, never over
//! an existing file.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::config::Starter;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The provider type of the starter's provider block
    #[arg(long, value_enum, default_value = "local")]
    provider: Starter,

    /// The file to write [default: the --config file, nhi.yaml]; an existing
    /// file is never overwritten
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// What the `# yaml-language-server: $schema=` line points at, e.g. a path
    /// to a copy of schemas/nhi.schema.json [default: this release's schema in
    /// the repository]
    #[arg(long, value_name = "PATH_OR_URL")]
    schema: Option<String>,
}

pub(crate) fn run(global: &Global, args: &InitArgs) -> miette::Result<Outcome> {
    let path = args.output.clone().unwrap_or_else(|| global.config.clone());
    let schema = args
        .schema
        .clone()
        .unwrap_or_else(crate::config::schema_url);
    let text = args.provider.text(&schema);
    let shown = path.display();
    // `create_new`: never replace a file, even one that appears meanwhile.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                miette::miette!(
                    code = "nhi::init::exists",
                    help = "nhi init never overwrites a file: remove it, or write elsewhere with `-o FILE`",
                    "`{shown}` already exists"
                )
            } else {
                miette::miette!(
                    code = "nhi::init::write",
                    help = "check that the directory exists and is writable",
                    "cannot create `{shown}`: {}",
                    crate::config::lowercase_first(&e.to_string())
                )
            }
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            miette::miette!(
                code = "nhi::init::write",
                help = "check the disk and try again",
                "cannot write `{shown}`: {e}"
            )
        })?;
    let config = if path == global.config {
        String::new()
    } else {
        format!(" --config {shown}")
    };
    crate::render::note(&format!(
        "wrote `{shown}` for the `{}` provider; next: `nhi{config} validate`, then `nhi{config} plan`",
        args.provider.type_name()
    ));
    Ok(Outcome::Success)
}
