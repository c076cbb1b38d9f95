//! The command line: clap types and one thin module per subcommand.
// Doc comments on clap types are `--help` text, where backticks would show.
#![allow(clippy::doc_markdown)]

mod apply;
mod plan;
mod settings;
mod show;
mod sign;
mod validate;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, as Terraform's `-detailed-exitcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success; with `--detailed-exitcode`, also "no changes".
    Success,
    /// Changes present (plan) or applied (apply); exit 2 with `--detailed-exitcode`.
    Changes,
}

#[derive(Debug, Parser)]
#[command(
    name = "nhi",
    version,
    about = "Plan, sign, approve and apply changes to non-human identities",
    long_about = "nhi reconciles non-human identities (service accounts, their keys and their \
                  role/policy bindings) with a desired state written in YAML. Every change is a \
                  plan that can be reviewed, signed, approved, applied exactly as approved, and \
                  archived as evidence.",
    after_help = "Exit codes: 0 success (no changes with --detailed-exitcode), 1 error, 2 changes \
                  present (with --detailed-exitcode).\nDocs: README.md. Colour follows NO_COLOR and --no-color."
)]
pub struct Cli {
    /// Run as if nhi was started in DIR (like `git -C`)
    #[arg(short = 'C', global = true, value_name = "DIR")]
    directory: Option<PathBuf>,

    /// The desired-state file [default: nhi.yaml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Never colour output
    #[arg(long, global = true)]
    no_color: bool,

    /// Say more on stderr (provider API calls, timings)
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration without reading live state
    Validate(validate::ValidateArgs),
    /// Compare the configuration with live state and show (or save) the changes
    Plan(plan::PlanArgs),
    /// Render a saved plan file as text, JSON or markdown
    Show(show::ShowArgs),
    /// Add the author's signature to a plan file
    Sign(sign::SignArgs),
    /// Review a plan and add your approval (a signature) to it
    Approve(sign::ApproveArgs),
    /// Check a plan's or receipt's digest, signatures and approvals offline
    Verify(verify::VerifyArgs),
    /// Apply a signed, approved, fresh plan exactly as approved, and write a receipt
    Apply(apply::ApplyArgs),
}

/// Settings shared by every subcommand, resolved from global flags and the
/// environment (read once, here).
#[derive(Debug, Clone)]
pub(crate) struct Global {
    pub config: PathBuf,
    pub painter: crate::render::Painter,
    pub verbose: bool,
    pub env: settings::Environment,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1 (2 means "changes present").
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let env = settings::Environment::read();
    install_error_handler(cli.no_color, &env);
    match run(cli, env) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(report) => {
            crate::render::note(&format!("{report:?}"));
            ExitCode::from(1)
        }
    }
}

fn install_error_handler(no_color: bool, env: &settings::Environment) {
    use std::io::IsTerminal as _;
    let terminal = std::io::stderr().is_terminal();
    let color = !no_color && !env.no_color && terminal;
    let _ = miette::set_hook(Box::new(move |_| {
        // Logs and CI read whole lines: wrap only for a person at a terminal.
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .terminal_links(false)
                .wrap_lines(terminal)
                .build(),
        )
    }));
}

fn run(cli: Cli, env: settings::Environment) -> miette::Result<Outcome> {
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir).map_err(|e| {
            miette::miette!(
                code = "nhi::cli::directory",
                "cannot change to directory `{}`: {e}",
                dir.display()
            )
        })?;
    }
    let global = Global {
        config: cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("nhi.yaml")),
        painter: crate::render::painter(cli.no_color || env.no_color),
        verbose: cli.verbose,
        env,
    };
    match cli.command {
        Command::Validate(args) => validate::run(&global, &args),
        Command::Plan(args) => plan::run(&global, &args),
        Command::Show(args) => show::run(&global, &args),
        Command::Sign(args) => sign::sign(&global, &args),
        Command::Approve(args) => sign::approve(&global, &args),
        Command::Verify(args) => verify::run(&global, &args),
        Command::Apply(args) => apply::run(&global, &args),
    }
}

/// A single-threaded runtime: providers do their own concurrency where they need it.
pub(crate) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    crate::refresh::runtime().map_err(|e| miette::miette!("cannot start the async runtime: {e}"))
}
