//! What `nhi revoke` reports: each object and what was done to it, the notes
//! (a key deleted where it could not be deactivated), and where the signed
//! record went. On stderr: standard output carries only `--emit-patch`.

use std::time::Duration;

use crate::revoke::Revoked;

pub fn revoked(revoked: &Revoked, took: Duration, verbose: bool) {
    let body = &revoked.record.body;
    for object in &body.objects {
        let done = if object.actions.is_empty() {
            "nothing to do".to_owned()
        } else {
            object.actions.join(", ")
        };
        super::note(&format!(
            "revoked `{}`: {}",
            super::escape::text(object.address.as_str()),
            done
        ));
    }
    for note in &revoked.notes {
        super::note(&super::escape::text(note));
    }
    super::note(&format!(
        "Revocation recorded: `{}`{}.",
        revoked.path.display(),
        revoked
            .logged
            .as_ref()
            .map(|p| format!(", and in the receipt log as `{}`", super::escape::text(p)))
            .unwrap_or_default()
    ));
    super::note(
        "Commit the record with the configuration change (`--emit-patch`): until the configuration drops what was revoked, plans are refused.",
    );
    if verbose {
        super::note(&format!("revoke took {} ms", took.as_millis()));
    }
}

/// What `nhi unlock` reports, on stderr.
pub fn unlocked(unlocked: &crate::unlock::Unlocked) {
    let body = &unlocked.record.body;
    for lock in &body.locks {
        super::note(&format!(
            "took over the lock `{}` of `{}` (lease expired at {}) and released it",
            super::escape::text(&lock.name),
            super::escape::text(&lock.holder),
            lock.lease_until
        ));
    }
    super::note(&format!(
        "Unlock recorded in the receipt log as `{}`.",
        super::escape::text(&unlocked.logged)
    ));
}

/// `nhi verify` of a revocation record, as text.
pub fn verify_text(
    path: &std::path::Path,
    file: &crate::revoke::RevocationFile,
    principals: &[String],
    verified: bool,
) -> String {
    use std::fmt::Write as _;
    let body = &file.body;
    let mut out = format!(
        "revocation `{}`\n  digest: {}\n  revoked at {} by `{}`: {}\n",
        super::escape::text(&path.display().to_string()),
        file.digest,
        body.revoked_at,
        super::escape::text(&body.actor),
        super::escape::text(&body.reason)
    );
    if let Some(chain) = &body.chain {
        let _ = writeln!(out, "  receipt log: entry {}", chain.sequence);
    }
    for object in &body.objects {
        let _ = writeln!(
            out,
            "  `{}`: {}",
            super::escape::text(object.address.as_str()),
            object.actions.join(", ")
        );
    }
    for principal in principals {
        let _ = writeln!(out, "  signed by `{}`", super::escape::text(principal));
    }
    if verified {
        out.push_str("verified: a revocation within the trust policy's `revoke` bar\n");
    }
    out
}

/// `nhi verify --json` of a revocation record.
pub fn verify_json(
    path: &std::path::Path,
    file: &crate::revoke::RevocationFile,
    principals: &[String],
    verified: bool,
) -> String {
    let mut text = serde_json::to_string_pretty(&serde_json::json!({
        "kind": "revocation",
        "file": path.display().to_string(),
        "digest": file.digest,
        "revocation": file.body,
        "signed_by": principals,
        "verified": verified,
    }))
    .expect("invariant: reports serialise");
    text.push('\n');
    text
}
