//! `nhi validate`: check the configuration offline.

use clap::Args;

use super::{Global, Outcome};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {}

pub(crate) fn run(global: &Global, _args: &ValidateArgs) -> miette::Result<Outcome> {
    let config = crate::config::load(&global.config)?;
    let now = crate::clock::Clock::from_setting(global.env.now.as_deref())?.now();
    crate::render::expired_warnings(&config.expired(now.to_zoned(jiff::tz::TimeZone::UTC).date()));
    let keys: usize = config.identities.iter().map(|i| i.keys.len()).sum();
    let bindings: usize = config.identities.iter().map(|i| i.bindings.len()).sum();
    crate::render::note(&format!(
        "`{}` is valid: {} provider{}, {} identit{}, {keys} key{}, {bindings} binding{}",
        global.config.display(),
        config.providers.len(),
        plural(config.providers.len()),
        config.identities.len(),
        if config.identities.len() == 1 {
            "y"
        } else {
            "ies"
        },
        plural(keys),
        plural(bindings),
    ));
    Ok(Outcome::Success)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
