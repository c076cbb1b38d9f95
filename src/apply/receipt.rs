//! Step 10 of apply: the receipt's overall outcome, and the receipt signed by
//! the applier and written beside the plan, never over an earlier one.

use super::{ApplyError, ApplyOptions};
use crate::receipt::{ChangeOutcome, Outcome, ReceiptBody, ReceiptFile, Status};
use crate::trust::Role;

/// What became of the apply as a whole: a change whose outcome is unknown
/// outranks a failure, which outranks an interruption.
pub(super) fn overall(outcomes: &[ChangeOutcome], failed: bool, interrupted: bool) -> Outcome {
    if outcomes.iter().any(|c| c.status == Status::Unknown) {
        Outcome::Unknown
    } else if failed {
        Outcome::Failed
    } else if interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Succeeded
    }
}

/// Signs `body` with the applier's key, when there is one, and stores it at
/// the receipt path.
pub(super) fn write(
    body: ReceiptBody,
    options: &ApplyOptions<'_>,
) -> Result<ReceiptFile, ApplyError> {
    let mut receipt = ReceiptFile::new(body);
    let receipt_error = |detail: String| ApplyError::Receipt {
        path: options.receipt_path.display().to_string(),
        detail,
    };
    if let Some(signer) = options.receipt_signer {
        let record = crate::trust::sign(
            signer,
            crate::trust::RECEIPT_NAMESPACE,
            Role::Applier,
            &options.applier,
            receipt.digest,
            crate::clock::system_now(),
            None,
        )
        .map_err(|e| receipt_error(e.to_string()))?;
        receipt.signatures.push(record);
    }
    receipt
        .store_new(&options.receipt_path)
        .map_err(|e| receipt_error(e.to_string()))?;
    Ok(receipt)
}
