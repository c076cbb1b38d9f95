//! `nhi revoke`: break glass. Resolves keys and the trust policy, calls
//! [`crate::revoke::revoke`], renders the record.

use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::revoke::RevokeOptions;
use crate::trust::{AllowedSigners, TrustPolicy};

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// Addresses to revoke: keys (`…/key/<name>`), identities, bindings
    #[arg(required = true, value_name = "ADDRESS")]
    addresses: Vec<String>,

    /// Why: goes into the signed record and every plan it blocks
    #[arg(long)]
    reason: String,

    /// Sign the revocation with this key (private key, or `.pub` through
    /// ssh-agent); repeat for a `revoke` bar that needs more than one
    #[arg(long, value_name = "KEY", required = true)]
    key: Vec<PathBuf>,

    /// Revoke sessions already issued from the identity (AWS users and roles;
    /// the default)
    #[arg(long, overrides_with = "no_sessions")]
    sessions: bool,

    /// Leave sessions already issued alone
    #[arg(long)]
    no_sessions: bool,

    /// Trust policy [default: $NHI_TRUST, then ~/.config/nhi/trust.yaml]
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,

    /// How long to wait for another apply's scope lock (e.g. `30s`, `5m`)
    #[arg(long, value_name = "AGE")]
    lock_timeout: Option<nhi_provider_sdk::Age>,

    /// Print the configuration change that makes the revocation permanent, for
    /// the follow-up merge request
    #[arg(long)]
    emit_patch: bool,
}

pub(crate) fn run(global: &Global, args: &RevokeArgs) -> miette::Result<Outcome> {
    let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
    let signers = AllowedSigners::read(&policy.allowed_signers)?;
    let mut keys = Vec::new();
    for key in &args.key {
        let signer = global.env.signer(key)?;
        let principal = crate::trust::principal_for(&signer, None)?;
        keys.push((key.display().to_string(), signer, principal));
    }
    let addresses: Vec<_> = args
        .addresses
        .iter()
        .map(|a| nhi_provider_sdk::Address::raw(a))
        .collect();
    let options = RevokeOptions {
        config: &global.config,
        addresses: &addresses,
        reason: &args.reason,
        policy: &policy,
        signers: &signers,
        keys: &keys,
        sessions: Some(!args.no_sessions),
        now: crate::clock::system_now(),
        lock_timeout: args.lock_timeout.map_or(std::time::Duration::ZERO, |a| {
            std::time::Duration::from_secs(a.seconds().unsigned_abs())
        }),
        registry: crate::registry::Registry::builtin(),
    };
    let started = std::time::Instant::now();
    let revoked = super::runtime()?.block_on(crate::revoke::revoke(&options))?;
    crate::render::revoke::revoked(&revoked, started.elapsed(), global.verbose);
    if args.emit_patch {
        let patch =
            crate::revoke::patch::patch(&revoked.record.body, &global.config.display().to_string());
        crate::render::stdout(&patch).map_err(|e| miette::miette!("{e}"))?;
    }
    Ok(Outcome::Success)
}
