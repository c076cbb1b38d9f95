//! `nhi unlock`: take over the shared locks of a session whose lease expired
//! (its holder died or is paused), release them, and append a signed record of
//! it to the receipt log. Never a live lease: every take-over is conditional
//! on the version that was read, so a holder that renewed meanwhile keeps its
//! lock, and a paused holder that wakes learns it lost its lock (fencing)
//! instead of writing over its successor.

use nhi_provider_sdk::Digest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::backend::lease::{self, Holder, LockError};
use crate::log::{LogError, LogLock, LogStore};
use crate::sealed::{ChainLink, Sealed, SealedBody};
use crate::trust::{AllowedSigners, Role, Signer, TrustError, TrustPolicy};

/// The signed record of one `nhi unlock`, an entry of the receipt log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockBody {
    /// Always 1; readers refuse any other.
    pub format_version: u32,
    /// The nhi version that unlocked, for the record only.
    pub tool_version: String,
    /// The session whose locks were taken over.
    pub lock_id: String,
    /// Each lock taken over, as it read before.
    pub locks: Vec<UnlockedLock>,
    /// Why, as the operator wrote it (`--reason`), never empty.
    pub reason: String,
    /// The principal of the signing key: who unlocked.
    pub actor: String,
    pub unlocked_at: jiff::Timestamp,
    /// The record's place in the receipt log.
    pub chain: Option<ChainLink>,
}

/// A lock as it was when it was taken over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockedLock {
    /// `receipt-log`, or a scope (`<type>.<name>`).
    pub name: String,
    pub holder: String,
    /// The plan its holder was applying, when it was an apply.
    pub plan: Option<Digest>,
    pub acquired: jiff::Timestamp,
    pub lease_until: jiff::Timestamp,
}

impl SealedBody for UnlockBody {
    const TAG: &'static str = "nhi_unlock";
    const VERSION: u32 = 1;
    const MAX_BYTES: u64 = 1024 * 1024;
}

pub type UnlockFile = Sealed<UnlockBody>;

/// Whether these bytes are an unlock record.
pub fn is_unlock(bytes: &[u8]) -> bool {
    crate::sealed::has_tag(bytes, UnlockBody::TAG)
}

/// Decodes an unlock record (hostile input): envelope, digest, version, and
/// texts that cannot steer a terminal.
pub fn decode(bytes: &[u8]) -> Result<UnlockFile, String> {
    let file = UnlockFile::unseal(bytes).map_err(|e| crate::sealed::detail(&e, "an unlock"))?;
    let body = &file.body;
    if body.format_version != 1 {
        return Err(format!(
            "format version {} is not supported",
            body.format_version
        ));
    }
    let texts = [&body.reason, &body.actor, &body.lock_id];
    let names = body.locks.iter().flat_map(|l| [&l.name, &l.holder]);
    if !texts
        .into_iter()
        .chain(names)
        .all(|t| crate::revoke::record::printable(t))
    {
        return Err("its texts hold control characters".into());
    }
    Ok(file)
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UnlockError {
    #[error("an unlock needs a reason")]
    #[diagnostic(
        code(nhi::unlock::reason),
        help(
            "say why with `--reason TEXT` (at most 500 characters); it goes into the signed record"
        )
    )]
    Reason,

    #[error("the trust policy `{policy}` keeps no shared locks: it has no `backend: {{s3: …}}`")]
    #[diagnostic(
        code(nhi::unlock::not_shared),
        help("local scope locks need no unlock: the OS releases them when their holder exits")
    )]
    NotShared { policy: String },

    #[error("key `{key}` may not unlock: {detail}")]
    #[diagnostic(
        code(nhi::unlock::not_allowed),
        help("sign with a key listed in the trust policy's allowed signers")
    )]
    NotAllowed { key: String, detail: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(#[from] LogError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Trust(#[from] TrustError),
}

/// Everything an unlock needs.
pub struct UnlockOptions<'a> {
    pub policy: &'a TrustPolicy,
    pub signers: &'a AllowedSigners,
    /// The signing key: how the user named it, the signer, its principal.
    pub key: &'a (String, Signer, String),
    pub lock_id: &'a str,
    pub reason: &'a str,
    /// How long to wait for the receipt log's lock when another holds it.
    pub lock_timeout: std::time::Duration,
}

/// What an unlock did.
#[derive(Debug)]
pub struct Unlocked {
    pub record: UnlockFile,
    /// Where the record went in the receipt log.
    pub logged: String,
}

