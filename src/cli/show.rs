//! `nhi show`: render a saved plan file.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Global, Outcome};
use crate::plan::PlanFile;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
    /// SARIF 2.1.0: the plan's findings, for code scanning
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The plan file
    file: PathBuf,

    /// Output format; markdown is fit for a merge-request comment, SARIF for
    /// code-scanning upload
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// With markdown: print part N of a plan too large for one comment (each part
    /// says how many there are)
    #[arg(long, value_name = "N", default_value_t = 1)]
    part: usize,
}

pub(crate) fn run(global: &Global, args: &ShowArgs) -> miette::Result<Outcome> {
    let file = PlanFile::read(&args.file)?;
    let text = match args.format {
        Format::Text => crate::render::text::plan(&file.body, global.painter),
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&crate::render::json::plan(&file))
                .map_err(|e| miette::miette!("{e}"))?;
            t.push('\n');
            t
        }
        Format::Sarif => {
            let anchors = anchors(&file);
            crate::render::sarif::text(
                &file.body.findings,
                &crate::render::sarif::Source {
                    config_path: &file.body.config.path,
                    anchors: anchors.as_ref(),
                    tool_version: &file.body.tool_version,
                },
            )
        }
        Format::Markdown => {
            let mut parts = crate::render::markdown::parts(&file, &args.file);
            let count = parts.len();
            if args.part == 0 || args.part > count {
                return Err(miette::miette!(
                    code = "nhi::show::no_such_part",
                    help = "parts are numbered from 1",
                    "the comment of this plan has {count} part{}, not a part {}",
                    if count == 1 { "" } else { "s" },
                    args.part
                ));
            }
            parts.swap_remove(args.part - 1)
        }
    };
    crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    Ok(Outcome::Success)
}

/// The lines of the configuration the plan came from, when it is where the plan
/// says and unchanged; else results point at its first line.
fn anchors(file: &PlanFile) -> Option<crate::config::Anchors> {
    let record = &file.body.config;
    let name = std::path::Path::new(&record.path).file_name()?;
    let path = std::path::Path::new(&record.dir).join(name);
    if crate::config::digest_of(&path).ok()? != record.digest {
        crate::render::note(&format!(
            "note: `{}` changed since the plan was made; SARIF results point at its first line",
            path.display()
        ));
        return None;
    }
    Some(crate::config::Anchors::load(&path))
}
