//! Stickiness: a plan may not undo a revocation. Revocations are kept in the
//! configuration's directory, `.nhi/revocations/` (committed with the
//! follow-up merge request, so every planner sees them), and in the receipt
//! log when the trust policy keeps one (apply checks those too). A plan that
//! would mint a revoked key again, re-enable a revoked identity or re-attach a
//! revoked binding is refused until the configuration itself drops the key
//! (disables the identity, removes the binding).
//!
//! Records are hostile input: each must decode and match its digest, and an
//! unreadable one stops planning (fail closed). Plan does not judge their
//! signatures: a forged record can only block a plan, never allow one.

use std::path::Path;

use miette::Diagnostic;
use nhi_provider_sdk::Operation;

use super::record::{RevocationFile, Target};
use crate::diff::Change;

/// Where revocation records are kept, relative to the configuration's directory.
pub const DIR: &str = ".nhi/revocations";

/// The most records a directory may hold; more is not a directory nhi wrote.
const MAX_RECORDS: usize = 10_000;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum StickyError {
    #[error("cannot trust revocation record `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::plan::revocation_unreadable),
        help(
            "a revocation record was edited, damaged or put there by hand; restore it from version control or the receipt log (`nhi audit verify`); nothing is planned while it is unreadable"
        )
    )]
    Unreadable { path: String, detail: String },

    /// The receipt log holds revocations too; one with a break is no record.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(crate::log::LogError),

    #[error(
        "the plan would undo the revocation of `{address}` (revoked at {revoked_at} by `{actor}`: {reason}) with change `{change}`"
    )]
    #[diagnostic(
        code(nhi::plan::revoked),
        help(
            "a revocation is lifted only by the configuration: remove the key (set `disabled: true` on the identity, remove the binding) as `nhi revoke --emit-patch` prints it"
        )
    )]
    Revoked {
        address: String,
        revoked_at: String,
        actor: String,
        reason: String,
        change: String,
    },
}

/// Every revocation record under `<config_dir>/.nhi/revocations/`, in name
/// order; none when the directory does not exist.
pub fn load(config_dir: &Path) -> Result<Vec<RevocationFile>, StickyError> {
    let dir = config_dir.join(DIR);
    let unreadable = |path: &Path, detail: String| StickyError::Unreadable {
        path: path.display().to_string(),
        detail,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(&dir, e.to_string())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(&dir, e.to_string()))?;
        let path = entry.path();
        if names.len() >= MAX_RECORDS {
            return Err(unreadable(&dir, format!("more than {MAX_RECORDS} records")));
        }
        names.push(path);
    }
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for path in names {
        let is_record = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".revocation.json"));
        if !is_record {
            return Err(unreadable(
                &path,
                "only `*.revocation.json` records belong here".into(),
            ));
        }
        // Not followed: a link could swap the record for another file.
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| unreadable(&path, e.to_string()))?;
        if !meta.file_type().is_file() {
            return Err(unreadable(&path, "not a regular file".into()));
        }
        let bytes = crate::sealed::read_bounded(
            &path,
            <super::record::RevocationBody as crate::sealed::SealedBody>::MAX_BYTES,
        )
        .map_err(|e| unreadable(&path, e.to_string()))?;
        out.push(super::record::decode(&bytes).map_err(|e| unreadable(&path, e))?);
    }
    Ok(out)
}

/// The records of [`load`] and, when a receipt log is kept, those in the log,
/// whose whole chain must verify first. A log not started holds none (the
/// first apply starts it); one that does not verify is an error, never an
/// empty list.
pub fn gather(
    config_dir: &Path,
    log: Option<&crate::log::LogStore>,
) -> Result<Vec<RevocationFile>, StickyError> {
    let mut out = load(config_dir)?;
    if let Some(store) = log {
        let unusable = |detail| {
            StickyError::Log(crate::log::LogError::Unusable {
                dir: store.name(),
                detail,
            })
        };
        if store.started().map_err(unusable)? {
            out.extend(crate::log::revocations(store, None).map_err(unusable)?);
        }
    }
    Ok(out)
}

/// Refuses the first change that would undo one of `revocations`.
pub fn check(changes: &[Change], revocations: &[RevocationFile]) -> Result<(), StickyError> {
    for revocation in revocations {
        for object in &revocation.body.objects {
            let scope = object.address.provider_prefix();
            let sessions = object.actions.iter().any(|a| a == "revoke_sessions");
            let undone = changes
                .iter()
                .filter(|c| c.address.provider_prefix() == scope)
                .find(|c| {
                    undoes(&c.operation, &object.target)
                        || (sessions && lifts_session_deny(&c.operation, object.target.identity()))
                });
            if let Some(change) = undone {
                return Err(StickyError::Revoked {
                    address: object.address.to_string(),
                    revoked_at: revocation.body.revoked_at.to_string(),
                    actor: revocation.body.actor.clone(),
                    reason: revocation.body.reason.clone(),
                    change: change.address.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The binding AWS reads back for the inline deny that revoked sessions
/// (`inline:nhi-revoke-sessions`): a plan that deletes or rewrites it would
/// let the sessions work again.
pub const SESSION_DENY_ROLE: &str = "inline:nhi-revoke-sessions";

fn lifts_session_deny(operation: &Operation, revoked: &str) -> bool {
    match operation {
        Operation::DeleteBinding { identity, binding }
        | Operation::UpdateBinding {
            identity,
            before: binding,
            ..
        } => identity == revoked && binding.role == SESSION_DENY_ROLE,
        _ => false,
    }
}

fn disabled(identity: &nhi_provider_sdk::Identity) -> bool {
    identity.attributes.get(super::reduce::DISABLED) == Some(&serde_json::Value::Bool(true))
}

/// Whether `operation` gives back what `target` took away.
fn undoes(operation: &Operation, target: &Target) -> bool {
    match (operation, target) {
        // A key revoked is not minted again under its name, nor is any key for
        // an identity revoked as a whole.
        (
            Operation::CreateKey { identity, key } | Operation::RotateKey { identity, key, .. },
            Target::Key {
                identity: revoked,
                name,
                ..
            },
        ) => identity == revoked && name.as_deref() == Some(key.as_str()),
        (
            Operation::CreateKey { identity, .. } | Operation::RotateKey { identity, .. },
            Target::Identity { identity: revoked },
        ) => identity == revoked,
        // Re-enabled: disabled before the change, not after it.
        (
            Operation::UpdateIdentity { before, after }
            | Operation::ReplaceIdentity { before, after },
            Target::Identity { identity: revoked },
        ) => after.name == *revoked && disabled(before) && !disabled(after),
        (
            Operation::CreateBinding { identity, binding }
            | Operation::UpdateBinding {
                identity,
                after: binding,
                ..
            },
            Target::Binding {
                identity: revoked,
                role,
                resource,
            },
        ) => identity == revoked && binding.role == *role && binding.resource == *resource,
        _ => false,
    }
}
