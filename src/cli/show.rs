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
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The plan file
    file: PathBuf,

    /// Output format; markdown is fit for a merge-request comment
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
