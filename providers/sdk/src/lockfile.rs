//! A scope lock any provider can use: an exclusive OS file lock on a file of the
//! provider's choosing, which also records who holds it so that a waiting applier
//! can say whom it waits for. The OS releases it when the process dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{LockGuard, LockRequest, ProviderError};

/// How often a held lock is tried again while waiting.
const POLL: Duration = Duration::from_millis(100);

/// The most of a holder's text that is shown: the file is anyone's to write.
const MAX_HOLDER_CHARS: usize = 200;

/// Held while an apply runs; the OS releases the lock when the file closes, even
/// if the process dies.
struct LocalLock {
    file: File,
}

impl LockGuard for LocalLock {}

impl Drop for LocalLock {
    fn drop(&mut self) {
        // Best effort: closing the file releases the lock regardless.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

enum Attempt {
    Acquired(LocalLock),
    Held(String),
}

/// Takes the lock at `path`, waiting up to `request.timeout` for its holder.
pub async fn acquire(
    path: &Path,
    request: &LockRequest,
) -> Result<Box<dyn LockGuard>, ProviderError> {
    // A timeout too large to add is a wait without end.
    let deadline = Instant::now().checked_add(request.timeout);
    loop {
        let holder = match try_acquire(path, &request.holder)? {
            Attempt::Acquired(guard) => return Ok(Box::new(guard)),
            Attempt::Held(holder) => holder,
        };
        let wait = match deadline {
            None => POLL,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(POLL),
                _ => return Err(ProviderError::Locked { holder }),
            },
        };
        tokio::time::sleep(wait).await;
    }
}

fn try_acquire(path: &Path, holder: &str) -> Result<Attempt, ProviderError> {
    let context = || format!("cannot take the lock `{}`", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|err| ProviderError::io(context(), err))?;
    match file.try_lock() {
        Ok(()) => {
            let text = format!(
                "{holder} (pid {}, since {})",
                std::process::id(),
                jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
                    .unwrap_or_else(|_| jiff::Timestamp::now())
            );
            let recorded = file
                .set_len(0)
                .and_then(|()| file.write_all(text.as_bytes()))
                .and_then(|()| file.sync_data());
            // The lock is ours either way; dropping the guard would release it.
            let guard = LocalLock { file };
            recorded.map_err(|err| ProviderError::io(context(), err))?;
            Ok(Attempt::Acquired(guard))
        }
        Err(TryLockError::WouldBlock) => Ok(Attempt::Held(read_holder(&mut file))),
        Err(TryLockError::Error(err)) => Err(ProviderError::io(context(), err)),
    }
}

/// The holder's text, made safe to print: one line, no control characters, short.
fn read_holder(file: &mut File) -> String {
    let mut bytes = Vec::new();
    let read = file.seek(SeekFrom::Start(0)).and_then(|_| {
        file.take(4 * MAX_HOLDER_CHARS as u64)
            .read_to_end(&mut bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    let holder: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_HOLDER_CHARS)
        .collect();
    if read.is_err() || holder.is_empty() {
        // The holder may have locked and not yet written its name.
        return "another process (no holder recorded)".to_owned();
    }
    holder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(holder: &str, timeout: Duration) -> LockRequest {
        LockRequest {
            holder: holder.to_owned(),
            timeout,
        }
    }

    #[tokio::test]
    async fn held_lock_names_its_holder_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("estate.json.lock");
        let _held = acquire(&path, &request("alice@ci", Duration::ZERO))
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("alice@ci (pid "), "{text}");

        let started = Instant::now();
        let Err(err) = acquire(&path, &request("bob", Duration::ZERO)).await else {
            panic!("lock taken twice")
        };
        assert!(started.elapsed() < Duration::from_secs(1));
        let ProviderError::Locked { holder } = &err else {
            panic!("{err}")
        };
        assert!(holder.starts_with("alice@ci (pid "), "{holder}");
    }

    #[tokio::test]
    async fn waiting_times_out_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("estate.json.lock");
        let held = acquire(&path, &request("alice", Duration::ZERO))
            .await
            .unwrap();

        let started = Instant::now();
        let err = acquire(&path, &request("bob", Duration::from_millis(250)))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::Locked { .. }), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(250));

        let release = async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            drop(held);
        };
        let patient = request("bob", Duration::from_secs(5));
        let (guard, ()) = tokio::join!(acquire(&path, &patient), release);
        let _guard = guard.unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("bob (pid ")
        );
    }

    #[tokio::test]
    async fn hostile_holder_text_is_tamed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let _held = acquire(&path, &request("x", Duration::ZERO)).await.unwrap();
        // Another writer scribbles into the file while we hold it.
        std::fs::write(&path, format!("\x1b[31mevil\n{}", "y".repeat(10_000))).unwrap();
        let err = acquire(&path, &request("bob", Duration::ZERO))
            .await
            .err()
            .unwrap();
        let ProviderError::Locked { holder } = err else {
            panic!()
        };
        assert!(holder.starts_with(" [31mevil y"), "{holder}");
        assert_eq!(holder.chars().count(), MAX_HOLDER_CHARS);

        std::fs::write(&path, "").unwrap();
        let err = acquire(&path, &request("bob", Duration::ZERO))
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "the scope lock is held by another process (no holder recorded)"
        );
    }
}
