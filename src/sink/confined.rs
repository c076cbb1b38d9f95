//! File sinks beneath one directory, opened one component at a time without
//! following symbolic links (`openat` with `O_NOFOLLOW`), so that a link planted
//! anywhere on the path (a committed `secrets -> /tmp` included) is refused
//! instead of followed.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use zeroize::Zeroizing;

/// The most bytes of an existing sink file that are read to learn which key's
/// secret it holds: key files are a few KiB.
const MAX_SINK_BYTES: u64 = 64 * 1024;

/// What is at a sink path now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing (possibly not even the directories above it).
    Absent,
    /// A secret nhi delivered, of the key with this id.
    Holds(String),
    /// A regular file that is not a secret nhi delivered.
    Foreign,
}

/// A sink path as components beneath the base directory: every component but
/// the last is a directory, the last the file.
struct Parts<'a> {
    dirs: Vec<&'a str>,
    file: &'a str,
}

fn parts(relative: &str) -> Result<Parts<'_>, String> {
    let mut all: Vec<&str> = relative.split('/').collect();
    let file = all.pop().unwrap_or_default();
    if file.is_empty()
        || all
            .iter()
            .chain([&file])
            .any(|c| matches!(*c, "" | "." | ".."))
    {
        return Err(format!(
            "`{relative}` is not a relative path of plain names beneath the configuration's directory"
        ));
    }
    Ok(Parts { dirs: all, file })
}

fn describe(err: Errno, what: &str) -> String {
    match err {
        Errno::LOOP | Errno::MLINK => {
            format!("`{what}` is a symbolic link; sinks are opened without following links")
        }
        Errno::NOTDIR => format!("`{what}` is not a directory"),
        other => format!("cannot open `{what}`: {}", std::io::Error::from(other)),
    }
}

/// `O_NOFOLLOW | O_DIRECTORY` on a symbolic link fails with `ENOTDIR`: tell a
/// link from a file.
fn refine(dir: &OwnedFd, name: &str, err: Errno) -> Errno {
    if err != Errno::NOTDIR {
        return err;
    }
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => Errno::LOOP,
        _ => err,
    }
}

fn open_base(base: &Path) -> Result<OwnedFd, String> {
    rustix::fs::open(
        base,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "cannot open the configuration's directory `{}`: {}",
            base.display(),
            std::io::Error::from(e)
        )
    })
}

/// Opens the directory that holds the sink file; `None` when a directory on the
/// way does not exist and `create` is false.
fn open_parent(base: &Path, parts: &Parts<'_>, create: bool) -> Result<Option<OwnedFd>, String> {
    let mut dir = open_base(base)?;
    let mut walked = String::new();
    for name in &parts.dirs {
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(name);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let next = match rustix::fs::openat(&dir, *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if !create => return Ok(None),
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(describe(e, &walked)),
                }
                rustix::fs::openat(&dir, *name, flags, Mode::empty())
                    .map_err(|e| describe(e, &walked))?
            }
            Err(e) => return Err(describe(refine(&dir, name, e), &walked)),
        };
        dir = next;
    }
    Ok(Some(dir))
}

/// Which key's secret a sink file holds: the `key_id` nhi writes, or the id
/// field of the credential formats that carry one.
fn key_id_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    ["key_id", "AccessKeyId", "private_key_id"]
        .iter()
        .find_map(|field| value.get(*field)?.as_str().map(str::to_owned))
        .filter(|id| !id.is_empty())
}

