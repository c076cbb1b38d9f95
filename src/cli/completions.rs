//! `nhi completions SHELL` and `nhi man`: the command line described for
//! shells and for `man`, generated from the same clap definition as `--help`.

use std::path::PathBuf;

use clap::{Args, CommandFactory as _};

use super::{Cli, Outcome};

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write one page per command (nhi.1, nhi-plan.1, …) into DIR, created if
    /// missing, instead of the main page to stdout
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
}

/// The completion script on stdout, e.g. `nhi completions bash > /etc/bash_completion.d/nhi`.
pub(crate) fn completions(args: &CompletionsArgs) -> miette::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "nhi", &mut script);
    stdout(script)
}

pub(crate) fn man(args: &ManArgs) -> miette::Result<Outcome> {
    let Some(dir) = &args.output else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .map_err(|e| miette::miette!("cannot render the manual page: {e}"))?;
        return stdout(page);
    };
    let failed = |e: std::io::Error| {
        miette::miette!(
            code = "nhi::man::write",
            help = "check that the directory is writable",
            "cannot write manual pages into `{}`: {e}",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(failed)?;
    crate::render::note(&format!("wrote manual pages into `{}`", dir.display()));
    Ok(Outcome::Success)
}

fn stdout(bytes: Vec<u8>) -> miette::Result<Outcome> {
    let text = String::from_utf8(bytes)
        .map_err(|_| miette::miette!("invariant: generated text is UTF-8"))?;
    crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    Ok(Outcome::Success)
}
