//! Receipts: what apply ran, in which order, with which result, and the
//! fingerprints of the touched objects afterwards. A receipt is a [`Sealed`]
//! envelope tagged `nhi_receipt`, like a plan, so auditors verify both the same
//! way (namespace `nhi-receipt`); `schemas/receipt.schema.json` describes the body.

use std::path::Path;

use miette::Diagnostic;
use nhi_provider_sdk::{Address, Digest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diff::Action;
use crate::plan::Touched;
use crate::sealed::{SealError, Sealed, SealedBody};

/// The envelope and body layout version of receipts.
pub const RECEIPT_FORMAT_VERSION: u32 = 1;

/// Receipts larger than this are refused unread: one holds a line per planned
/// change and per touched object, far below it for any plan nhi accepts.
pub const MAX_RECEIPT_BYTES: u64 = 256 * 1024 * 1024;

/// The signed record of one apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// Always [`RECEIPT_FORMAT_VERSION`]; readers refuse any other.
    pub format_version: u32,
    /// The nhi version that applied, for the record only.
    pub tool_version: String,
    /// The digest of the plan body that was applied: the receipt belongs to
    /// exactly that plan.
    pub plan_digest: Digest,
    /// Who applied: the receipt signer's principal, or the user without `--key`
    /// (then a claim, not a verified identity).
    pub applier: String,
    /// When the first change was about to run (every check had passed), UTC, to
    /// the second.
    pub started_at: jiff::Timestamp,
    /// When the last attempted change ended and the touched objects were re-read,
    /// UTC, to the second; never before `started_at`.
    pub finished_at: jiff::Timestamp,
    /// `succeeded` when every change completed; `failed` when one failed or its
    /// outcome is unknown (apply stops there).
    pub outcome: Outcome,
    /// One entry per planned change, in plan order.
    pub changes: Vec<ChangeOutcome>,
    /// Fingerprints of the touched objects after apply (`null`: absent), in the
    /// plan's order; empty when they could not be re-read.
    pub observed_after: Vec<Touched>,
    /// The receipt's place in the applier's receipt log (`receipt_log` in the
    /// trust policy): its sequence number and the digest of the receipt before
    /// it. Absent when no log is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<crate::sealed::ChainLink>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Stopped by SIGINT or SIGTERM between two changes.
    Interrupted,
    /// Stopped at a change whose status is `unknown`: it was sent and the
    /// provider broke before saying what became of it. The next plan shows
    /// whether it happened.
    Unknown,
}

/// What became of one planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOutcome {
    /// The change's address, as in the plan.
    pub address: Address,
    /// The change's action, as in the plan.
    pub action: Action,
    pub status: Status,
    /// The provider's error, for the failed or unknown change only; never key
    /// material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The id of a key the change created (ids are not secret), also for a
    /// failed change whose key lives on with its secret delivered. The receipt
    /// log's signed receipts are how nhi recognises the keys it minted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_id: Option<String>,
}

/// Every change is exactly one of these: `completed` (it ran and succeeded),
/// `failed` (it ran and failed), `unknown` (it was sent, and the provider broke
/// before saying what became of it: a plugin that crashed or missed its
/// deadline; the next plan reads live state, so it shows whether the change
/// happened, and retries only what did not), `not_attempted` (it never ran).
/// At most one change per receipt is `failed` or `unknown`, and the changes
/// after it are `not_attempted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Failed,
    Unknown,
    NotAttempted,
}

impl SealedBody for ReceiptBody {
    const TAG: &'static str = "nhi_receipt";
    const VERSION: u32 = RECEIPT_FORMAT_VERSION;
    const MAX_BYTES: u64 = MAX_RECEIPT_BYTES;
}

