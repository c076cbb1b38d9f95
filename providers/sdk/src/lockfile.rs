//! A scope lock any provider can use: an exclusive OS file lock on a file of the
//! provider's choosing, which also records who holds it so that a waiting applier
//! can say whom it waits for. The OS releases it when the process dies.
//!
//! The holder is recorded atomically: an applier writes its name into a new
//! temporary file, locks it, and only then puts it in place as the lock file
//! (`link`, which never overwrites, or `rename` over a lock file nobody holds),
//! so whoever finds the lock held finds its holder's whole name in it. Only the
//! holder of the lock on the file at the lock path replaces or removes it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{LockGuard, LockRequest, ProviderError};

/// How often a held lock is tried again while waiting.
const POLL: Duration = Duration::from_millis(100);

/// The most of a holder's text that is shown: the file is anyone's to write.
const MAX_HOLDER_CHARS: usize = 200;

/// How often a lock file that changes under an attempt is looked at again before
/// the attempt gives up; each retry means another applier made progress.
const MAX_RETRIES: usize = 64;

/// Held while an apply runs; the OS releases the lock when the file closes, even
/// if the process dies.
struct LocalLock {
    file: File,
    path: PathBuf,
}

impl LockGuard for LocalLock {}

impl Drop for LocalLock {
    fn drop(&mut self) {
        // Removed while still locked, and only if it is still ours, so a waiter
        // never finds an unlocked file with a stale name or an empty one. Best
        // effort: closing the file releases the lock regardless.
        if still_at(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
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
    let text = format!(
        "{holder} (pid {}, since {})",
        std::process::id(),
        jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
            .unwrap_or_else(|_| jiff::Timestamp::now())
    );
    let staged = Staged::new(path, &text).map_err(|err| ProviderError::io(context(), err))?;
    for _ in 0..MAX_RETRIES {
        match std::fs::hard_link(&staged.path, path) {
            Ok(()) => return Ok(Attempt::Acquired(staged.into_lock(path))),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
            Err(err) => return Err(ProviderError::io(context(), err)),
        }
        let mut existing = match File::open(path) {
            Ok(file) => file,
            // Released between the link and the open: try again.
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => return Err(ProviderError::io(context(), err)),
        };
        match existing.try_lock() {
            Err(TryLockError::WouldBlock) => return Ok(Attempt::Held(read_holder(&mut existing))),
            Err(TryLockError::Error(err)) => return Err(ProviderError::io(context(), err)),
            Ok(()) => {
                // Nobody holds it: its holder died, or released it and another
                // applier replaced it meanwhile. Still in place, it is ours to
                // replace, since only a file's lock holder replaces it.
                if !still_at(path, &existing) {
                    continue;
                }
                std::fs::rename(&staged.path, path)
                    .map_err(|err| ProviderError::io(context(), err))?;
                return Ok(Attempt::Acquired(staged.into_lock(path)));
            }
        }
    }
    Err(ProviderError::io(
        context(),
        std::io::Error::other("the lock file kept changing while it was taken"),
    ))
}

/// The holder's name in a new, locked temporary file beside the lock, removed
/// unless it becomes the lock.
struct Staged {
    file: Option<File>,
    path: PathBuf,
}

impl Staged {
    fn new(lock: &Path, text: &str) -> std::io::Result<Self> {
        let dir = match lock.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = lock
            .file_name()
            .map_or_else(|| "lock".into(), |n| n.to_string_lossy().into_owned());
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        let path = dir.join(format!(".{name}.{}.tmp", hex::encode(random)));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut staged = Self {
            file: Some(file),
            path,
        };
        let file = staged.file.as_mut().expect("invariant: just opened");
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        file.try_lock().map_err(std::io::Error::from)?;
        Ok(staged)
    }

    fn into_lock(mut self, path: &Path) -> LocalLock {
        // Dropping `self` removes the temporary name: after a link it is a second
        // name of the lock, after a rename it is gone already.
        let file = self
            .file
            .take()
            .expect("invariant: a staged lock holds its file");
        LocalLock {
            file,
            path: path.to_owned(),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the file `file` has open.
fn still_at(path: &Path, file: &File) -> bool {
    let (Ok(at_path), Ok(open)) = (std::fs::symlink_metadata(path), file.metadata()) else {
        return false;
    };
    same_file(&at_path, &open)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
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
        .map(|c| {
            if crate::text::is_unsafe_char(c) {
                ' '
            } else {
                c
            }
        })
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

    #[test]
    fn racing_appliers_always_name_the_winner() {
        // Under starts within a millisecond, a third of the losers were told
        // "another process (no holder recorded)": the winner had locked the file
        // and not yet written its name.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("estate.json.lock");
        for round in 0..30 {
            let racers = 8;
            let start = std::sync::Barrier::new(racers);
            let results: Vec<(usize, Attempt)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..racers)
                    .map(|i| {
                        let (start, path) = (&start, &path);
                        s.spawn(move || {
                            start.wait();
                            (i, try_acquire(path, &format!("racer-{i}")).unwrap())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners: Vec<usize> = results
                .iter()
                .filter(|(_, a)| matches!(a, Attempt::Acquired(_)))
                .map(|(i, _)| *i)
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            let winner = format!("racer-{} (pid ", winners[0]);
            for (i, attempt) in &results {
                if let Attempt::Held(holder) = attempt {
                    assert!(
                        holder.starts_with(&winner),
                        "round {round}: racer {i} was told `{holder}`, not {winner}"
                    );
                }
            }
            drop(results);
            assert!(!path.exists(), "a released lock leaves no file");
            let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }

    #[tokio::test]
    async fn a_lock_file_left_by_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("estate.json.lock");
        std::fs::write(&path, "ghost (pid 1, since 2020-01-01T00:00:00Z)").unwrap();
        let _held = acquire(&path, &request("alice", Duration::ZERO))
            .await
            .unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("alice (pid ")
        );
        let Err(ProviderError::Locked { holder }) =
            acquire(&path, &request("bob", Duration::ZERO)).await
        else {
            panic!("lock taken twice")
        };
        assert!(holder.starts_with("alice (pid "), "{holder}");
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
