//! Files nhi writes (plans, receipts, journals, estates, secrets): whole or not at
//! all, through temporaries nobody can predict or pre-empt.
//!
//! A temporary is created beside its target with an unpredictable name and
//! `O_CREAT | O_EXCL`, which refuses to open anything already there, a planted
//! symbolic link included; it is synced, then renamed over the target (replace)
//! or hard-linked to it (create, which fails when the target exists, even as a
//! dangling link). On any failure the temporary is removed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically, replacing what is there: readers see the
/// old file or the new one, never a part. A symbolic link at `path` is replaced
/// by the file, not written through (see [`real_path`] for files that are meant
/// to be reached through a link).
pub fn write_replacing(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (tmp, file) = temporary(path, mode)?;
    let done = finish(file, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done?;
    sync_dir(path)
}

/// Writes `bytes` to `path` atomically and only if nothing is there: an existing
/// file, directory or symbolic link (dangling or not) fails with `AlreadyExists`.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (tmp, file) = temporary(path, mode)?;
    let done = finish(file, bytes).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    done?;
    sync_dir(path)
}

/// The file a symbolic link at `path` leads to, so that an estate reached through
/// a link is written where it lives instead of being forked into a new file
/// beside the link. `path` itself when it is no link; an error when the link is
/// dangling or leads to a loop.
pub fn real_path(path: &Path) -> io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

/// An unpredictable name for a temporary beside a file called `name`:
/// `.NAME.<32 hex digits>.tmp`.
pub fn temporary_name(name: &str) -> io::Result<String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(format!(".{name}.{}.tmp", hex::encode(random)))
}

/// Whether `name` is one of [`temporary_name`]'s names for a file called `target`.
pub fn is_temporary_of(name: &str, target: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(target))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn temporary(path: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    let tmp = parent_of(path).join(temporary_name(&name)?);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let file = options.open(&tmp)?;
    Ok((tmp, file))
}

fn finish(mut file: File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Syncs the directory holding `path`, so that a rename or link survives a crash.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(parent_of(path))?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_planted_at_a_predictable_temporary_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // Every name the old writer could have used, planted as links to the victim.
        for pid in 0..64u32 {
            std::os::unix::fs::symlink(&victim, dir.path().join(format!(".out.tmp-{pid}")))
                .unwrap();
        }
        let target = dir.path().join("out");
        write_replacing(&target, b"new", 0o644).unwrap();
        write_new(&dir.path().join("out2"), b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| is_temporary_of(n, "out") || is_temporary_of(n, "out2"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn write_new_never_replaces_a_file_or_a_dangling_link() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "old").unwrap();
        let err = write_new(&file, b"new", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "old");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        let err = write_new(&link, b"new", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[test]
    fn temporary_names_are_unpredictable_and_recognised() {
        let a = temporary_name("plan.json").unwrap();
        let b = temporary_name("plan.json").unwrap();
        assert_ne!(a, b);
        assert!(is_temporary_of(&a, "plan.json"));
        assert!(!is_temporary_of(&a, "plan"));
        assert!(!is_temporary_of(".plan.json.tmp-123", "plan.json"));
    }

    #[test]
    fn real_path_follows_a_link_to_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            real_path(&link).unwrap(),
            std::fs::canonicalize(&real).unwrap()
        );
        assert_eq!(real_path(&real).unwrap(), real);
    }
}
