//! Judging a receipt's signatures: each must be a good `nhi-receipt` signature by
//! an allowed signer, over the receipt's digest, in the applier role. Receipts are
//! archives, so keys are judged at the time they signed, not today.

use nhi_provider_sdk::Digest;

use super::allowed_signers::AllowedSigners;
use super::statement::Role;
use super::verify::{Signed, verify_record};
use super::{RECEIPT_NAMESPACE, TrustError};
use crate::plan::SignatureRecord;

/// The receipt signatures that verified, in order, up to the first that did not,
/// and why that one failed.
pub fn judge_receipt(
    digest: &Digest,
    signatures: &[SignatureRecord],
    signers: &AllowedSigners,
) -> (Vec<Signed>, Option<TrustError>) {
    let mut good = Vec::with_capacity(signatures.len());
    for (i, record) in signatures.iter().enumerate() {
        let index = i + 1;
        match verify_record(index, record, RECEIPT_NAMESPACE, digest, signers, None) {
            Ok(signed) if signed.statement.role != Role::Applier => {
                return (good, Some(TrustError::NotApplier { index }));
            }
            Ok(signed) => good.push(signed),
            Err(e) => return (good, Some(e)),
        }
    }
    (good, None)
}
