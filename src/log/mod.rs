//! The receipt log: one directory the applier owns (the trust policy's
//! `receipt_log`), or a bucket and prefix (`backend: {s3: …}`, see
//! [`LogStore`]), where every apply appends its receipt as
//! `NNNNNNNN.receipt.json`. Each receipt's body records its sequence number and
//! the digest of the receipt before it ([`GENESIS`] for the first), and a sealed
//! checkpoint (`checkpoint.json`: the count and the head digest, signed like a
//! receipt) is rewritten after each append. [`verify`] checks the whole chain
//! offline and names the first break: an edited, deleted (first, middle or
//! last), inserted or reordered receipt.
//!
//! Appends are exclusive: a local file lock, or a lease in S3 that is fenced
//! before each write; a receipt is only ever created where none is (so two
//! appliers cannot fork the log), and the checkpoint replaced only if it is
//! still the one read.
//!
//! What the chain cannot prove: whoever holds the applier's key can rewrite the
//! whole log consistently. Witness checkpoints somewhere the applier cannot write
//! (another team's repository, a bucket with object lock) to catch that.

mod chain;
mod store;

use nhi_provider_sdk::{Digest, LockGuard, LockRequest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) use self::chain::read_chain;
pub use self::chain::{LogReport, revocations, verify};
use self::store::CreateError;
pub use self::store::LogStore;
use crate::backend::lease::{self, Holder, Lease, LockError};
use crate::receipt::ReceiptFile;
use crate::sealed::{Sealed, SealedBody};
use crate::trust::{Role, Signer};

/// The `previous` of the first receipt in a log.
pub use crate::sealed::ChainLink;

pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The checkpoint's file name in a log.
pub const CHECKPOINT: &str = "checkpoint.json";

/// What a checkpoint says: how many receipts the log holds, and the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    pub format_version: u32,
    pub count: u64,
    /// The `body_digest` of receipt `count`.
    pub head: Digest,
    pub written_at: jiff::Timestamp,
}

impl SealedBody for CheckpointBody {
    const TAG: &'static str = "nhi_checkpoint";
    const VERSION: u32 = 1;
    const MAX_BYTES: u64 = 1024 * 1024;
}

pub type CheckpointFile = Sealed<CheckpointBody>;

/// Receipt `sequence`'s file name in a log.
pub fn receipt_name(sequence: u64) -> String {
    format!("{sequence:08}.receipt.json")
}

fn genesis() -> Digest {
    GENESIS
        .parse()
        .expect("invariant: the genesis digest parses")
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LogError {
    #[error("cannot use the receipt log `{dir}`: {detail}")]
    #[diagnostic(
        code(nhi::log::unusable),
        help("nothing was appended; `nhi audit verify {dir}` names what is wrong")
    )]
    Unusable { dir: String, detail: String },

    /// The log's lock in S3.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
}

/// What keeps other appliers out while an append is under way.
pub enum LogLock {
    /// The directory's `.lock`.
    File(Box<dyn LockGuard>),
    /// The lease `receipt-log` in the bucket.
    Lease(Lease),
}

impl LogLock {
    /// Before a shared write: the lease must still be this holder's.
    fn fence(&self) -> Result<(), LockError> {
        match self {
            Self::File(_) => Ok(()),
            Self::Lease(lease) => lease.fence(),
        }
    }
}

/// An append in progress: the log is locked, and `link` is what the next
/// receipt's body must say.
pub struct Append {
    store: LogStore,
    pub link: ChainLink,
    /// The version of the checkpoint read, which the new one replaces.
    checkpoint: Option<String>,
    lock: LogLock,
}

/// Locks the log in `store` (a directory is created with mode 0700 when
/// missing) and reads where the next receipt goes. A log whose checkpoint does
/// not match its last receipt is refused: appending would hide the break.
pub async fn begin(
    store: &LogStore,
    who: &Holder,
    timeout: std::time::Duration,
) -> Result<Append, LogError> {
    let fail = |detail: String| LogError::Unusable {
        dir: store.name(),
        detail,
    };
    store.prepare().map_err(fail)?;
    let lock = match store {
        LogStore::Dir(dir) => {
            let request = LockRequest {
                holder: who.holder.clone(),
                timeout,
            };
            LogLock::File(
                nhi_provider_sdk::lockfile::acquire(&dir.join(".lock"), &request)
                    .await
                    .map_err(|e| fail(e.to_string()))?,
            )
        }
        LogStore::S3(bucket) => {
            LogLock::Lease(lease::acquire(bucket, lease::LOG_LOCK, who, timeout).await?)
        }
    };
    begin_locked(store, lock)
}

