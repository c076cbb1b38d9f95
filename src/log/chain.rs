//! Checking a log's chain: every entry whole, in sequence, chained to the one
//! before it, and counted by the checkpoint; the one reader of a log's entries
//! for verify, minted keys and revocations.

use serde::Serialize;

use nhi_provider_sdk::Digest;

use super::{CHECKPOINT, Entry, LogStore, genesis, read_checkpoint, read_entry, receipt_files};
use crate::trust::AllowedSigners;

/// Every revocation record in the log in `store`, after the whole chain
/// verified with `signers`: a log with a break is no evidence of what was
/// revoked, so it is an error, never an empty list.
pub fn revocations(
    store: &LogStore,
    signers: Option<&AllowedSigners>,
) -> Result<Vec<crate::revoke::RevocationFile>, String> {
    let mut out = Vec::new();
    let mut report = LogReport::of(store);
    // One pass: the entries are collected while the chain is checked.
    check(store, signers, &mut report, &mut |entry| {
        if let Some(file) = entry.revocation {
            out.push(file);
        }
    })?;
    Ok(out)
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    pub dir: String,
    /// Receipts checked before the first break (all of them when intact).
    pub receipts: u64,
    /// The last good receipt's digest.
    pub head: Option<Digest>,
    /// Principals whose applier signatures on the checkpoint verified.
    pub checkpoint_signed_by: Vec<String>,
    /// Receipts after the ones the checkpoint counts: an append in progress,
    /// or one cut off between its receipt and its checkpoint. They are checked
    /// like every other; the next append's checkpoint counts them.
    pub unsealed: u64,
    /// The first break, when there is one.
    pub problem: Option<String>,
}

impl LogReport {
    /// Nothing checked yet.
    fn of(store: &LogStore) -> Self {
        Self {
            dir: store.name(),
            receipts: 0,
            head: None,
            checkpoint_signed_by: Vec::new(),
            unsealed: 0,
            problem: None,
        }
    }
}

/// Checks the log at `dir`: every receipt decodes and matches its digest, its
/// sequence is its place, its `previous` is the receipt before it, and the
/// checkpoint counts them all and names the last. With `signers`, every receipt
/// and the checkpoint must carry a good applier signature.
pub fn verify(store: &LogStore, signers: Option<&AllowedSigners>) -> LogReport {
    let mut report = LogReport::of(store);
    if let Err(problem) = check(store, signers, &mut report, &mut |_| {}) {
        report.problem = Some(problem);
    }
    report
}

/// Reads the log in `store` once, handing `visit` each entry in order while the
/// chain is checked as [`verify`] checks it (signatures are not required here:
/// `visit` judges each entry's own). On an error nothing visited counts: a log
/// with a break is no record. The one reader of the log beside `begin`.
pub(crate) fn read_chain(store: &LogStore, visit: &mut dyn FnMut(Entry)) -> Result<(), String> {
    let mut report = LogReport::of(store);
    check(store, None, &mut report, visit)
}

fn check(
    store: &LogStore,
    signers: Option<&AllowedSigners>,
    report: &mut LogReport,
    visit: &mut dyn FnMut(Entry),
) -> Result<(), String> {
    // The checkpoint is read before the receipts are listed, so an append that
    // lands meanwhile shows as receipts beyond it, never as a checkpoint that
    // counts more than the listing (which is what a deleted tail looks like).
    let checkpoint = read_checkpoint(store)?;
    let files = receipt_files(store)?;
    let sealed = checkpoint.as_ref().map(|(c, _)| c.body.count);
    let mut previous = genesis();
    // The digest of the receipt the checkpoint counts last.
    let mut sealed_head = (sealed == Some(0)).then(genesis);
    for (position, (number, name)) in (1u64..).zip(&files) {
        if *number != position {
            return Err(if position == 1 {
                format!("the log starts at `{name}`: receipt 1 is missing")
            } else {
                format!("receipt {position} is missing: the log goes on at `{name}`")
            });
        }
        let receipt = read_entry(store, name).map_err(|e| format!("`{name}`: {e}"))?;
        let Some(link) = &receipt.chain else {
            return Err(format!("`{name}` carries no place in a log"));
        };
        if link.sequence != position {
            return Err(format!(
                "`{name}` says it is receipt {}: receipts were renamed or reordered",
                link.sequence
            ));
        }
        if link.previous != previous {
            return Err(format!(
                "`{name}` follows `{}`, but the receipt before it is `{previous}`: a receipt was replaced, edited or inserted",
                link.previous
            ));
        }
        if let Some(signers) = signers {
            judge(&receipt.digest, &receipt.signatures, signers)
                .map_err(|e| format!("`{name}`: {e}"))?;
        }
        previous = receipt.digest;
        if sealed == Some(position) {
            sealed_head = Some(previous);
        }
        visit(receipt);
        report.receipts = position;
        report.head = Some(previous);
    }
    let count = files.len() as u64;
    let Some((checkpoint, _)) = checkpoint else {
        return if count == 0 {
            Err("the log is empty and has no checkpoint".into())
        } else {
            Err(format!("`{CHECKPOINT}` is missing"))
        };
    };
    if checkpoint.body.count > count {
        return Err(format!(
            "the checkpoint counts {} receipts, the log holds {count}: the last ones were deleted",
            checkpoint.body.count,
        ));
    }
    let sealed_head = sealed_head.expect("invariant: the loop passed the checkpoint's count");
    if checkpoint.body.head != sealed_head {
        return Err(if checkpoint.body.count == count {
            format!(
                "the checkpoint's head is `{}`, but the last receipt is `{sealed_head}`",
                checkpoint.body.head
            )
        } else {
            format!(
                "the checkpoint's head is `{}`, but receipt {} is `{sealed_head}`",
                checkpoint.body.head, checkpoint.body.count
            )
        });
    }
    report.unsealed = count - checkpoint.body.count;
    if let Some(signers) = signers {
        report.checkpoint_signed_by = judge(&checkpoint.digest, &checkpoint.signatures, signers)
            .map_err(|e| format!("`{CHECKPOINT}`: {e}"))?;
    }
    Ok(())
}

/// Applier principals with good signatures, or why one is not; none at all is
/// a failure too.
fn judge(
    digest: &Digest,
    signatures: &[crate::sealed::SignatureRecord],
    signers: &AllowedSigners,
) -> Result<Vec<String>, String> {
    let (good, failure) = crate::trust::judge_receipt(digest, signatures, signers);
    if let Some(failure) = failure {
        return Err(failure.to_string());
    }
    if good.is_empty() {
        return Err("not signed by an applier".into());
    }
    Ok(good.into_iter().map(|s| s.statement.principal).collect())
}
