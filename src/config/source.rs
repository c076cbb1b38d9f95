//! Reading a configuration file: the size cap, UTF-8 with the first bad byte
//! pointed at, and the digest of the exact bytes.

use std::io::Read as _;
use std::path::Path;

use miette::SourceSpan;

use super::error::{ConfigError, MAX_FILE_BYTES, ProblemKind, Source, quote};

/// The bytes of the file at `path`, refusing files over [`MAX_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
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
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: name,
            size: read,
        });
    }
    Ok(bytes)
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
