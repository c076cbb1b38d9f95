//! Lease locks in S3: `<prefix>/locks/<name>.json` names its holder, the lock
//! id of the holder's session, the plan it applies and how long its lease runs.
//! A lock is created with `If-None-Match: *` and renewed (every third of the
//! lease, on the bucket's own runtime) and released with `If-Match` on the `ETag`
//! its holder last wrote, so that only the holder changes it. A live lease
//! held by another is refused (or waited for); an expired one is never taken
//! silently: `nhi unlock --lock-id ID` takes it over, recorded in the log.
//!
//! Fencing: [`Lease::fence`] renews the lease conditionally right before a
//! shared write, so a holder paused past its lease learns that its lock was
//! taken over instead of writing over its successor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nhi_provider_sdk::Digest;

pub use super::error::LockError;
pub use super::record::LockRecord;
use super::s3::{Bucket, Condition, ProbeError, S3Error};

/// The lock of the receipt log itself, beside the scopes' (whose names always
/// hold a dot: `<type>.<name>`).
pub const LOG_LOCK: &str = "receipt-log";

/// The most bytes a lock object may hold; more is not one nhi wrote.
const MAX_LOCK_BYTES: u64 = 64 * 1024;

/// How often a held lock is looked at again while waiting for it.
const POLL: Duration = Duration::from_millis(250);

/// Who takes locks: one session, one lock id.
#[derive(Debug, Clone)]
pub struct Holder {
    pub lock_id: String,
    pub holder: String,
    pub plan: Option<Digest>,
}

impl Holder {
    /// A new session with a fresh random lock id.
    pub fn new(holder: &str, plan: Option<Digest>) -> Self {
        let mut random = [0u8; 8];
        // Without randomness the id is the time: still unique enough to name.
        if getrandom::fill(&mut random).is_err() {
            random = jiff::Timestamp::now().as_nanosecond().to_le_bytes()[..8]
                .try_into()
                .expect("invariant: eight bytes");
        }
        Self {
            lock_id: hex::encode(random),
            holder: holder.to_owned(),
            plan,
        }
    }
}

/// A held lease, renewed in the background until it is released or dropped.
pub struct Lease {
    bucket: Arc<Bucket>,
    name: String,
    state: Arc<tokio::sync::Mutex<State>>,
    stopped: Arc<AtomicBool>,
}

struct State {
    record: LockRecord,
    etag: String,
    lost: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn object_of(name: &str) -> Result<String, String> {
    if name.is_empty()
        || name.len() > 200
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        || name.starts_with('.')
    {
        return Err(format!("`{}` cannot name a lock", name.escape_debug()));
    }
    Ok(format!("locks/{name}.json"))
}

fn unusable(bucket: &Bucket, name: &str, detail: impl std::fmt::Display) -> LockError {
    LockError::Unusable {
        url: bucket.url_of(&format!("locks/{name}.json")),
        detail: detail.to_string(),
    }
}

/// Refuses a store that ignores conditional writes, before its first write.
pub fn probe(bucket: &Bucket) -> Result<(), LockError> {
    bucket.probe().map_err(|e| match e {
        ProbeError::Unconditional => LockError::Unconditional {
            url: bucket.settings.url(),
            probe: bucket.url_of(super::s3::PROBE),
        },
        ProbeError::Failed(detail) => LockError::Unusable {
            url: bucket.settings.url(),
            detail,
        },
    })
}

fn read(bucket: &Bucket, name: &str) -> Result<Option<(LockRecord, String)>, LockError> {
    let object = object_of(name).map_err(|e| unusable(bucket, name, e))?;
    match bucket.get(&object, MAX_LOCK_BYTES) {
        Ok(None) => Ok(None),
        Ok(Some(found)) => {
            let record = LockRecord::decode(&found.bytes).map_err(|e| unusable(bucket, name, e))?;
            Ok(Some((record, found.etag)))
        }
        Err(e) => Err(unusable(bucket, name, e)),
    }
}

fn until(lease: Duration) -> jiff::Timestamp {
    let now = crate::clock::system_now();
    jiff::SignedDuration::try_from(lease)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(now)
}

/// Takes the lock `name` for `who`, waiting up to `timeout` while another's
/// live lease holds it. An expired lease is refused at once.
pub async fn acquire(
    bucket: &Arc<Bucket>,
    name: &str,
    who: &Holder,
    timeout: Duration,
) -> Result<Lease, LockError> {
    probe(bucket)?;
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let held = match try_acquire(bucket, name, who)? {
            Ok(lease) => return Ok(lease),
            Err(held) => held,
        };
        let shown = |record: &LockRecord| {
            (
                name.to_owned(),
                record.holder.clone(),
                record.lock_id.clone(),
                record.plan_shown().into_boxed_str(),
                record.lease_until.to_string().into_boxed_str(),
            )
        };
        if held.lease_until <= crate::clock::system_now() {
            let (name, holder, lock_id, plan, lease_until) = shown(&held);
            return Err(LockError::Expired {
                name,
                holder,
                lock_id,
                plan,
                lease_until,
            });
        }
        let left = deadline.and_then(|d| d.checked_duration_since(Instant::now()));
        match left {
            Some(left) if !left.is_zero() => tokio::time::sleep(left.min(POLL)).await,
            None if deadline.is_none() => tokio::time::sleep(POLL).await,
            _ => {
                let (name, holder, lock_id, plan, lease_until) = shown(&held);
                return Err(LockError::Held {
                    name,
                    holder,
                    lock_id,
                    plan,
                    lease_until,
                });
            }
        }
    }
}

