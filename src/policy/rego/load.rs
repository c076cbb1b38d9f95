//! Reading a bundle from disk: the one place `policy::rego` does I/O. Every
//! `*.rego` file under the configured paths, which must stay inside the
//! configuration's directory, with caps on what a bundle may hold.

use std::path::{Component, Path, PathBuf};

use super::RegoError;

/// Largest `.rego` file a bundle may hold.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most `.rego` files a bundle may hold.
pub const MAX_FILES: usize = 1000;

/// One file of a bundle: its path relative to the configuration's directory
/// (`/`-separated) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceFile {
    pub path: String,
    pub text: String,
}

/// The `.rego` files under `paths` (files or directories, recursive), sorted
/// by relative path and unique.
pub(crate) fn read(config_dir: &Path, paths: &[String]) -> Result<Vec<SourceFile>, RegoError> {
    let root = config_dir.canonicalize().map_err(|e| RegoError::Io {
        path: config_dir.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut found: Vec<String> = Vec::new();
    for path in paths {
        let relative = relative(path)?;
        let full = root.join(&relative);
        let meta = std::fs::metadata(&full).map_err(|e| RegoError::Io {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        inside(&root, &full, path)?;
        if meta.is_dir() {
            walk(&root, &full, &mut found)?;
        } else {
            found.push(slashed(&relative));
        }
        if found.len() > MAX_FILES {
            return Err(RegoError::TooMany { limit: MAX_FILES });
        }
    }
    found.sort();
    found.dedup();
    if found.is_empty() {
        return Err(RegoError::Empty {
            paths: paths.join(", "),
        });
    }
    found
        .into_iter()
        .map(|path| {
            let full = root.join(&path);
            let io = |e: std::io::Error| RegoError::Io {
                path: path.clone(),
                detail: e.to_string(),
            };
            let len = std::fs::metadata(&full).map_err(io)?.len();
            if len > MAX_FILE_BYTES {
                return Err(RegoError::TooLarge {
                    path,
                    limit: MAX_FILE_BYTES,
                });
            }
            let bytes = std::fs::read(&full).map_err(io)?;
            let text =
                String::from_utf8(bytes).map_err(|_| RegoError::NotUtf8 { path: path.clone() })?;
            Ok(SourceFile { path, text })
        })
        .collect()
}

/// A configured path as a relative path that cannot climb out.
fn relative(path: &str) -> Result<PathBuf, RegoError> {
    let refuse = |reason: &str| RegoError::Path {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_empty() {
        return Err(refuse("is empty"));
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("climbs out with `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is absolute")),
        }
    }
    Ok(out)
}

/// Refuses a path whose links lead outside the configuration's directory.
fn inside(root: &Path, full: &Path, shown: &str) -> Result<(), RegoError> {
    let real = full.canonicalize().map_err(|e| RegoError::Io {
        path: shown.to_owned(),
        detail: e.to_string(),
    })?;
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(RegoError::Path {
            path: shown.to_owned(),
            reason: "leads outside the configuration's directory through a link".into(),
        })
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) -> Result<(), RegoError> {
    let shown = |p: &Path| {
        p.strip_prefix(root)
            .map_or_else(|_| p.display().to_string(), slashed)
    };
    let io = |p: &Path, e: std::io::Error| RegoError::Io {
        path: shown(p),
        detail: e.to_string(),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort();
    for entry in entries {
        let meta = std::fs::metadata(&entry).map_err(|e| io(&entry, e))?;
        let is_rego = entry.extension().is_some_and(|x| x == "rego");
        if !meta.is_dir() && !is_rego {
            continue;
        }
        inside(root, &entry, &shown(&entry))?;
        if meta.is_dir() {
            walk(root, &entry, found)?;
        } else {
            found.push(shown(&entry));
            if found.len() > MAX_FILES {
                return Err(RegoError::TooMany { limit: MAX_FILES });
            }
        }
    }
    Ok(())
}

fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
