//! Noticing and making changes to the estate file: the stamp that identifies one
//! version of it, and its atomic, durable replacement.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nhi_provider_sdk::{ObservedIdentity, ProviderError};

use super::codec::encode;

/// What identifies one version of the estate file, to notice writes by others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl Stamp {
    pub(super) fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            dev: meta.dev(),
            #[cfg(unix)]
            ino: meta.ino(),
        }
    }
}

/// The stamp of the file at `path` now; `None` when there is no file.
pub(crate) fn current_stamp(path: &Path) -> Result<Option<Stamp>, ProviderError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp::of(&meta))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ProviderError::io(
            format!("cannot read estate file `{}`", path.display()),
            err,
        )),
    }
}

/// Writes `identities` (sorted, checked) to a temporary file beside `path`, syncs
/// it, renames it over `path` and syncs the directory. Returns the new stamp.
pub(crate) fn store<'a>(
    path: &Path,
    identities: impl IntoIterator<Item = &'a ObservedIdentity>,
) -> Result<Stamp, ProviderError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = temp_path(path, dir)?;
    let context = || format!("cannot write estate file `{}`", path.display());
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        let mut out = BufWriter::with_capacity(1 << 16, file);
        encode(&mut out, identities)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        // Rename keeps the inode and mtime, so this is the stamp of the estate.
        let stamp = Stamp::of(&file.metadata()?);
        fs::rename(&temp, path)?;
        Ok(stamp)
    })();
    let stamp = match written {
        Ok(stamp) => stamp,
        Err(err) => {
            // Best effort: the temp file may not exist, and the write error matters more.
            let _ = fs::remove_file(&temp);
            return Err(ProviderError::io(context(), err));
        }
    };
    sync_dir(dir).map_err(|err| ProviderError::io(context(), err))?;
    Ok(stamp)
}

fn temp_path(path: &Path, dir: &Path) -> Result<PathBuf, ProviderError> {
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|err| {
        ProviderError::Other(format!(
            "the operating system's random source failed: {err}"
        ))
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        hex::encode(nonce)
    )))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