/// One attempt: the lease, or the record of whoever holds the lock.
fn try_acquire(
    bucket: &Arc<Bucket>,
    name: &str,
    who: &Holder,
) -> Result<Result<Lease, LockRecord>, LockError> {
    let object = object_of(name).map_err(|e| unusable(bucket, name, e))?;
    // Each retry means another taker made progress; give up eventually.
    for _ in 0..16 {
        let current = read(bucket, name)?;
        let condition = match &current {
            None => Condition::Absent,
            Some((record, etag)) if record.released_at.is_some() => Condition::Matches(etag),
            Some((record, _)) => return Ok(Err(record.clone())),
        };
        let record = LockRecord {
            format_version: 1,
            lock_id: who.lock_id.clone(),
            holder: who.holder.clone(),
            plan: who.plan,
            acquired: crate::clock::system_now(),
            lease_until: until(bucket.settings.lease),
            released_at: None,
        };
        match bucket.put(&object, &record.encode(), condition) {
            Ok(etag) => return Ok(Ok(Lease::start(bucket, name, record, etag))),
            // Someone else got there first, or a retried write of ours did.
            Err(S3Error::Precondition) => {
                if let Some((found, etag)) = read(bucket, name)?
                    && found == record
                {
                    return Ok(Ok(Lease::start(bucket, name, record, etag)));
                }
            }
            Err(e) => return Err(unusable(bucket, name, e)),
        }
    }
    Err(unusable(
        bucket,
        name,
        "the lock kept changing while it was taken",
    ))
}

/// The locks that hold `lock_id`, with their `ETag`s.
pub fn locks_of(
    bucket: &Arc<Bucket>,
    lock_id: &str,
) -> Result<Vec<(String, LockRecord, String)>, LockError> {
    let names = bucket
        .list("locks", 10_000)
        .map_err(|e| unusable(bucket, "*", e))?;
    let mut out = Vec::new();
    for file in names {
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        if let Some((record, etag)) = read(bucket, name)?
            && record.lock_id == lock_id
            && record.released_at.is_none()
        {
            out.push((name.to_owned(), record, etag));
        }
    }
    if out.is_empty() {
        return Err(LockError::Unknown {
            lock_id: lock_id.to_owned(),
            url: bucket.settings.url(),
        });
    }
    Ok(out)
}

/// Takes over the expired lock `name` (as read, with `etag`) for `who`: the
/// write holds only if nobody changed it since.
pub fn take_over(
    bucket: &Arc<Bucket>,
    name: &str,
    read: &LockRecord,
    etag: &str,
    who: &Holder,
) -> Result<Lease, LockError> {
    if read.lease_until > crate::clock::system_now() {
        return Err(LockError::Live {
            name: name.to_owned(),
            lock_id: read.lock_id.clone(),
            lease_until: read.lease_until.to_string(),
        });
    }
    probe(bucket)?;
    let object = object_of(name).map_err(|e| unusable(bucket, name, e))?;
    let record = LockRecord {
        format_version: 1,
        lock_id: who.lock_id.clone(),
        holder: who.holder.clone(),
        plan: None,
        acquired: crate::clock::system_now(),
        lease_until: until(bucket.settings.lease),
        released_at: None,
    };
    match bucket.put(&object, &record.encode(), Condition::Matches(etag)) {
        Ok(etag) => Ok(Lease::start(bucket, name, record, etag)),
        Err(S3Error::Precondition) => Err(unusable(
            bucket,
            name,
            "it changed while it was taken over: look again",
        )),
        Err(e) => Err(unusable(bucket, name, e)),
    }
}

