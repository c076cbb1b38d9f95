//! `nhi verify --json`: the report on a plan or a receipt for pipelines, its
//! field contracts, and `schemas/verify-json.schema.json`.

use std::path::Path;

use nhi_provider_sdk::Digest;
use schemars::JsonSchema;
use serde::Serialize;

use super::verify::claim_verified;
use crate::plan::PlanFile;
use crate::receipt::{ChangeOutcome, Outcome, ReceiptFile};
use crate::trust::{Gathered, SignatureVerdict, Signed, Standing, Verdict};

/// Bumped on any incompatible change of [`VerifyJson`].
pub const VERIFY_JSON_FORMAT_VERSION: u32 = 1;

/// `nhi verify --json`: the verdict on a plan or a receipt and everything learned
/// on the way. Fields are stable within a `format_version`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerifyJson {
    Plan(PlanVerifyJson),
    Receipt(ReceiptVerifyJson),
}

/// A plan's standing under the trust policy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanVerifyJson {
    pub format_version: u32,
    /// The file as given on the command line.
    pub file: String,
    /// `sha256:` of the plan body: the identity of the plan.
    pub plan_digest: Digest,
    pub created_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    /// Whether the plan holds only the changes for some targets (`nhi plan
    /// --target`); `selection` says which.
    pub partial: bool,
    pub selection: Option<crate::plan::SelectionRecord>,
    /// Who the plan says planned it: an unverified claim (`author_signature` is
    /// the proof).
    pub planned_by: String,
    /// The verified author signature; `null` when the plan has none.
    pub author_signature: Option<SignerJson>,
    /// Whether `planned_by` names the verified author's principal; `false` when
    /// the claim differs or no author signature verified.
    pub planned_by_verified: bool,
    /// Approvals that count, one per distinct principal and key.
    pub approvals: Vec<SignerJson>,
    /// Valid approvals that do not count, and why.
    pub ignored: Vec<IgnoredJson>,
    pub approvals_counted: usize,
    pub approvals_required: usize,
    /// What is still missing, in words; empty when the policy is met.
    pub missing: Vec<String>,
    /// Every signature judged, with its verdict: the plan file's in order, then
    /// the detached approvals given with `--signatures` (`approval_file` says
    /// which).
    pub signatures: Vec<SignatureVerdictJson>,
    /// Detached approvals given with `--signatures` that were not judged: another
    /// plan's, or a copy of a signature already there. They count for nothing.
    pub skipped_approvals: Vec<SkippedApprovalJson>,
    /// Whether apply's offline checks accept the plan.
    pub verified: bool,
    /// Why not, when `verified` is false.
    pub error: Option<ErrorJson>,
}

/// A receipt's record of an apply, and who signed for it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReceiptVerifyJson {
    pub format_version: u32,
    /// The file as given on the command line.
    pub file: String,
    /// `sha256:` of the receipt body.
    pub receipt_digest: Digest,
    /// The plan the receipt says was applied.
    pub plan_digest: Digest,
    pub applier: String,
    pub started_at: jiff::Timestamp,
    pub finished_at: jiff::Timestamp,
    pub outcome: Outcome,
    /// One entry per planned change, in plan order.
    pub changes: Vec<ChangeOutcome>,
    /// Verified receipt signatures; empty when apply ran without `--key`.
    pub signers: Vec<SignerJson>,
    /// With `--plan`: whether the receipt belongs to that plan; otherwise `null`.
    pub belongs_to_plan: Option<bool>,
    /// Whether the receipt's digest and signatures check out (and, with `--plan`,
    /// it belongs to the plan).
    pub verified: bool,
    /// Why not, when `verified` is false.
    pub error: Option<ErrorJson>,
}

/// One verified signature.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SignerJson {
    pub principal: String,
    pub signed_at: jiff::Timestamp,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub key_fingerprint: String,
    /// The approver's comment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One signature of a plan and what it counts for. Role, principal and time are
/// what its statement says: verified only when `verdict` is not `invalid`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SignatureVerdictJson {
    /// From 1, in judging order; for a signature in the plan file (`approval_file`
    /// is `null`) `nhi unsign PLAN INDEX` drops it.
    pub index: usize,
    /// The detached approval file it was read from (`--signatures`), as named;
    /// `null` for a signature inside the plan file.
    pub approval_file: Option<String>,
    /// `null` when the statement does not parse.
    pub role: Option<String>,
    pub principal: Option<String>,
    pub signed_at: Option<jiff::Timestamp>,
    /// `SHA256:…` of the key the signature names; `null` when it does not decode.
    pub key_fingerprint: Option<String>,
    pub verdict: VerdictJson,
    /// Why it does not count (`ignored`, `invalid`).
    pub reason: Option<String>,
    /// The refusal's code (`invalid`), e.g. `nhi::trust::unknown_signer`.
    pub code: Option<String>,
}

/// What a signature counts for.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictJson {
    /// The plan's verified author signature.
    Author,
    /// A verified approval that counts.
    Counted,
    /// A verified signature that does not count.
    Ignored,
    /// It does not verify; apply refuses the plan while it is there.
    Invalid,
}

