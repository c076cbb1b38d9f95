//! Detached approvals: an approval that travels beside a plan instead of inside
//! it, so reviewers can approve the same plan in parallel. The file holds the one
//! signature record `nhi approve` would have appended, and nothing else; read as
//! hostile input: bounded, parsed strictly, verified before it counts.
//!
//! ```json
//! { "nhi_approval": 1, "statement": "nhi-signature-v1\n…", "signature": "-----BEGIN SSH SIGNATURE-----…" }
//! ```
//!
//! The same bytes, compact, fit one line of a review comment:
//! `nhi-approval:v1:<base64url without padding>`.

use std::path::{Path, PathBuf};

use base64ct::Encoding as _;
use nhi_provider_sdk::Digest;
use serde::{Deserialize, Serialize};

use super::statement::{Role, Statement};
use super::{ApprovalError, TrustError, sshsig};
use crate::sealed::{MAX_SIGNATURE_BYTES, MAX_SIGNATURES, MAX_STATEMENT_BYTES, SignatureRecord};

/// The extension of approval files; a directory given to `--signatures` is read
/// for every `*.approval` file in it (not below it).
pub const EXTENSION: &str = "approval";

/// The one-line form starts with this.
pub const LINE_PREFIX: &str = "nhi-approval:v1:";

/// Approval files larger than this are refused unread: a statement and a
/// signature at their limits, as base64 of JSON, fit with room to spare.
pub const MAX_APPROVAL_BYTES: u64 = 32 * 1024;

const TAG_VERSION: u32 = 1;

/// An approval read from a file beside the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedApproval {
    /// Where it was read from, as named on the command line (or in a named directory).
    pub file: PathBuf,
    pub record: SignatureRecord,
}

/// The file's layout; field order is the file's.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalFile<'a> {
    nhi_approval: u32,
    #[serde(borrow)]
    statement: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    signature: std::borrow::Cow<'a, str>,
}

impl<'a> ApprovalFile<'a> {
    fn of(record: &'a SignatureRecord) -> Self {
        Self {
            nhi_approval: TAG_VERSION,
            statement: record.statement.as_str().into(),
            signature: record.signature.as_str().into(),
        }
    }
}

/// The approval file's bytes: pretty JSON and a final newline.
pub fn encode(record: &SignatureRecord) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&ApprovalFile::of(record))
        .expect("invariant: approvals serialise");
    out.push(b'\n');
    out
}

/// The one-line form, for a review comment.
pub fn line(record: &SignatureRecord) -> String {
    let compact =
        serde_json::to_vec(&ApprovalFile::of(record)).expect("invariant: approvals serialise");
    format!(
        "{LINE_PREFIX}{}",
        base64ct::Base64UrlUnpadded::encode_string(&compact)
    )
}

/// Why bytes are not an approval, in words for [`ApprovalError::Malformed`].
pub fn decode(bytes: &[u8]) -> Result<SignatureRecord, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_owned())?;
    let text = text.trim_ascii();
    let json = if let Some(encoded) = text.strip_prefix(LINE_PREFIX) {
        base64ct::Base64UrlUnpadded::decode_vec(encoded)
            .map_err(|_| "its line is not base64url without padding".to_owned())?
    } else if text.starts_with("nhi-approval:") {
        return Err("its line is not `nhi-approval:v1:…` (another version?)".into());
    } else if text.starts_with('{') {
        text.as_bytes().to_vec()
    } else {
        return Err("it is neither an approval's JSON nor a line `nhi-approval:v1:…`".into());
    };
    let file: ApprovalFile<'_> =
        serde_json::from_slice(&json).map_err(|e| format!("not an approval: {e}"))?;
    if file.nhi_approval != TAG_VERSION {
        return Err(format!(
            "`nhi_approval` is {}; this nhi reads version {TAG_VERSION}",
            file.nhi_approval
        ));
    }
    if file.statement.len() > MAX_STATEMENT_BYTES {
        return Err(format!(
            "its statement is larger than {MAX_STATEMENT_BYTES} bytes"
        ));
    }
    if file.signature.len() > MAX_SIGNATURE_BYTES {
        return Err(format!(
            "its signature is larger than {MAX_SIGNATURE_BYTES} bytes"
        ));
    }
    Ok(SignatureRecord {
        statement: file.statement.into_owned(),
        signature: file.signature.into_owned(),
    })
}