fn inspect_at(dir: &OwnedFd, parts: &Parts<'_>, relative: &str) -> Result<Found, String> {
    match rustix::fs::statat(dir, parts.file, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return Ok(Found::Absent),
        Err(e) => return Err(describe(e, relative)),
        Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {}
            FileType::Symlink => return Err(describe(Errno::LOOP, relative)),
            FileType::Directory => return Err(format!("`{relative}` is a directory")),
            _ => return Err(format!("`{relative}` is not a regular file")),
        },
    }
    let fd = rustix::fs::openat(
        dir,
        parts.file,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| describe(e, relative))?;
    let mut bytes = Zeroizing::new(Vec::new());
    File::from(fd)
        .take(MAX_SINK_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{relative}`: {e}"))?;
    Ok(key_id_of(&bytes).map_or(Found::Foreign, Found::Holds))
}

/// What is at `relative` beneath `base`, without creating or following anything.
pub fn inspect(base: &Path, relative: &str) -> Result<Found, String> {
    let parts = parts(relative)?;
    match open_parent(base, &parts, false)? {
        None => Ok(Found::Absent),
        Some(dir) => inspect_at(&dir, &parts, relative),
    }
}

/// Writes `bytes` to `relative` beneath `base` (directories created with mode
/// 0700, the file with 0600): to an unpredictable temporary in the sink's
/// directory, synced, then linked into place. `replaceable` says whether what is
/// there now may be replaced; it is asked again here, just before the swap. A
/// replaced file is first linked to `.NAME.previous`, so the secret of a key that
/// still lives is not destroyed before that key is.
pub fn write(
    base: &Path,
    relative: &str,
    bytes: &[u8],
    replaceable: &dyn Fn(&Found) -> Result<(), String>,
) -> Result<(), String> {
    let parts = parts(relative)?;
    let dir = open_parent(base, &parts, true)?.expect("invariant: created above");
    let found = inspect_at(&dir, &parts, relative)?;
    replaceable(&found)?;
    remove_temporaries(&dir, parts.file);
    let tmp = nhi_provider_sdk::files::temporary_name(parts.file)
        .map_err(|e| format!("cannot name a temporary file: {e}"))?;
    let fd = rustix::fs::openat(
        &dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| describe(e, relative))?;
    let mut file = File::from(fd);
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write `{relative}`: {e}"))
        .and_then(|()| swap(&dir, &tmp, &parts, &found, relative));
    let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
    written?;
    rustix::fs::fsync(&dir).map_err(|e| format!("cannot sync the directory of `{relative}`: {e}"))
}

/// Removes temporaries of `file` that an apply killed mid-delivery left behind:
/// each may hold part of a secret whose key was never recorded.
fn remove_temporaries(dir: &OwnedFd, file: &str) {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    let stale: Vec<std::ffi::CString> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_ok_and(|n| nhi_provider_sdk::files::is_temporary_of(n, file))
        })
        .map(|e| e.file_name().to_owned())
        .collect();
    for name in stale {
        let _ = rustix::fs::unlinkat(dir, name.as_c_str(), AtFlags::empty());
    }
}

fn swap(
    dir: &OwnedFd,
    tmp: &str,
    parts: &Parts<'_>,
    found: &Found,
    relative: &str,
) -> Result<(), String> {
    if *found == Found::Absent {
        // Fails if anything appeared meanwhile: nothing is ever overwritten blind.
        return rustix::fs::linkat(dir, tmp, dir, parts.file, AtFlags::empty()).map_err(|e| {
            if e == Errno::EXIST {
                format!("`{relative}` appeared while its secret was being written")
            } else {
                describe(e, relative)
            }
        });
    }
    let previous = previous_name(parts.file);
    let _ = rustix::fs::unlinkat(dir, previous.as_str(), AtFlags::empty());
    rustix::fs::linkat(dir, parts.file, dir, previous.as_str(), AtFlags::empty())
        .map_err(|e| describe(e, relative))?;
    rustix::fs::renameat(dir, tmp, dir, parts.file).map_err(|e| describe(e, relative))
}

fn previous_name(file: &str) -> String {
    format!(".{file}.previous")
}

/// Removes `.NAME.previous` beside the sink, once the key whose secret it holds
/// is gone.
pub fn forget_previous(base: &Path, relative: &str) {
    let Ok(parts) = parts(relative) else { return };
    if let Ok(Some(dir)) = open_parent(base, &parts, false) {
        let _ = rustix::fs::unlinkat(&dir, previous_name(parts.file).as_str(), AtFlags::empty());
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn holds(id: &str) -> String {
        format!("{{\"address\":\"a\",\"key_id\":\"{id}\",\"secret\":\"s\"}}\n")
    }

    #[allow(clippy::unnecessary_wraps)] // the shape `write` asks for
    fn any(_: &Found) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn a_sink_directory_that_is_a_symlink_is_refused_not_followed() {
        let base = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), base.path().join("secrets")).unwrap();
        let err = write(base.path(), "secrets/a.key", b"x", &any).unwrap_err();
        assert_eq!(
            err,
            "`secrets` is a symbolic link; sinks are opened without following links"
        );
        assert_eq!(inspect(base.path(), "secrets/a.key").unwrap_err(), err);
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_dangling_symlink_at_the_sink_is_refused_not_followed() {
        let base = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(base.path().join("target"), base.path().join("a.key")).unwrap();
        let err = write(base.path(), "a.key", b"x", &any).unwrap_err();
        assert_eq!(
            err,
            "`a.key` is a symbolic link; sinks are opened without following links"
        );
        assert!(!base.path().join("target").exists());
    }

    #[test]
    fn a_sink_whose_parent_is_a_file_is_refused() {
        let base = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join("secrets"), "").unwrap();
        assert_eq!(
            inspect(base.path(), "secrets/a.key").unwrap_err(),
            "`secrets` is not a directory"
        );
    }

    #[test]
    fn a_replaced_secret_is_kept_as_previous_until_its_key_is_gone() {
        let base = tempfile::tempdir().unwrap();
        write(base.path(), "s/a.key", holds("K1").as_bytes(), &any).unwrap();
        assert_eq!(
            inspect(base.path(), "s/a.key").unwrap(),
            Found::Holds("K1".into())
        );
        write(base.path(), "s/a.key", holds("K2").as_bytes(), &any).unwrap();
        assert_eq!(
            inspect(base.path(), "s/a.key").unwrap(),
            Found::Holds("K2".into())
        );
        let previous = base.path().join("s/.a.key.previous");
        assert_eq!(std::fs::read_to_string(&previous).unwrap(), holds("K1"));
        forget_previous(base.path(), "s/a.key");
        assert!(!previous.exists());
        let names: Vec<_> = std::fs::read_dir(base.path().join("s"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.key"]);
        let mode = std::fs::metadata(base.path().join("s/a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn temporaries_a_killed_delivery_left_are_removed_by_the_next() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("s")).unwrap();
        let leftover = nhi_provider_sdk::files::temporary_name("a.key").unwrap();
        std::fs::write(base.path().join("s").join(&leftover), "half a sec").unwrap();
        let other = nhi_provider_sdk::files::temporary_name("b.key").unwrap();
        std::fs::write(base.path().join("s").join(&other), "not ours").unwrap();
        write(base.path(), "s/a.key", holds("K1").as_bytes(), &any).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(base.path().join("s"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [other, "a.key".to_owned()]);
    }

    #[test]
    fn paths_that_leave_the_base_directory_are_refused() {
        let base = tempfile::tempdir().unwrap();
        for path in ["../a.key", "/etc/a.key", "s/../a.key", "s//a.key", "s/", ""] {
            assert!(inspect(base.path(), path).is_err(), "{path}");
        }
    }
}