fn verdict_json(v: &SignatureVerdict, source: Option<&Path>) -> SignatureVerdictJson {
    let (verdict, reason, code) = match &v.verdict {
        Verdict::Author => (VerdictJson::Author, None, None),
        Verdict::Counted => (VerdictJson::Counted, None, None),
        Verdict::Ignored(why) => (VerdictJson::Ignored, Some(why.clone()), None),
        Verdict::Invalid { code, message } => (
            VerdictJson::Invalid,
            Some(message.clone()),
            Some(code.clone()),
        ),
    };
    SignatureVerdictJson {
        index: v.index,
        approval_file: source.map(|p| p.display().to_string()),
        role: v.statement.as_ref().map(|s| s.role.to_string()),
        principal: v.statement.as_ref().map(|s| s.principal.clone()),
        signed_at: v.statement.as_ref().map(|s| s.signed_at),
        key_fingerprint: v.key_fingerprint.clone(),
        verdict,
        reason,
        code,
    }
}

/// A detached approval that was not judged, and why.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SkippedApprovalJson {
    /// The approval file, as named.
    pub file: String,
    pub reason: String,
}

/// An approval that does not count.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IgnoredJson {
    pub approval: SignerJson,
    pub reason: String,
}

/// The error that stopped verification, as stderr shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorJson {
    /// A stable code such as `nhi::trust::insufficient_approvals`.
    pub code: Option<String>,
    pub message: String,
}

impl ErrorJson {
    pub fn of(diagnostic: &dyn miette::Diagnostic) -> Self {
        Self {
            code: diagnostic.code().map(|c| c.to_string()),
            message: diagnostic.to_string(),
        }
    }
}

fn signer_json(signed: &Signed) -> SignerJson {
    SignerJson {
        principal: signed.statement.principal.clone(),
        signed_at: signed.statement.signed_at,
        key_fingerprint: signed.key_fingerprint(),
        comment: signed.statement.comment.clone(),
    }
}

/// [`VerifyJson`] of a judged plan; `error` is the failure, if any.
pub fn plan_json(
    path: &Path,
    file: &PlanFile,
    gathered: &Gathered,
    standing: &Standing,
    error: Option<&dyn miette::Diagnostic>,
) -> VerifyJson {
    VerifyJson::Plan(PlanVerifyJson {
        format_version: VERIFY_JSON_FORMAT_VERSION,
        file: path.display().to_string(),
        plan_digest: file.digest,
        created_at: file.body.created_at,
        expires_at: file.body.expires_at,
        partial: file.body.is_partial(),
        selection: file.body.selection.clone(),
        planned_by: file.body.author.clone(),
        author_signature: standing.author.as_ref().map(signer_json),
        planned_by_verified: claim_verified(file, standing),
        approvals: standing.counted.iter().map(signer_json).collect(),
        ignored: standing
            .ignored
            .iter()
            .map(|(a, why)| IgnoredJson {
                approval: signer_json(a),
                reason: why.clone(),
            })
            .collect(),
        approvals_counted: standing.counted.len(),
        approvals_required: standing.required,
        missing: standing.missing.clone(),
        signatures: standing
            .signatures
            .iter()
            .map(|v| {
                let source = gathered.sources.get(v.index - 1).and_then(Option::as_deref);
                verdict_json(v, source)
            })
            .collect(),
        skipped_approvals: gathered
            .skipped
            .iter()
            .map(|s| SkippedApprovalJson {
                file: s.file.display().to_string(),
                reason: s.reason.clone(),
            })
            .collect(),
        verified: error.is_none(),
        error: error.map(ErrorJson::of),
    })
}

/// [`VerifyJson`] of a receipt; `error` is the failure, if any.
pub fn receipt_json(
    path: &Path,
    receipt: &ReceiptFile,
    signed: &[Signed],
    belongs_to_plan: Option<bool>,
    error: Option<&dyn miette::Diagnostic>,
) -> VerifyJson {
    let body = &receipt.body;
    VerifyJson::Receipt(ReceiptVerifyJson {
        format_version: VERIFY_JSON_FORMAT_VERSION,
        file: path.display().to_string(),
        receipt_digest: receipt.digest,
        plan_digest: body.plan_digest,
        applier: body.applier.clone(),
        started_at: body.started_at,
        finished_at: body.finished_at,
        outcome: body.outcome,
        changes: body.changes.clone(),
        signers: signed.iter().map(signer_json).collect(),
        belongs_to_plan,
        verified: error.is_none(),
        error: error.map(ErrorJson::of),
    })
}

/// The JSON Schema of [`VerifyJson`], as checked in under `schemas/`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(VerifyJson)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    /// `schemas/verify-json.schema.json` is generated from [`super::VerifyJson`];
    /// `NHI_UPDATE_SCHEMAS=1` regenerates it.
    #[test]
    fn verify_json_schema_is_up_to_date() {
        crate::check_schema_file("verify-json.schema.json", &super::schema());
    }
}
