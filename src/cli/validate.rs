//! `nhi validate`: check the configuration offline.

use clap::Args;

use super::{Global, Outcome};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Print the verdict as JSON (see schemas/validate-json.schema.json); an invalid
    /// configuration still exits 1
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: &ValidateArgs) -> miette::Result<Outcome> {
    let path = global.config.display().to_string();
    let loaded = crate::config::load(&global.config);
    if let Ok(config) = &loaded {
        let now = crate::clock::Clock::from_setting(global.env.now.as_deref())?.now();
        crate::render::expired_warnings(
            &config.expired(now.to_zoned(jiff::tz::TimeZone::UTC).date()),
        );
    }
    let report = if args.json {
        let view = match &loaded {
            Ok(config) => crate::render::validate::valid(&path, config),
            Err(e) => crate::render::validate::invalid(&path, e),
        };
        let mut text = serde_json::to_string_pretty(&view).map_err(|e| miette::miette!("{e}"))?;
        text.push('\n');
        Some(text)
    } else {
        loaded.as_ref().ok().map(|config| {
            let c = crate::render::validate::counts(config);
            format!(
                "`{path}` is valid: {} provider{}, {} identit{}, {} key{}, {} binding{}\n",
                c.providers,
                plural(c.providers),
                c.identities,
                if c.identities == 1 { "y" } else { "ies" },
                c.keys,
                plural(c.keys),
                c.bindings,
                plural(c.bindings),
            )
        })
    };
    if let Some(report) = report {
        crate::render::stdout(&report)
            .map_err(|e| miette::miette!("cannot write to stdout: {e}"))?;
    }
    loaded?;
    Ok(Outcome::Success)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