/// [`begin`] with the log's lock already held (`nhi unlock`, which took it
/// over).
pub fn begin_locked(store: &LogStore, lock: LogLock) -> Result<Append, LogError> {
    let fail = |detail: String| LogError::Unusable {
        dir: store.name(),
        detail,
    };
    let (checkpoint, version) = match read_checkpoint(store).map_err(fail)? {
        Some((checkpoint, version)) => (Some(checkpoint), version),
        None => (None, None),
    };
    let link = match checkpoint {
        None => {
            if !receipt_files(store).map_err(fail)?.is_empty() {
                return Err(fail("it holds receipts but no checkpoint".into()));
            }
            ChainLink {
                sequence: 1,
                previous: genesis(),
            }
        }
        Some(checkpoint) => {
            let count = checkpoint.body.count;
            let last = read_entry(store, &receipt_name(count))
                .map_err(|e| fail(format!("receipt {count}, the checkpoint's head: {e}")))?;
            if last.digest != checkpoint.body.head {
                return Err(fail(format!(
                    "the checkpoint's head is `{}`, but receipt {count} is `{}`",
                    checkpoint.body.head, last.digest
                )));
            }
            // Receipts beyond the checkpoint were written by an append cut off
            // before its checkpoint (killed, or fenced off the log): the chain
            // goes on after them, and this append's checkpoint counts them.
            // Their signatures are `nhi audit verify`'s to judge, as every
            // receipt's: a checkpoint vouches for the count, not for them.
            let mut link = ChainLink {
                sequence: count + 1,
                previous: last.digest,
            };
            while store
                .get(
                    &receipt_name(link.sequence),
                    crate::receipt::MAX_RECEIPT_BYTES,
                )
                .map_err(fail)?
                .is_some()
            {
                let name = receipt_name(link.sequence);
                let entry = read_entry(store, &name).map_err(|e| fail(format!("`{name}`: {e}")))?;
                if entry.chain.as_ref() != Some(&link) {
                    return Err(fail(format!(
                        "`{name}`, beyond the checkpoint, does not follow receipt {}",
                        link.sequence - 1
                    )));
                }
                link = ChainLink {
                    sequence: link.sequence + 1,
                    previous: entry.digest,
                };
            }
            link
        }
    };
    Ok(Append {
        store: store.clone(),
        link,
        checkpoint: version,
        lock,
    })
}

impl Append {
    /// Writes the receipt (whose body carries [`Self::link`]) into the log and the
    /// new checkpoint, signed by `signer` when given. Returns where the receipt
    /// went.
    pub fn commit(
        self,
        receipt: &ReceiptFile,
        signer: Option<(&Signer, &str)>,
    ) -> Result<String, LogError> {
        self.commit_entry(
            &receipt.encode(),
            receipt.digest,
            receipt.body.chain.as_ref(),
            signer,
        )
    }

