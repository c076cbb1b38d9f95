//! Where a receipt log's entries are kept: a directory (files, a local lock)
//! or an S3 bucket (`<prefix>/log/…`, conditional writes, a lease). The chain
//! code above reads and writes through this alone, so that it checks either
//! store the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::s3::{Bucket, Condition, S3Error};
use crate::backend::{LogLocation, S3Settings};

/// The most entries a log may hold.
const MAX_ENTRIES: usize = 1_000_000;

/// A receipt log's store.
#[derive(Debug, Clone)]
pub enum LogStore {
    Dir(PathBuf),
    S3(Arc<Bucket>),
}

/// An entry as read: its bytes, and the version a conditional replace names
/// (an S3 `ETag`; none in a directory, whose writes the local lock orders).
pub(crate) struct Fetched {
    pub bytes: Vec<u8>,
    pub version: Option<String>,
}

/// Why a create did not happen.
pub(crate) enum CreateError {
    Exists,
    Failed(String),
}

impl LogStore {
    /// The store at `location`; an S3 client makes no request yet.
    pub fn open(location: &LogLocation) -> Result<Self, super::LogError> {
        match location {
            LogLocation::Dir(dir) => Ok(Self::Dir(dir.clone())),
            LogLocation::S3(settings) => Self::bucket(settings),
        }
    }

    /// The log under `settings`' bucket and prefix.
    pub fn bucket(settings: &S3Settings) -> Result<Self, super::LogError> {
        Bucket::connect(settings)
            .map(Self::S3)
            .map_err(|detail| super::LogError::Unusable {
                dir: settings.url(),
                detail,
            })
    }

    /// The bucket, for a log kept in S3 (whose scope locks live there too).
    pub fn s3(&self) -> Option<&Arc<Bucket>> {
        match self {
            Self::Dir(_) => None,
            Self::S3(bucket) => Some(bucket),
        }
    }

    /// The directory, or `s3://bucket/prefix`, for messages.
    pub fn name(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::S3(bucket) => bucket.settings.url(),
        }
    }

    /// Where entry `name` is, for messages.
    pub fn location_of(&self, name: &str) -> String {
        match self {
            Self::Dir(dir) => dir.join(name).display().to_string(),
            Self::S3(bucket) => bucket.url_of(&key(name)),
        }
    }

    /// Whether the log was started: its directory exists, or its prefix holds
    /// an entry. A log not started holds nothing (the first apply starts it).
    pub fn started(&self) -> Result<bool, String> {
        match self {
            Self::Dir(dir) => Ok(dir.exists()),
            Self::S3(_) => Ok(!self.names()?.is_empty()),
        }
    }

    /// The names of the log's entries (files or objects), in name order.
    pub(crate) fn names(&self) -> Result<Vec<String>, String> {
        match self {
            Self::Dir(dir) => {
                let mut names = Vec::new();
                for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
                    let name = entry.map_err(|e| e.to_string())?.file_name();
                    if let Some(name) = name.to_str() {
                        names.push(name.to_owned());
                    }
                    if names.len() > MAX_ENTRIES {
                        return Err(format!("more than {MAX_ENTRIES} entries"));
                    }
                }
                names.sort();
                Ok(names)
            }
            Self::S3(bucket) => bucket.list("log", MAX_ENTRIES).map_err(|e| e.to_string()),
        }
    }

    /// Entry `name`, at most `limit` bytes; `None` when there is none.
    pub(crate) fn get(&self, name: &str, limit: u64) -> Result<Option<Fetched>, String> {
        match self {
            Self::Dir(dir) => match crate::sealed::read_bounded(&dir.join(name), limit) {
                Ok(bytes) => Ok(Some(Fetched {
                    bytes,
                    version: None,
                })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Self::S3(bucket) => bucket
                .get(&key(name), limit)
                .map(|o| {
                    o.map(|o| Fetched {
                        bytes: o.bytes,
                        version: Some(o.etag),
                    })
                })
                .map_err(|e| e.to_string()),
        }
    }

    /// Writes a new entry; never over an existing one. A create that finds
    /// the very same bytes in place (a retried write of its own) succeeded.
    pub(crate) fn create(&self, name: &str, bytes: &[u8]) -> Result<(), CreateError> {
        match self {
            Self::Dir(dir) => nhi_provider_sdk::files::write_new(&dir.join(name), bytes, 0o644)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        CreateError::Exists
                    } else {
                        CreateError::Failed(e.to_string())
                    }
                }),
            Self::S3(bucket) => match bucket.put(&key(name), bytes, Condition::Absent) {
                Ok(_) => Ok(()),
                Err(S3Error::Precondition) => match bucket.get(&key(name), bytes.len() as u64) {
                    Ok(Some(found)) if found.bytes == bytes => Ok(()),
                    _ => Err(CreateError::Exists),
                },
                Err(S3Error::Failed(detail)) => Err(CreateError::Failed(detail)),
            },
        }
    }

    /// Replaces entry `name`, which must still be the version read (`None`:
    /// there was none). In a directory, the local lock orders writers.
    pub(crate) fn replace(
        &self,
        name: &str,
        bytes: &[u8],
        version: Option<&str>,
    ) -> Result<(), String> {
        match self {
            Self::Dir(dir) => {
                nhi_provider_sdk::files::write_replacing(&dir.join(name), bytes, 0o644)
                    .map_err(|e| e.to_string())
            }
            Self::S3(bucket) => {
                let condition = version.map_or(Condition::Absent, Condition::Matches);
                match bucket.put(&key(name), bytes, condition) {
                    Ok(_) => Ok(()),
                    // Unless a retried write of these very bytes is in place.
                    Err(S3Error::Precondition) => {
                        match bucket.get(&key(name), bytes.len() as u64) {
                            Ok(Some(found)) if found.bytes == bytes => Ok(()),
                            _ => Err(format!(
                                "`{name}` changed since it was read: another applier wrote it"
                            )),
                        }
                    }
                    Err(S3Error::Failed(detail)) => Err(detail),
                }
            }
        }
    }

    /// Creates the directory (mode 0700); a bucket needs nothing.
    pub(crate) fn prepare(&self) -> Result<(), String> {
        match self {
            Self::Dir(dir) => create_private_dir(dir).map_err(|e| e.to_string()),
            Self::S3(_) => Ok(()),
        }
    }
}

fn key(name: &str) -> String {
    format!("log/{name}")
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}
