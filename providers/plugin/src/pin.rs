//! Pinning: nhi hashes the executable's bytes and runs exactly those bytes, from
//! a sealed memory file, so nothing can swap the file between the check and the
//! exec.

use std::io::{Read as _, Write as _};
use std::path::Path;

use nhi_provider_sdk::Digest;

/// Executables larger than this are refused unread.
const MAX_EXECUTABLE_BYTES: u64 = 1 << 30;

/// The verified bytes of a plugin, ready to run (its digest is the pinned one).
pub(crate) struct Pinned {
    #[cfg(target_os = "linux")]
    pub file: std::fs::File,
}

/// Reads `file`, checks its digest against `want`, and seals its bytes.
pub(crate) fn pin(file: &Path, shown: &str, want: Digest) -> Result<Pinned, String> {
    let bytes = read(file, shown)?;
    let digest = Digest::of(&bytes);
    if digest != want {
        return Err(format!(
            "plugin `{shown}` has digest `{digest}`, but the block pins `{want}`: \
             the executable is not the one that was reviewed"
        ));
    }
    seal(&bytes, shown).map(|file| Pinned {
        #[cfg(target_os = "linux")]
        file,
    })
}

fn read(file: &Path, shown: &str) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read plugin `{shown}`: {e}");
    let f = std::fs::File::open(file).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("plugin `{shown}` is not a file"));
    }
    if meta.len() > MAX_EXECUTABLE_BYTES {
        return Err(format!(
            "plugin `{shown}` is larger than {MAX_EXECUTABLE_BYTES} bytes"
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(MAX_EXECUTABLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    Ok(bytes)
}

#[cfg(target_os = "linux")]
fn seal(bytes: &[u8], shown: &str) -> Result<std::fs::File, String> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let cannot = |e: std::io::Error| format!("cannot stage plugin `{shown}` for running: {e}");
    // Not close-on-exec: a script's interpreter opens `/proc/self/fd/N` itself.
    let fd = rustix::fs::memfd_create("nhi-plugin", MemfdFlags::ALLOW_SEALING)
        .map_err(|e| cannot(e.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).map_err(cannot)?;
    rustix::fs::fcntl_add_seals(
        &file,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )
    .map_err(|e| cannot(e.into()))?;
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
fn seal(_: &[u8], shown: &str) -> Result<(), String> {
    Err(format!(
        "cannot run plugin `{shown}`: running pinned plugins needs Linux (sealed memory files)"
    ))
}

impl Pinned {
    /// The path that runs the sealed bytes.
    #[cfg(target_os = "linux")]
    pub fn exec_path(&self) -> String {
        use std::os::fd::AsRawFd as _;
        format!("/proc/self/fd/{}", self.file.as_raw_fd())
    }
}
