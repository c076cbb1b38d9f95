//! The command line: clap types and one thin module per subcommand.
// Doc comments on clap types are `--help` text, where backticks would show.
#![allow(clippy::doc_markdown)]

mod apply;
mod audit;
mod completions;
mod drift;
mod import;
mod init;
mod merge;
mod plan;
mod policy;
mod provider;
mod revoke;
mod settings;
mod show;
mod sign;
mod unlock;
mod validate;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

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
                  present (with --detailed-exitcode).\nDocs: README.md. Colour: --color, else none when NO_COLOR is set or TERM=dumb.",
    // Our own `help` command, so that `nhi help --help` works like every other.
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Run as if nhi was started in DIR (like `git -C`)
    #[arg(short = 'C', global = true, value_name = "DIR")]
    directory: Option<PathBuf>,

    /// The desired-state file, read with the files its `include:` names [default: nhi.yaml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// When to colour output: auto (a terminal, unless NO_COLOR is set or TERM=dumb), always or never
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    color: settings::ColorChoice,

    /// Never colour output (the same as `--color never`)
    #[arg(long, global = true, conflicts_with = "color")]
    no_color: bool,

    /// Say more on stderr (provider API calls, timings)
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a starter nhi.yaml for a provider type (never over an existing file)
    Init(init::InitArgs),
    /// Check the configuration without reading live state
    Validate(validate::ValidateArgs),
    /// Report what differs from the configuration, by class, without a plan or a lock
    Drift(drift::DriftArgs),
    /// Compare the configuration with live state and show (or save) the changes
    Plan(plan::PlanArgs),
    /// Write the configuration that declares a provider block's live scope (plans no changes)
    #[command(long_about = import::LONG_ABOUT)]
    Import(import::ImportArgs),
    /// Render a saved plan file as text, JSON, markdown or SARIF
    Show(show::ShowArgs),
    /// Add the author's signature to a plan file
    Sign(sign::SignArgs),
    /// Review a plan and add your approval (a signature) to it, or write it
    /// beside the plan (--detached) so reviewers can approve in parallel
    Approve(sign::ApproveArgs),
    /// Fold detached approvals into the plan file (in a canonical order)
    Merge(merge::MergeArgs),
    /// Drop signatures from a plan file (one that does not verify makes apply refuse it)
    Unsign(sign::UnsignArgs),
    /// Check a plan's or receipt's digest, signatures and approvals offline
    Verify(verify::VerifyArgs),
    /// Apply a signed, approved, fresh plan exactly as approved, and write a receipt
    Apply(apply::ApplyArgs),
    /// Break glass: reduce access now (deactivate keys, disable identities,
    /// detach bindings), signed within the trust policy's `revoke` bar; later
    /// plans cannot undo it
    Revoke(revoke::RevokeArgs),
    /// Take over the shared locks (S3) of an applier whose lease expired, and
    /// record it, signed, in the receipt log
    Unlock(unlock::UnlockArgs),
    /// Judge the live estate by the policy's rules (exit 2 at or above --fail-on);
    /// `nhi audit verify LOG` checks a receipt log's chain offline
    Audit(audit::AuditArgs),
    /// Org policies in Rego: `nhi policy test PATH...` runs a bundle's test_ rules
    Policy(policy::PolicyArgs),
    /// Provider plugins: `nhi provider test PLUGIN` runs the conformance suite
    Provider(provider::ProviderArgs),
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish
    Completions(completions::CompletionsArgs),
    /// Print the manual page, or write one per command into a directory
    Man(completions::ManArgs),
    /// Print help for nhi or one of its commands
    Help(HelpArgs),
}

#[derive(Debug, clap::Args)]
struct HelpArgs {
    /// The command to explain
    command: Option<String>,
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
    let color = env.color(if cli.no_color {
        settings::ColorChoice::Never
    } else {
        cli.color
    });
    install_error_handler(color);
    let result = run(cli, env, color);
    // Plugins end before nhi does: each is sent `shutdown` and reaped, so none
    // outlives the run (or keeps a lock it took).
    nhi_provider_plugin::PluginHost::stop_all();
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(report) => {
            crate::render::note(&format!("{report:?}"));
            ExitCode::from(1)
        }
    }
}

/// `color`: forced on or off, or `None` for "when stderr is a terminal".
fn install_error_handler(color: Option<bool>) {
    use std::io::IsTerminal as _;
    let terminal = std::io::stderr().is_terminal();
    let color = color.unwrap_or(terminal);
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

fn run(cli: Cli, env: settings::Environment, color: Option<bool>) -> miette::Result<Outcome> {
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
        painter: crate::render::painter(color),
        verbose: cli.verbose,
        env,
    };
    match cli.command {
        Command::Init(args) => init::run(&global, &args),
        Command::Validate(args) => validate::run(&global, &args),
        Command::Plan(args) => plan::run(&global, &args),
        Command::Drift(args) => drift::run(&global, &args),
        Command::Import(args) => import::run(&global, &args),
        Command::Show(args) => show::run(&global, &args),
        Command::Sign(args) => sign::sign(&global, &args),
        Command::Approve(args) => sign::approve(&global, &args),
        Command::Unsign(args) => sign::unsign(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Verify(args) => verify::run(&global, &args),
        Command::Apply(args) => apply::run(&global, &args),
        Command::Provider(args) => provider::run(&global, &args),
        Command::Revoke(args) => revoke::run(&global, &args),
        Command::Unlock(args) => unlock::run(&global, &args),
        Command::Audit(args) => audit::run(&global, &args),
        Command::Policy(args) => policy::run(&global, &args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
        Command::Help(args) => help(args.command.as_deref()),
    }
}

/// `nhi help [COMMAND]`: the long help of nhi or of one command, on stdout.
fn help(command: Option<&str>) -> miette::Result<Outcome> {
    let mut cli = Cli::command();
    let text = match command {
        None => cli.render_long_help(),
        Some(name) => {
            let names: Vec<String> = cli
                .get_subcommands()
                .map(|c| c.get_name().to_owned())
                .collect();
            let Some(sub) = cli.find_subcommand_mut(name) else {
                return Err(miette::miette!(
                    code = "nhi::cli::unknown_command",
                    help = format!("commands: {}", names.join(", ")),
                    "unknown command `{name}`"
                ));
            };
            sub.set_bin_name(format!("nhi {name}"));
            sub.render_long_help()
        }
    };
    crate::render::stdout(&text.to_string())
        .map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    Ok(Outcome::Success)
}

/// `1 identity`, `2 identities`.
pub(crate) fn count<N>(n: N, one: &str, many: &str) -> String
where
    N: Copy + std::fmt::Display + PartialEq + From<u8>,
{
    let word = if n == N::from(1) { one } else { many };
    format!("{n} {word}")
}

/// A single-threaded runtime: providers do their own concurrency where they need it.
pub(crate) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    crate::refresh::runtime().map_err(|e| miette::miette!("cannot start the async runtime: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_singular_for_one_only() {
        let cases = [
            (0_usize, "0 identities"),
            (1, "1 identity"),
            (2, "2 identities"),
        ];
        for (n, want) in cases {
            assert_eq!(count(n, "identity", "identities"), want);
        }
    }
}