impl Lease {
    fn start(bucket: &Arc<Bucket>, name: &str, record: LockRecord, etag: String) -> Self {
        let lease = Self {
            bucket: Arc::clone(bucket),
            name: name.to_owned(),
            state: Arc::new(tokio::sync::Mutex::new(State {
                record,
                etag,
                lost: false,
            })),
            stopped: Arc::new(AtomicBool::new(false)),
        };
        let every = (bucket.settings.lease / 3).max(Duration::from_millis(100));
        let (bucket, name, state, stopped) = (
            Arc::clone(&lease.bucket),
            lease.name.clone(),
            Arc::clone(&lease.state),
            Arc::clone(&lease.stopped),
        );
        let renewer = Arc::clone(&bucket);
        renewer.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let mut state = state.lock().await;
                if state.lost || stopped.load(Ordering::SeqCst) {
                    return;
                }
                // A failure other than a lost condition is tried again next
                // time; fencing catches a lease that ran out meanwhile.
                let _ = renew(&bucket, &name, &mut state).await;
            }
        });
        lease
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renews the lease now, conditionally on the `ETag` this holder last wrote:
    /// fails with [`LockError::Lost`] when another took the lock over.
    pub fn fence(&self) -> Result<(), LockError> {
        let (bucket, name, state) = (
            Arc::clone(&self.bucket),
            self.name.clone(),
            Arc::clone(&self.state),
        );
        self.bucket_block(async move {
            let mut state = state.lock().await;
            renew(&bucket, &name, &mut state).await
        })
    }

    fn bucket_block<F>(&self, future: F) -> Result<(), LockError>
    where
        F: std::future::Future<Output = Result<(), LockError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.bucket.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(unusable(&self.bucket, &self.name, "the S3 client stopped")))
    }

    /// Lets go of the lock (a released record, written only if still ours);
    /// dropping a lease does too.
    pub fn release(mut self) {
        self.let_go();
    }

    /// Stops renewing without letting go: the lock stays this holder's until
    /// its lease runs out, and is then taken over only by `nhi unlock`.
    pub fn keep(self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn let_go(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let (bucket, name, state) = (
            Arc::clone(&self.bucket),
            self.name.clone(),
            Arc::clone(&self.state),
        );
        let _ = self.bucket_block(async move {
            let mut state = state.lock().await;
            if state.lost {
                return Ok(());
            }
            let mut record = state.record.clone();
            record.released_at = Some(crate::clock::system_now());
            // A lock that cannot be written back released runs out by itself.
            let _ = rewrite(&bucket, &name, &mut state, record).await;
            Ok(())
        });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.let_go();
    }
}

/// One conditional renewal: the lease runs another full length.
async fn renew(bucket: &Bucket, name: &str, state: &mut State) -> Result<(), LockError> {
    if state.lost {
        return Err(LockError::Lost {
            name: name.to_owned(),
            lock_id: state.record.lock_id.clone(),
        });
    }
    let mut record = state.record.clone();
    record.lease_until = until(bucket.settings.lease);
    rewrite(bucket, name, state, record).await
}

/// Replaces the lock with `record`, conditionally on the `ETag` this holder last
/// wrote; a lost condition marks the lease lost.
async fn rewrite(
    bucket: &Bucket,
    name: &str,
    state: &mut State,
    record: LockRecord,
) -> Result<(), LockError> {
    let object = object_of(name).map_err(|e| unusable(bucket, name, e))?;
    match bucket
        .put_future(&object, &record.encode(), Condition::Matches(&state.etag))
        .await
    {
        Ok(etag) => {
            state.etag = etag;
            state.record = record;
            Ok(())
        }
        Err(S3Error::Precondition) => {
            // A retried write of this very record finds itself in place.
            if let Ok(Some(found)) = bucket.get_future(&object, MAX_LOCK_BYTES).await
                && LockRecord::decode(&found.bytes).is_ok_and(|r| r == record)
            {
                state.etag = found.etag;
                state.record = record;
                return Ok(());
            }
            state.lost = true;
            Err(LockError::Lost {
                name: name.to_owned(),
                lock_id: state.record.lock_id.clone(),
            })
        }
        Err(e) => Err(unusable(bucket, name, e)),
    }
}