/// Reads one approval file, bounded and strict. Only a regular file (or a link
/// to one) is opened: a FIFO or a device planted as `x.approval` would never end.
pub fn read(path: &Path) -> Result<DetachedApproval, ApprovalError> {
    let regular = std::fs::metadata(path).map_err(|e| ApprovalError::Read {
        file: path.display().to_string(),
        detail: e.to_string(),
    })?;
    if !regular.is_file() {
        return Err(ApprovalError::Read {
            file: path.display().to_string(),
            detail: "it is not a regular file".into(),
        });
    }
    let bytes =
        crate::sealed::read_bounded(path, MAX_APPROVAL_BYTES).map_err(|e| ApprovalError::Read {
            file: path.display().to_string(),
            detail: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_APPROVAL_BYTES {
        return Err(ApprovalError::TooLarge {
            file: path.display().to_string(),
            limit: MAX_APPROVAL_BYTES,
        });
    }
    let record = decode(&bytes).map_err(|detail| ApprovalError::Malformed {
        file: path.display().to_string(),
        detail,
    })?;
    Ok(DetachedApproval {
        file: path.to_owned(),
        record,
    })
}

/// Reads every approval named: a file as it is (whatever its name), a directory
/// for its `*.approval` files in name order. More than [`MAX_SIGNATURES`] are
/// refused before any is read.
pub fn gather(paths: &[PathBuf]) -> Result<Vec<DetachedApproval>, ApprovalError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| ApprovalError::Read {
            file: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ApprovalError::Read {
                file: path.display().to_string(),
                detail: e.to_string(),
            })?;
            let name = entry.path();
            if name.extension().is_some_and(|e| e == EXTENSION) {
                found.push(name);
            }
            if found.len() > MAX_SIGNATURES {
                return Err(ApprovalError::TooMany {
                    limit: MAX_SIGNATURES,
                });
            }
        }
        found.sort();
        files.extend(found);
    }
    if files.len() > MAX_SIGNATURES {
        return Err(ApprovalError::TooMany {
            limit: MAX_SIGNATURES,
        });
    }
    files.iter().map(|f| read(f)).collect()
}

/// A plan's signatures with the detached approvals that join them, and where
/// each came from.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// The plan's own, in file order, then the detached ones that speak for it.
    pub records: Vec<SignatureRecord>,
    /// Parallel to `records`: `None` for a signature in the plan file, else the
    /// approval file it came from.
    pub sources: Vec<Option<PathBuf>>,
    /// Detached approvals that do not join: another plan's, or a copy of one
    /// already there. They count for nothing, so they are noted, not refused.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone)]
pub struct Skipped {
    pub file: PathBuf,
    pub reason: String,
}