    /// [`Self::commit`] of any entry the log holds (a receipt or a revocation
    /// record, an unlock record): its encoded bytes, digest and the place its
    /// body carries. In S3 the lease is fenced before each write, the entry is
    /// created only where none is, and the checkpoint replaced only if it is
    /// still the one [`begin`] read.
    pub fn commit_entry(
        self,
        encoded: &[u8],
        digest: Digest,
        chain: Option<&ChainLink>,
        signer: Option<(&Signer, &str)>,
    ) -> Result<String, LogError> {
        let fail = |detail: String| LogError::Unusable {
            dir: self.store.name(),
            detail,
        };
        if chain != Some(&self.link) {
            return Err(fail(
                "the receipt does not carry its place in the log".into(),
            ));
        }
        let name = receipt_name(self.link.sequence);
        self.lock.fence()?;
        self.store.create(&name, encoded).map_err(|e| match e {
            CreateError::Exists => fail(format!(
                "`{name}` exists already: another applier appended without the lock"
            )),
            CreateError::Failed(detail) => fail(format!("`{name}`: {detail}")),
        })?;
        let mut checkpoint = CheckpointFile::new(CheckpointBody {
            format_version: 1,
            count: self.link.sequence,
            head: digest,
            written_at: crate::clock::system_now(),
        });
        if let Some((signer, principal)) = signer {
            let record = crate::trust::sign(
                signer,
                crate::trust::RECEIPT_NAMESPACE,
                Role::Applier,
                principal,
                checkpoint.digest,
                crate::clock::system_now(),
                None,
            )
            .map_err(|e| fail(e.to_string()))?;
            checkpoint.signatures.push(record);
        }
        self.lock.fence()?;
        self.store
            .replace(CHECKPOINT, &checkpoint.encode(), self.checkpoint.as_deref())
            .map_err(fail)?;
        Ok(self.store.location_of(&name))
    }
}

/// The checkpoint and the version that names it, or `None` when there is none.
fn read_checkpoint(store: &LogStore) -> Result<Option<(CheckpointFile, Option<String>)>, String> {
    let Some(fetched) = store
        .get(CHECKPOINT, CheckpointBody::MAX_BYTES)
        .map_err(|e| format!("`{CHECKPOINT}`: {e}"))?
    else {
        return Ok(None);
    };
    CheckpointFile::unseal(&fetched.bytes)
        .map(|c| Some((c, fetched.version)))
        .map_err(|e| {
            format!(
                "`{CHECKPOINT}`: {}",
                crate::sealed::detail(&e, "a checkpoint")
            )
        })
}

/// The log's receipt files, `(sequence in the name, name)`, in name order.
fn receipt_files(store: &LogStore) -> Result<Vec<(u64, String)>, String> {
    let mut files = Vec::new();
    for name in store.names()? {
        let Some(number) = name.strip_suffix(".receipt.json") else {
            continue;
        };
        match number.parse::<u64>() {
            Ok(n) if number.len() == 8 => files.push((n, name.clone())),
            _ => return Err(format!("`{name}` is not a receipt name of this log")),
        }
    }
    files.sort();
    Ok(files)
}

/// One entry of a log as the chain sees it: a receipt of an apply, or the
/// record of a revocation (kind `nhi_revocation`), which share the file names.
pub(crate) struct Entry {
    pub digest: Digest,
    pub chain: Option<ChainLink>,
    pub signatures: Vec<crate::sealed::SignatureRecord>,
    pub revocation: Option<crate::revoke::RevocationFile>,
    /// The receipt, for an entry that is one.
    pub receipt: Option<ReceiptFile>,
}

/// Reads a log entry of any kind; hostile input, bounded and checked.
pub(crate) fn read_entry(store: &LogStore, name: &str) -> Result<Entry, String> {
    let bytes = store
        .get(name, crate::receipt::MAX_RECEIPT_BYTES)?
        .ok_or_else(|| "it is missing".to_owned())?
        .bytes;
    if crate::unlock::is_unlock(&bytes) {
        let file =
            crate::unlock::decode(&bytes).map_err(|e| format!("not an unlock record: {e}"))?;
        return Ok(Entry {
            digest: file.digest,
            chain: file.body.chain.clone(),
            signatures: file.signatures.clone(),
            revocation: None,
            receipt: None,
        });
    }
    if crate::revoke::record::is_revocation(&bytes) {
        let file = crate::revoke::record::decode(&bytes)
            .map_err(|e| format!("not a revocation record: {e}"))?;
        return Ok(Entry {
            digest: file.digest,
            chain: file.body.chain.clone(),
            signatures: file.signatures.clone(),
            revocation: Some(file),
            receipt: None,
        });
    }
    let receipt = ReceiptFile::decode(&bytes).map_err(|e| e.to_string())?;
    Ok(Entry {
        digest: receipt.digest,
        chain: receipt.body.chain.clone(),
        signatures: receipt.signatures.clone(),
        revocation: None,
        receipt: Some(receipt),
    })
}
