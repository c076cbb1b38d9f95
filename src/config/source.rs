//! Reading a configuration file: the size cap, UTF-8 with the first bad byte
//! pointed at, and the digest of the exact bytes.

use std::io::Read as _;
use std::path::Path;

use miette::SourceSpan;

use super::error::{ConfigError, MAX_FILE_BYTES, ProblemKind, Source, quote};

/// From this size on a configuration is read into an anonymous mapping.
const MAPPED_BYTES: u64 = 1 << 20;

/// The bytes of a configuration file. A large file is read into an anonymous
/// mapping, which goes back to the OS the moment it is dropped: the allocator
/// would keep a freed block that size resident for a while, and `nhi plan` reads
/// the live state right after the configuration.
pub(crate) enum Bytes {
    Heap(Vec<u8>),
    Mapped(memmap2::MmapMut, usize),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Heap(bytes) => bytes,
            Self::Mapped(map, len) => &map[..*len],
        }
    }
}

/// The directory of the configuration file at `path`: its parent, or `.`.
pub(crate) fn dir_of(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// The bytes of the file at `path`, refusing files over [`MAX_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> Result<Bytes, ConfigError> {
    let name = path.display().to_string();
    let read_error = |source| ConfigError::Read {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge { path: name, size });
    }
    // The length can change between metadata and read (or lie, for special files):
    // read one byte past the cap to notice.
    let mut file = file.take(MAX_FILE_BYTES + 1);
    let mut bytes = Vec::new();
    if size >= MAPPED_BYTES {
        let capacity = usize::try_from(size + 1).unwrap_or(usize::MAX);
        // Faulted in at once by the kernel rather than a page at a time.
        let mut map = memmap2::MmapOptions::new()
            .len(capacity)
            .populate()
            .map_anon()
            .map_err(read_error)?;
        let mut len = 0;
        while len < map.len() {
            match file.read(&mut map[len..]) {
                Ok(0) => return Ok(Bytes::Mapped(map, len)),
                Ok(n) => len += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(read_error(err)),
            }
        }
        // Longer than it said: read on, into memory, up to the cap.
        bytes.extend_from_slice(&map[..len]);
    } else {
        bytes.reserve_exact(usize::try_from(size).unwrap_or(0));
    }
    file.read_to_end(&mut bytes).map_err(read_error)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: name,
            size: read,
        });
    }
    Ok(Bytes::Heap(bytes))
}

/// The bytes as text, or a `not_utf8` problem pointing at the first bad byte.
pub(crate) fn decode<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|err| {
        let at = err.valid_up_to();
        // The lossy text has the same bytes up to `at`, where one U+FFFD replaces the
        // bad sequence.
        let shown = String::from_utf8_lossy(bytes);
        let source = Source::new(name, &shown);
        let byte = bytes.get(at).copied().unwrap_or_default();
        let problem = source
            .problem(
                ProblemKind::NotUtf8,
                format!("{} is not valid UTF-8", quote(name)),
            )
            .label(
                SourceSpan::new(at.into(), '\u{fffd}'.len_utf8()),
                format!("byte 0x{byte:02x} at offset {at}"),
            )
            .with_help("save the file as UTF-8; nhi configurations are UTF-8 text");
        ConfigError::Problem(Box::new(problem))
    })
}
