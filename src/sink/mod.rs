//! File sinks: where the engine delivers new key material itself, confined to
//! the configuration's directory and checked the same way at validate (the path
//! as written), at plan (what is there now, so that a doomed apply is known
//! before anyone approves it) and at apply, just before each delivery.
//!
//! A file sink holds the secret of one key. Minting into it may replace what is
//! there only when that is a secret of a key that no longer lives or that the
//! same plan retires (a rotation's old key); a file holding a live key's secret,
//! or anything nhi did not write, is never replaced.

#[cfg(unix)]
mod confined;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use nhi_provider_sdk::{Address, ObservedState, Operation, SecretForm, SecretMaterial, Sink};
use zeroize::Zeroizing;

use crate::diff::Change;

#[cfg(unix)]
pub use confined::{Found, forget_previous, inspect, write};

/// The longest file sink path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// Checks a file sink's path as written: relative, plain names only (no `..`,
/// `.` or empty parts), no control characters, at most [`MAX_PATH_BYTES`].
pub fn check_relative(path: &str) -> Result<(), String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!("longer than {MAX_PATH_BYTES} bytes"));
    }
    if path.chars().any(nhi_provider_sdk::text::is_unsafe_char) {
        return Err("holds a control character".to_owned());
    }
    if path.starts_with('/') || path.starts_with('~') {
        return Err(
            "an absolute path: sinks are confined to the configuration's directory".to_owned(),
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.contains(&"..") {
        return Err("`..` leaves the configuration's directory".to_owned());
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err("write the path without empty or `.` parts".to_owned());
    }
    Ok(())
}

/// What a file or standard-output sink receives: the credential file its cloud's
/// clients read as it is, or, for an opaque secret, one JSON document naming the
/// key and holding its secret. Either names the key, so that a sink says whose
/// secret it holds.
pub fn document(address: &Address, secret: &SecretMaterial) -> Zeroizing<String> {
    if secret.form == SecretForm::CredentialFile {
        let mut text = Zeroizing::new(String::with_capacity(secret.secret.len() + 1));
        text.push_str(&secret.secret);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        return text;
    }
    let json = |text: &str| serde_json::to_string(text).unwrap_or_default();
    Zeroizing::new(format!(
        "{{\"address\":{},\"key_id\":{},\"secret\":{}}}\n",
        json(address.as_str()),
        json(&secret.key_id),
        json(&secret.secret)
    ))
}

/// Key ids a plan's minting into a sink may overwrite: those not live in the
/// scope, and those the plan itself deletes. A key id is unique within its
/// provider, so a sink holding the secret of a live key of *any* identity is
/// never overwritten.
pub struct Retiring<'a> {
    scopes: Vec<(&'a str, &'a ObservedState)>,
    /// Every live key id, by provider prefix: built on the first question, which
    /// only a sink that already holds a secret asks.
    live: std::sync::OnceLock<HashSet<(&'a str, &'a str)>>,
    deleted: HashSet<(&'a str, &'a str)>,
}

impl<'a> Retiring<'a> {
    /// From each scope's live state (by provider prefix, `<type>.<name>`) and the
    /// plan's changes.
    pub fn new(scopes: &[(&'a str, &'a ObservedState)], changes: &'a [Change]) -> Self {
        let deleted = changes
            .iter()
            .filter_map(|c| {
                let id = match &c.operation {
                    Operation::DeleteKey { key, .. } => &key.id,
                    Operation::RotateKey { old, .. } => &old.id,
                    _ => return None,
                };
                Some((c.address.provider_prefix(), id.as_str()))
            })
            .collect();
        Self {
            scopes: scopes.to_vec(),
            live: std::sync::OnceLock::new(),
            deleted,
        }
    }

    /// Whether minting for `change` may replace a sink holding key `id`'s secret.
    pub fn allows(&self, change: &Change, id: &str) -> bool {
        let key = (change.address.provider_prefix(), id);
        if self.deleted.contains(&key) {
            return true;
        }
        let live = self.live.get_or_init(|| {
            self.scopes
                .iter()
                .flat_map(|(prefix, state)| {
                    state
                        .identities
                        .iter()
                        .flat_map(move |i| i.keys.iter().map(move |k| (*prefix, k.id.as_str())))
                })
                .collect()
        });
        !live.contains(&key)
    }
}

/// Files that belong to the run and must never receive a secret: the plan, the
/// receipt, the journal, each scope's own files (an estate and its lock).
#[derive(Debug, Clone, Default)]
pub struct Protected {
    files: Vec<(String, PathBuf)>,
}

impl Protected {
    pub fn add(&mut self, what: impl Into<String>, path: &Path) {
        self.files.push((what.into(), comparable(path)));
    }

    fn clash(&self, path: &Path) -> Option<&(String, PathBuf)> {
        let path = comparable(path);
        self.files.iter().find(|(_, p)| *p == path)
    }
}