/// Checks each detached approval before it may join the plan's signatures: a
/// canonical approver statement whose SSH signature verifies over it (so a
/// tampered file is refused, never skipped). One for another plan is skipped
/// (`strict` refuses it instead, as `nhi merge` does), and so is an exact copy
/// of a signature already there: the same approval counts once.
pub fn join(
    digest: &Digest,
    in_file: &[SignatureRecord],
    detached: &[DetachedApproval],
    strict: bool,
) -> Result<Gathered, ApprovalError> {
    let mut gathered = Gathered {
        records: in_file.to_vec(),
        sources: vec![None; in_file.len()],
        skipped: Vec::new(),
    };
    for approval in detached {
        let file = approval.file.display().to_string();
        let statement = check(approval)?;
        if statement.digest != *digest {
            let refused = ApprovalError::WrongPlan {
                file,
                principal: statement.principal,
                signed: statement.digest.to_string(),
                actual: digest.to_string(),
            };
            if strict {
                return Err(refused);
            }
            gathered.skipped.push(Skipped {
                file: approval.file.clone(),
                reason: refused.to_string(),
            });
            continue;
        }
        if let Some(at) = gathered.records.iter().position(|r| *r == approval.record) {
            let reason = match &gathered.sources[at] {
                None => "the plan file already holds this approval".to_owned(),
                Some(other) => format!("the same approval as `{}`", other.display()),
            };
            gathered.skipped.push(Skipped {
                file: approval.file.clone(),
                reason,
            });
            continue;
        }
        if gathered.records.len() == MAX_SIGNATURES {
            return Err(ApprovalError::TooMany {
                limit: MAX_SIGNATURES,
            });
        }
        gathered.records.push(approval.record.clone());
        gathered.sources.push(Some(approval.file.clone()));
    }
    Ok(gathered)
}

/// The statement of an approval whose signature verifies over it (any key:
/// whether the key counts is the trust policy's question, at apply).
fn check(approval: &DetachedApproval) -> Result<Statement, ApprovalError> {
    let file = approval.file.display().to_string();
    let record = &approval.record;
    let statement =
        Statement::parse(&record.statement).map_err(|detail| ApprovalError::Malformed {
            file: file.clone(),
            detail: format!("statement: {detail}"),
        })?;
    if statement.role != Role::Approver {
        return Err(ApprovalError::NotAnApproval {
            file,
            role: statement.role.to_string(),
        });
    }
    let verifies = sshsig::decode(record.signature.as_bytes())
        .is_ok_and(|sig| sig.verifies(super::PLAN_NAMESPACE, record.statement.as_bytes()));
    if !verifies {
        return Err(ApprovalError::DoesNotVerify {
            file,
            principal: statement.principal,
        });
    }
    Ok(statement)
}

/// Orders a plan's signatures canonically, so that merging the same approvals
/// in any order gives the same bytes: the author's first, then by signing
/// time, principal and exact text; records that do not parse last, by text.
pub fn canonical_order(records: &mut [SignatureRecord]) {
    records.sort_by_cached_key(|r| {
        let statement = Statement::parse(&r.statement).ok();
        (
            statement.is_none(),
            statement.as_ref().map(|s| s.role != Role::Author),
            statement.as_ref().map(|s| s.signed_at),
            statement.map(|s| s.principal),
            r.statement.clone(),
            r.signature.clone(),
        )
    });
}

/// Judges a plan with the detached approvals joined to its signatures, exactly
/// as [`super::judge_plan`] judges signatures in the file; a refusal of one that
/// came from an approval file names the file.
pub fn judge(
    body: &crate::plan::PlanBody,
    digest: &Digest,
    gathered: &Gathered,
    policy: &super::TrustPolicy,
    signers: &super::AllowedSigners,
    now: jiff::Timestamp,
) -> (super::Standing, Option<TrustError>) {
    let (standing, failure) =
        super::judge_plan(body, digest, &gathered.records, policy, signers, now);
    (
        standing,
        failure.map(|e| name_the_file(e, &gathered.sources)),
    )
}

