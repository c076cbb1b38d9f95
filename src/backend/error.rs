//! Why a shared lock could not be taken, kept or taken over.

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error(
        "the lock `{name}` is held by `{holder}` (lock id `{lock_id}`, {plan}) until {lease_until}"
    )]
    #[diagnostic(
        code(nhi::lock::held),
        help(
            "another apply holds it and renews its lease; wait for it, or pass `--lock-timeout 5m` to wait"
        )
    )]
    Held {
        name: String,
        holder: String,
        lock_id: String,
        /// Boxed: every error that can hold this one stays small.
        plan: Box<str>,
        lease_until: Box<str>,
    },

    #[error(
        "the lock `{name}` of `{holder}` (lock id `{lock_id}`, {plan}) expired at {lease_until} without being released"
    )]
    #[diagnostic(
        code(nhi::lock::expired),
        help(
            "its holder died or is paused; once you know it is not running, take the lock over with `nhi unlock --lock-id {lock_id} --reason TEXT --key KEY` (recorded in the receipt log)"
        )
    )]
    Expired {
        name: String,
        holder: String,
        lock_id: String,
        /// Boxed: every error that can hold this one stays small.
        plan: Box<str>,
        lease_until: Box<str>,
    },

    #[error(
        "lost the lock `{name}` (lock id `{lock_id}`): it was taken over while this run held it"
    )]
    #[diagnostic(
        code(nhi::lock::lost),
        help(
            "this run was paused or cut off past its lease and another took the lock over (`nhi unlock`); it wrote nothing more to the shared log: check what it changed with `nhi plan`, and the log with `nhi audit verify`"
        )
    )]
    Lost { name: String, lock_id: String },

    #[error("cannot use the shared lock `{url}`: {detail}")]
    #[diagnostic(
        code(nhi::lock::unusable),
        help(
            "check the bucket, the credentials (the standard AWS chain) and the trust policy's `backend`"
        )
    )]
    Unusable { url: String, detail: String },

    #[error(
        "the store `{url}` ignores conditional writes: a second create of `{probe}` with `If-None-Match: *` succeeded"
    )]
    #[diagnostic(
        code(nhi::log::unconditional_store),
        help(
            "nhi keeps shared locks and the receipt log only where `If-None-Match` and `If-Match` hold (Amazon S3 does); an S3-compatible store that ignores them gives no exclusion at all: use another store, or a `receipt_log` directory"
        )
    )]
    Unconditional { url: String, probe: String },

    #[error("no lock holds the lock id `{lock_id}` under `{url}`")]
    #[diagnostic(
        code(nhi::lock::unknown),
        help(
            "the lock id is the one a refused apply names; the lock may have been released meanwhile"
        )
    )]
    Unknown { lock_id: String, url: String },

    #[error(
        "the lock `{name}` (lock id `{lock_id}`) is still live: its lease runs until {lease_until}"
    )]
    #[diagnostic(
        code(nhi::lock::live),
        help(
            "a lock is taken over only once its lease expired; its holder renews it while it runs"
        )
    )]
    Live {
        name: String,
        lock_id: String,
        lease_until: String,
    },
}
