//! `nhi unlock`: take over the shared locks of a session whose lease expired.
//! Resolves the key and the trust policy, calls [`crate::unlock::unlock`],
//! renders what it did.

use std::path::PathBuf;

use clap::Args;

use super::{Global, Outcome};
use crate::trust::{AllowedSigners, TrustPolicy};
use crate::unlock::UnlockOptions;

#[derive(Debug, Args)]
pub(crate) struct UnlockArgs {
    /// The lock id a refused apply named (`nhi::lock::expired`)
    #[arg(long, value_name = "ID")]
    lock_id: String,

    /// Why: goes into the signed record in the receipt log
    #[arg(long)]
    reason: String,

    /// Sign the record with this key (private key, or `.pub` through ssh-agent)
    #[arg(long, value_name = "KEY")]
    key: PathBuf,

    /// Trust policy [default: $NHI_TRUST, then ~/.config/nhi/trust.yaml]
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,

    /// How long to wait for the receipt log's lock (e.g. `30s`, `5m`)
    #[arg(long, value_name = "AGE")]
    lock_timeout: Option<nhi_provider_sdk::Age>,
}

pub(crate) fn run(global: &Global, args: &UnlockArgs) -> miette::Result<Outcome> {
    let policy = TrustPolicy::locate(&global.env.trust_location(args.trust.as_deref()))?;
    let signers = AllowedSigners::read(&policy.allowed_signers)?;
    let signer = global.env.signer(&args.key)?;
    let principal = crate::trust::principal_for(&signer, None)?;
    let key = (args.key.display().to_string(), signer, principal);
    let options = UnlockOptions {
        policy: &policy,
        signers: &signers,
        key: &key,
        lock_id: &args.lock_id,
        reason: &args.reason,
        lock_timeout: args.lock_timeout.map_or(std::time::Duration::ZERO, |a| {
            std::time::Duration::from_secs(a.seconds().unsigned_abs())
        }),
    };
    let unlocked = super::runtime()?.block_on(crate::unlock::unlock(&options))?;
    crate::render::revoke::unlocked(&unlocked);
    Ok(Outcome::Success)
}
