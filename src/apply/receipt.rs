//! Receipts: what apply ran, in which order, with which result, and the
//! fingerprints of the touched objects afterwards. Encoded like plans — the body
//! as an exact string, its digest, and the applier's signature — so auditors
//! verify both the same way.

use std::path::Path;

use nhi_provider_sdk::{Address, Digest};
use serde::{Deserialize, Serialize};

use crate::diff::Action;
use crate::plan::{PlanError, SignatureRecord, Touched};

pub const RECEIPT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// Always [`RECEIPT_FORMAT_VERSION`].
    pub format_version: u32,
    pub tool_version: String,
    /// The digest of the plan body that was applied.
    pub plan_digest: Digest,
    /// Who applied (the receipt signer's principal, or the user).
    pub applier: String,
    pub started_at: jiff::Timestamp,
    pub finished_at: jiff::Timestamp,
    pub outcome: Outcome,
    /// One entry per planned change, in plan order.
    pub changes: Vec<ChangeOutcome>,
    /// Fingerprints of the touched objects after apply (`null`: absent), sorted.
    pub observed_after: Vec<Touched>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeOutcome {
    pub address: Address,
    pub action: Action,
    pub status: Status,
    /// The provider's error, for the failed change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The id of a key the change created (ids are not secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Failed,
    NotAttempted,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    nhi_receipt: u32,
    body_digest: String,
    body: String,
    #[serde(default)]
    signatures: Vec<SignatureRecord>,
}

/// A receipt with its exact body text.
#[derive(Debug, Clone)]
pub struct ReceiptFile {
    pub body: ReceiptBody,
    body_text: String,
    pub digest: Digest,
    pub signatures: Vec<SignatureRecord>,
}

impl ReceiptFile {
    pub fn new(body: ReceiptBody) -> Self {
        let (body_text, digest) = crate::plan::seal(&body);
        Self {
            body,
            body_text,
            digest,
            signatures: Vec::new(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let envelope = Envelope {
            nhi_receipt: RECEIPT_FORMAT_VERSION,
            body_digest: self.digest.to_string(),
            body: self.body_text.clone(),
            signatures: self.signatures.clone(),
        };
        let mut out = serde_json::to_vec_pretty(&envelope).expect("invariant: envelopes serialise");
        out.push(b'\n');
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, PlanError> {
        let malformed = |detail: String| PlanError::Malformed { detail };
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| malformed(format!("receipt: {e}")))?;
        if envelope.nhi_receipt != RECEIPT_FORMAT_VERSION {
            return Err(PlanError::UnsupportedFormat {
                found: envelope.nhi_receipt.to_string(),
                supported: RECEIPT_FORMAT_VERSION,
            });
        }
        let computed = crate::plan::check_digest(&envelope.body_digest, &envelope.body)?;
        let body: ReceiptBody = serde_json::from_str(&envelope.body)
            .map_err(|e| malformed(format!("receipt body: {e}")))?;
        if body.format_version != RECEIPT_FORMAT_VERSION {
            return Err(PlanError::UnsupportedFormat {
                found: format!("body {}", body.format_version),
                supported: RECEIPT_FORMAT_VERSION,
            });
        }
        Ok(Self {
            body,
            body_text: envelope.body,
            digest: computed,
            signatures: envelope.signatures,
        })
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::plan::write_atomic(path, &self.encode())
    }
}

/// Whether these bytes look like a receipt rather than a plan.
pub fn is_receipt(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        nhi_receipt: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Probe>(bytes).is_ok_and(|p| p.nhi_receipt.is_some())
}
