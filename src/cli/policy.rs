//! `nhi policy test [PATH...]`: run an org policy bundle's `test_` rules, as
//! `opa test` does.

use std::path::Path;

use clap::{Args, Subcommand};

use super::{Global, Outcome};
use crate::policy::rego::Bundle;

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run the test_ rules of a Rego bundle: each passes when it is true
    Test(TestArgs),
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Bundle paths (.rego files or directories), relative to the directory nhi
    /// runs in (-C); they must stay inside it [default: the configuration's
    /// `policy.rego`]
    #[arg(value_name = "PATH")]
    paths: Vec<String>,

    /// Print the report as JSON; a failing test still exits 1
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: &PolicyArgs) -> miette::Result<Outcome> {
    let PolicyCommand::Test(args) = &args.command;
    let bundle = if args.paths.is_empty() {
        let config = crate::config::load(&global.config)?;
        if config.rego.is_empty() {
            return Err(miette::miette!(
                code = "nhi::policy::rego",
                help = "name bundle paths (`nhi policy test policies/`), or list them under `policy.rego` in the configuration",
                "`{}` names no Rego policies",
                global.config.display()
            ));
        }
        Bundle::load(&config.dir, &config.rego)?
    } else {
        Bundle::load(Path::new("."), &args.paths)?
    };
    // What a trust policy's `policy_bundle` pins.
    crate::render::note(&format!("bundle digest: {}", bundle.record().digest));
    // `NHI_NOW` fixes `time.now_ns()` as it fixes a plan's clock.
    let now = crate::clock::Clock::from_setting(global.env.now.as_deref())?.now();
    let report = bundle.test(now)?;
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&report).map_err(|e| miette::miette!("{e}"))?;
        text.push('\n');
        text
    } else {
        crate::render::policy_test::text(&report, global.painter)
    };
    crate::render::stdout(&text).map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    if report.all_passed() && !report.tests.is_empty() {
        Ok(Outcome::Success)
    } else if report.tests.is_empty() {
        Err(miette::miette!(
            code = "nhi::policy::rego",
            help = "name test rules `test_…`, e.g. in `*_test.rego` files beside the policies",
            "no `test_` rules in the bundle"
        ))
    } else {
        Err(miette::miette!(
            code = "nhi::policy::rego",
            help = "the lines marked FAIL or ERROR above name the rules",
            "{} of {} policy tests did not pass",
            report.tests.len() - report.passed(),
            report.tests.len()
        ))
    }
}
