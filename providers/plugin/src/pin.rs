//! Pinning: nhi copies the executable into a sealed memory file, hashes the
//! sealed bytes and runs exactly those, so nothing can swap the file between
//! the check and the exec.

use std::path::Path;

use nhi_provider_sdk::Digest;

/// Executables larger than this are refused.
const MAX_EXECUTABLE_BYTES: u64 = 1 << 30;

/// The verified bytes of a plugin, ready to run (its digest is the pinned one).
pub(crate) struct Pinned {
    #[cfg(target_os = "linux")]
    pub file: std::fs::File,
}

/// Seals a copy of `file`'s bytes and checks their digest against `want`.
pub(crate) fn pin(file: &Path, shown: &str, want: Digest) -> Result<Pinned, String> {
    let source = open(file, shown)?;
    let sealed = seal(&source, shown)?;
    drop(source);
    let digest = digest(&sealed, shown)?;
    if digest != want {
        return Err(format!(
            "plugin `{shown}` has digest `{digest}`, but the block pins `{want}`: \
             the executable is not the one that was reviewed"
        ));
    }
    Ok(Pinned {
        #[cfg(target_os = "linux")]
        file: sealed,
    })
}

fn cannot_read(shown: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("cannot read plugin `{shown}`: {e}")
}

fn open(file: &Path, shown: &str) -> Result<std::fs::File, String> {
    let f = std::fs::File::open(file).map_err(cannot_read(shown))?;
    let meta = f.metadata().map_err(cannot_read(shown))?;
    if !meta.is_file() {
        return Err(format!("plugin `{shown}` is not a file"));
    }
    if meta.len() > MAX_EXECUTABLE_BYTES {
        return Err(too_large(shown));
    }
    Ok(f)
}

fn too_large(shown: &str) -> String {
    format!("plugin `{shown}` is larger than {MAX_EXECUTABLE_BYTES} bytes")
}

/// The digest of the sealed bytes, read from their start: what runs is what
/// is hashed, whatever happened to the file meanwhile.
#[cfg(target_os = "linux")]
fn digest(sealed: &std::fs::File, shown: &str) -> Result<Digest, String> {
    use std::io::{Seek as _, SeekFrom};
    let mut reader = sealed;
    reader
        .seek(SeekFrom::Start(0))
        .and_then(|_| Digest::of_reader(reader))
        .map_err(|e| format!("cannot hash plugin `{shown}`: {e}"))
}

/// Copies `source` into a memory file and seals it against every change.
#[cfg(target_os = "linux")]
fn seal(mut source: &std::fs::File, shown: &str) -> Result<std::fs::File, String> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let cannot = |e: std::io::Error| format!("cannot stage plugin `{shown}` for running: {e}");
    // Not close-on-exec: a script's interpreter opens `/proc/self/fd/N` itself.
    let fd = rustix::fs::memfd_create("nhi-plugin", MemfdFlags::ALLOW_SEALING)
        .map_err(|e| cannot(e.into()))?;
    let mut file = std::fs::File::from(fd);
    // Plain reads and writes through a buffer (`std::io::copy` would copy in
    // the kernel, after which sealing failed with EBUSY once in CI). One byte
    // past the limit tells a file that grew past it.
    let mut buf = vec![0; 1 << 20];
    let mut copied: u64 = 0;
    loop {
        let n = match std::io::Read::read(&mut source, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cannot_read(shown)(e)),
        };
        std::io::Write::write_all(&mut file, &buf[..n]).map_err(cannot)?;
        copied += n as u64;
        if copied > MAX_EXECUTABLE_BYTES {
            return Err(too_large(shown));
        }
    }
    // Sealing against writes waits for pages still referenced elsewhere, and
    // gives up with EBUSY under load: that passes, so try again for a while.
    let seals = SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL;
    let mut tries = 0;
    loop {
        match rustix::fs::fcntl_add_seals(&file, seals) {
            Ok(()) => break,
            Err(rustix::io::Errno::BUSY) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(cannot(e.into())),
        }
    }
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
fn seal(_: &std::fs::File, shown: &str) -> Result<(), String> {
    Err(format!(
        "cannot run plugin `{shown}`: running pinned plugins needs Linux (sealed memory files)"
    ))
}

#[cfg(not(target_os = "linux"))]
fn digest(_: &(), _: &str) -> Result<Digest, String> {
    unreachable!("invariant: `seal` fails off Linux")
}

impl Pinned {
    /// The path that runs the sealed bytes.
    #[cfg(target_os = "linux")]
    pub fn exec_path(&self) -> String {
        use std::os::fd::AsRawFd as _;
        format!("/proc/self/fd/{}", self.file.as_raw_fd())
    }
}