/// A decoded, digest-checked receipt.
pub type ReceiptFile = Sealed<ReceiptBody>;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ReceiptError {
    #[error("cannot read receipt `{path}`")]
    #[diagnostic(
        code(nhi::receipt::read),
        help("check the path; apply writes `PLAN.receipt.json`")
    )]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("receipt is larger than {limit} bytes")]
    #[diagnostic(
        code(nhi::receipt::too_large),
        help("this is not a receipt nhi wrote; refuse it")
    )]
    TooLarge { limit: u64 },

    #[error("not an nhi receipt: {detail}")]
    #[diagnostic(
        code(nhi::receipt::not_a_receipt),
        help("receipts are JSON files written by `nhi apply` beside the plan")
    )]
    NotAReceipt { detail: String },

    #[error("unsupported receipt format version `{found}`")]
    #[diagnostic(
        code(nhi::receipt::unsupported_format),
        help(
            "this build reads receipt format version {supported}; verify it with the nhi that wrote it"
        )
    )]
    UnsupportedFormat { found: String, supported: u32 },

    #[error("receipt is malformed: {detail}")]
    #[diagnostic(
        code(nhi::receipt::malformed),
        help("the receipt was edited or damaged; it is not evidence")
    )]
    Malformed { detail: String },

    #[error("receipt body does not match its digest: recorded `{recorded}`, computed `{computed}`")]
    #[diagnostic(
        code(nhi::receipt::digest_mismatch),
        help("the receipt was changed after apply wrote it; it is not evidence")
    )]
    DigestMismatch { recorded: Digest, computed: Digest },

    #[error("the receipt is for plan `{receipt}`, not `{plan}`")]
    #[diagnostic(code(nhi::verify::receipt_plan_mismatch))]
    PlanMismatch { receipt: Digest, plan: Digest },
}

impl From<SealError> for ReceiptError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::TooLarge { limit } => Self::TooLarge { limit },
            SealError::NotSealed { detail } => Self::NotAReceipt { detail },
            SealError::UnsupportedFormat { found } => Self::UnsupportedFormat {
                found,
                supported: RECEIPT_FORMAT_VERSION,
            },
            SealError::Malformed { detail } => Self::Malformed { detail },
            SealError::DigestMismatch { recorded, computed } => {
                Self::DigestMismatch { recorded, computed }
            }
            SealError::Body { detail } => Self::Malformed {
                detail: format!("body: {detail}"),
            },
        }
    }
}

impl Sealed<ReceiptBody> {
    /// Parses and checks a receipt: envelope version, digest over the exact body
    /// bytes, and body version. Signatures are judged by `trust`.
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let receipt = Self::unseal(bytes)?;
        if receipt.body.format_version != RECEIPT_FORMAT_VERSION {
            return Err(ReceiptError::UnsupportedFormat {
                found: format!("body {}", receipt.body.format_version),
                supported: RECEIPT_FORMAT_VERSION,
            });
        }
        Ok(receipt)
    }

    pub fn read(path: &Path) -> Result<Self, ReceiptError> {
        let bytes = crate::sealed::read_bounded(path, MAX_RECEIPT_BYTES).map_err(|source| {
            ReceiptError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        Self::decode(&bytes)
    }

    /// Refuses a receipt that does not belong to the plan with digest `plan`.
    pub fn check_plan(&self, plan: &Digest) -> Result<(), ReceiptError> {
        if *plan != self.body.plan_digest {
            return Err(ReceiptError::PlanMismatch {
                receipt: self.body.plan_digest,
                plan: *plan,
            });
        }
        Ok(())
    }
}

/// Whether these bytes look like a receipt rather than a plan.
pub fn is_receipt(bytes: &[u8]) -> bool {
    crate::sealed::has_tag(bytes, ReceiptBody::TAG)
}

/// The JSON Schema of a receipt body (`schemas/receipt.schema.json`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ReceiptBody)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    /// `schemas/receipt.schema.json` is generated from [`super::ReceiptBody`];
    /// `NHI_UPDATE_SCHEMAS=1` rewrites it.
    #[test]
    fn receipt_schema_is_up_to_date() {
        crate::check_schema_file("receipt.schema.json", &super::schema());
    }

    #[test]
    fn a_receipt_is_not_read_as_a_plan_nor_a_plan_as_a_receipt() {
        let receipt = br#"{"nhi_receipt":1,"body_digest":"sha256:00","body":"{}"}"#;
        assert!(super::is_receipt(receipt));
        assert!(!super::is_receipt(br#"{"nhi_plan":1}"#));
        let err = super::ReceiptFile::decode(br#"{"nhi_plan":1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not an nhi receipt: it has no `nhi_receipt` field"
        );
        let err = super::ReceiptFile::decode(br#"{"nhi_receipt":2}"#).unwrap_err();
        assert_eq!(err.to_string(), "unsupported receipt format version `2`");
    }
}