/// `path` with its directory resolved as far as it exists, to compare two
/// spellings of one file.
fn comparable(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// One sink a plan cannot deliver to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkProblem {
    pub address: String,
    pub detail: String,
}

/// Checks every file sink the plan's minting changes deliver to: beneath `base`
/// without links, not one of the `protected` files, not named by two changes,
/// and holding nothing that minting must not replace.
pub fn check_plan(
    base: &Path,
    changes: &[Change],
    retiring: &Retiring<'_>,
    protected: &Protected,
) -> Vec<SinkProblem> {
    let mut problems = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for change in changes.iter().filter(|c| c.operation.creates_key()) {
        let Some(Sink::File(path)) = &change.sink else {
            continue;
        };
        let problem = |detail: String| SinkProblem {
            address: change.address.to_string(),
            detail,
        };
        if !seen.insert(path) {
            problems.push(problem(format!(
                "`{path}` receives the secrets of two keys in this plan"
            )));
            continue;
        }
        if let Err(detail) = check_one(base, path, change, retiring, protected) {
            problems.push(problem(detail));
        }
    }
    problems
}

fn check_one(
    base: &Path,
    path: &str,
    change: &Change,
    retiring: &Retiring<'_>,
    protected: &Protected,
) -> Result<(), String> {
    check_relative(path).map_err(|e| format!("`{path}`: {e}"))?;
    if let Some((what, file)) = protected.clash(&base.join(path)) {
        return Err(format!("`{path}` is the {what} `{}`", file.display()));
    }
    #[cfg(unix)]
    {
        let found = inspect(base, path)?;
        replaceable(path, change, retiring, &found)
    }
    #[cfg(not(unix))]
    {
        let _ = (change, retiring);
        Err("file sinks need a Unix system".to_owned())
    }
}

/// Whether minting for `change` may write over what `found` says is at `path`.
#[cfg(unix)]
pub fn replaceable(
    path: &str,
    change: &Change,
    retiring: &Retiring<'_>,
    found: &Found,
) -> Result<(), String> {
    match found {
        Found::Absent => Ok(()),
        Found::Holds(id) if retiring.allows(change, id) => Ok(()),
        Found::Holds(id) => Err(format!(
            "`{path}` holds the secret of key `{id}`, which lives on and would lose it; \
             rotate or delete that key first, or name another file"
        )),
        Found::Foreign => Err(format!(
            "`{path}` exists and holds no secret nhi delivered; move it away or name another file"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_paths_outside_the_configuration_directory_are_refused_at_validate() {
        let cases = [
            (
                "/etc/ci.key",
                "an absolute path: sinks are confined to the configuration's directory",
            ),
            (
                "~/ci.key",
                "an absolute path: sinks are confined to the configuration's directory",
            ),
            ("../ci.key", "`..` leaves the configuration's directory"),
            (
                "secrets/../../ci.key",
                "`..` leaves the configuration's directory",
            ),
            (
                "secrets//ci.key",
                "write the path without empty or `.` parts",
            ),
            ("./ci.key", "write the path without empty or `.` parts"),
            ("secrets/", "write the path without empty or `.` parts"),
            ("ci\u{1b}[8m.key", "holds a control character"),
        ];
        for (path, want) in cases {
            assert_eq!(check_relative(path).unwrap_err(), want, "{path}");
        }
        assert!(check_relative("secrets/ci.key").is_ok());
    }

    /// Regression: file sinks double-encoded credentials
    /// (`{"address","key_id","secret":"<JSON in a string>"}`), so
    /// `GOOGLE_APPLICATION_CREDENTIALS` and `credential_process` could not read
    /// them. A credential file is written as its cloud's clients read it.
    #[test]
    fn a_credential_file_is_written_as_its_cloud_reads_it_not_wrapped() {
        let address = Address::provider("gcp", "prod")
            .identity("ci")
            .key("primary");
        let key_file = "{\"type\":\"service_account\",\"private_key_id\":\"abc\"}";
        let secret = SecretMaterial {
            key_id: "abc".into(),
            secret: Zeroizing::new(key_file.into()),
            form: SecretForm::CredentialFile,
        };
        assert_eq!(
            document(&address, &secret).as_str(),
            format!("{key_file}\n")
        );
        let opaque = SecretMaterial {
            key_id: "LK1".into(),
            secret: Zeroizing::new("s3cr\"t".into()),
            form: SecretForm::Opaque,
        };
        assert_eq!(
            document(&address, &opaque).as_str(),
            "{\"address\":\"gcp.prod/identity/ci/key/primary\",\"key_id\":\"LK1\",\"secret\":\"s3cr\\\"t\"}\n"
        );
        assert!(check_relative(&"a/".repeat(600)).is_err());
    }
}