/// Maps a refusal of a signature that came from an approval file to one naming
/// the file: `nhi unsign` cannot drop what is not in the plan.
fn name_the_file(error: TrustError, sources: &[Option<PathBuf>]) -> TrustError {
    let index = match &error {
        TrustError::BadSignature { index, .. }
        | TrustError::WrongPlan { index, .. }
        | TrustError::UnknownSigner { index, .. } => *index,
        _ => return error,
    };
    match sources.get(index.wrapping_sub(1)) {
        Some(Some(file)) => TrustError::Approval(Box::new(ApprovalError::Refused {
            file: file.display().to_string(),
            detail: error.to_string(),
        })),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SignatureRecord {
        SignatureRecord {
            statement: "nhi-signature-v1\nrole: approver\n".into(),
            signature: "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n".into(),
        }
    }

    #[test]
    fn both_forms_decode_to_the_record() {
        let r = record();
        assert_eq!(decode(&encode(&r)).unwrap(), r);
        assert_eq!(decode(line(&r).as_bytes()).unwrap(), r);
        assert_eq!(decode(format!("  {}\n", line(&r)).as_bytes()).unwrap(), r);
    }

    #[test]
    fn anything_else_is_refused() {
        let good = String::from_utf8(encode(&record())).unwrap();
        let b64 = |s: &str| {
            format!(
                "{LINE_PREFIX}{}",
                base64ct::Base64UrlUnpadded::encode_string(s.as_bytes())
            )
        };
        let cases = [
            (
                good.replace("\"nhi_approval\": 1", "\"nhi_approval\": 2"),
                "`nhi_approval` is 2",
            ),
            (good.replace('{', "{\"extra\": 1,"), "unknown field `extra`"),
            (
                good.replace('{', "{\"statement\": \"x\","),
                "duplicate field `statement`",
            ),
            (format!("{good}{good}"), "trailing characters"),
            ("nhi-approval:v2:abc".into(), "another version"),
            (format!("{LINE_PREFIX}a+b/"), "not base64url"),
            (b64("[]"), "not an approval"),
            ("hello".into(), "neither"),
            (
                good.replace("AAAA", &"A".repeat(MAX_SIGNATURE_BYTES)),
                "signature is larger",
            ),
        ];
        for (bad, want) in cases {
            let err = decode(bad.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_directory_gives_its_approval_files_in_name_order_and_nothing_else_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let r = record();
        std::fs::write(dir.path().join("b.approval"), encode(&r)).unwrap();
        std::fs::write(dir.path().join("a.approval"), line(&r)).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not read").unwrap();
        let read = gather(&[dir.path().to_owned()]).unwrap();
        let names: Vec<_> = read.iter().map(|a| a.file.file_name().unwrap()).collect();
        assert_eq!(names, ["a.approval", "b.approval"]);
        std::fs::create_dir(dir.path().join("c.approval")).unwrap();
        let err = gather(&[dir.path().to_owned()]).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("c.approval`: it is not a regular file"),
            "{err}"
        );
        for i in 0..=MAX_SIGNATURES {
            std::fs::write(dir.path().join(format!("{i:03}.approval")), "").unwrap();
        }
        let err = gather(&[dir.path().to_owned()]).unwrap_err();
        assert!(
            matches!(err, ApprovalError::TooMany { limit: 100 }),
            "{err}"
        );
    }

    #[test]
    fn canonical_order_puts_the_author_first_then_time() {
        let statement = |role: &str, who: &str, at: &str| SignatureRecord {
            statement: format!(
                "nhi-signature-v1\nrole: {role}\nprincipal: {who}\ndigest: {}\nsigned-at: {at}\n",
                Digest::of(b"x")
            ),
            signature: String::new(),
        };
        let author = statement("author", "a", "2026-01-01T00:00:03Z");
        let b = statement("approver", "b", "2026-01-01T00:00:01Z");
        let c = statement("approver", "c", "2026-01-01T00:00:01Z");
        let junk = SignatureRecord {
            statement: "junk".into(),
            signature: String::new(),
        };
        let mut one = vec![junk.clone(), c.clone(), author.clone(), b.clone()];
        let mut two = vec![b.clone(), author.clone(), junk.clone(), c.clone()];
        canonical_order(&mut one);
        canonical_order(&mut two);
        assert_eq!(one, vec![author, b, c, junk]);
        assert_eq!(one, two);
    }
}