/// Takes over and releases the locks of `options.lock_id`; see the module
/// documentation.
pub async fn unlock(options: &UnlockOptions<'_>) -> Result<Unlocked, UnlockError> {
    let reason = options.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > 500
        || !crate::revoke::record::printable(reason)
    {
        return Err(UnlockError::Reason);
    }
    let Some(location) = options
        .policy
        .receipt_log
        .as_ref()
        .filter(|l| l.s3().is_some())
    else {
        return Err(UnlockError::NotShared {
            policy: options.policy.path.display().to_string(),
        });
    };
    let actor = authorise(options)?;
    let store = LogStore::open(location)?;
    let bucket = store
        .s3()
        .expect("invariant: an S3 location opens an S3 store");
    let who = Holder::new(&format!("nhi unlock by {actor}"), None);
    let mut taken = Vec::new();
    let mut locks = Vec::new();
    let mut log_lease = None;
    for (name, record, etag) in lease::locks_of(bucket, options.lock_id)? {
        let lease = match lease::take_over(bucket, &name, &record, &etag, &who) {
            Ok(lease) => lease,
            Err(e) => {
                keep_all(taken);
                return Err(e.into());
            }
        };
        locks.push(UnlockedLock {
            name: name.clone(),
            holder: record.holder,
            plan: record.plan,
            acquired: record.acquired,
            lease_until: record.lease_until,
        });
        if name == lease::LOG_LOCK {
            log_lease = Some(lease);
        } else {
            taken.push(lease);
        }
    }
    // Until the record is in the log, a failure keeps what was taken over held
    // (under this run's lock id, until its lease runs out) rather than releasing
    // it: a release without the record would be the silent take-over that
    // `nhi unlock` exists to prevent.
    let recorded = record(options, &store, &actor, locks, log_lease, &who).await;
    match recorded {
        Ok(unlocked) => {
            for lease in taken {
                lease.release();
            }
            Ok(unlocked)
        }
        Err(e) => {
            keep_all(taken);
            Err(e)
        }
    }
}

fn keep_all(leases: Vec<crate::backend::Lease>) {
    for lease in leases {
        lease.keep();
    }
}

/// Appends the signed record of the take-over to the log.
async fn record(
    options: &UnlockOptions<'_>,
    store: &LogStore,
    actor: &str,
    locks: Vec<UnlockedLock>,
    log_lease: Option<crate::backend::Lease>,
    who: &Holder,
) -> Result<Unlocked, UnlockError> {
    let bucket = store
        .s3()
        .expect("invariant: an S3 location opens an S3 store");
    let log_lease = match log_lease {
        Some(lease) => lease,
        None => lease::acquire(bucket, lease::LOG_LOCK, who, options.lock_timeout).await?,
    };
    let append = crate::log::begin_locked(store, LogLock::Lease(log_lease))?;
    let (_, signer, _) = options.key;
    let mut file = UnlockFile::new(UnlockBody {
        format_version: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        lock_id: options.lock_id.to_owned(),
        locks,
        reason: options.reason.trim().to_owned(),
        actor: actor.to_owned(),
        unlocked_at: crate::clock::system_now(),
        chain: Some(append.link.clone()),
    });
    let signature = crate::trust::sign(
        signer,
        crate::trust::RECEIPT_NAMESPACE,
        Role::Applier,
        actor,
        file.digest,
        crate::clock::system_now(),
        None,
    )?;
    file.signatures.push(signature);
    // The log's lease is released with the append; the scopes' after it.
    let logged = append.commit_entry(
        &file.encode(),
        file.digest,
        file.body.chain.as_ref(),
        Some((signer, actor)),
    )?;
    Ok(Unlocked {
        record: file,
        logged,
    })
}

/// The key must verify against the allowed signers as an applier would.
fn authorise(options: &UnlockOptions<'_>) -> Result<String, UnlockError> {
    let (shown, signer, principal) = options.key;
    let probe = Digest::of(
        format!(
            "nhi-unlock-probe\n{}\n{}\n",
            options.lock_id, options.reason
        )
        .as_bytes(),
    );
    let record = crate::trust::sign(
        signer,
        crate::trust::RECEIPT_NAMESPACE,
        Role::Applier,
        principal,
        probe,
        crate::clock::system_now(),
        None,
    )?;
    let (good, failure) = crate::trust::judge_receipt(&probe, &[record], options.signers);
    let refuse = |detail: String| UnlockError::NotAllowed {
        key: shown.clone(),
        detail,
    };
    if let Some(failure) = failure {
        return Err(refuse(failure.to_string()));
    }
    good.into_iter()
        .next()
        .map(|g| g.statement.principal)
        .ok_or_else(|| refuse("its signature did not verify".into()))
}

/// The JSON Schema of an unlock record's body (`schemas/unlock.schema.json`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(UnlockBody)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NHI_UPDATE_SCHEMAS=1` rewrites `schemas/unlock.schema.json`.
    #[test]
    fn unlock_schema_is_up_to_date() {
        crate::check_schema_file("unlock.schema.json", &schema());
    }

    fn body(reason: &str, holder: &str) -> UnlockBody {
        UnlockBody {
            format_version: 1,
            tool_version: "0".into(),
            lock_id: "00aa".into(),
            locks: vec![UnlockedLock {
                name: "local.demo".into(),
                holder: holder.into(),
                plan: None,
                acquired: jiff::Timestamp::UNIX_EPOCH,
                lease_until: jiff::Timestamp::UNIX_EPOCH,
            }],
            reason: reason.into(),
            actor: "bob@example.com".into(),
            unlocked_at: jiff::Timestamp::UNIX_EPOCH,
            chain: None,
        }
    }

    #[test]
    fn an_unlock_record_is_its_own_kind_and_cannot_steer_a_terminal() {
        let good = UnlockFile::new(body("runner died", "carol@example.com")).encode();
        assert!(is_unlock(&good));
        assert!(!crate::revoke::record::is_revocation(&good));
        assert!(!crate::receipt::is_receipt(&good));
        assert_eq!(decode(&good).unwrap().body.reason, "runner died");
        for (reason, holder) in [("a\u{1b}[2J", "carol"), ("ok", "carol\u{202e}")] {
            let bad = UnlockFile::new(body(reason, holder)).encode();
            assert_eq!(
                decode(&bad).unwrap_err(),
                "its texts hold control characters"
            );
        }
    }
}
