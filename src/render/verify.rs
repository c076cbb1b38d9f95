//! What `nhi verify` reports: who planned, who approved and what is missing for a
//! plan; what ran and who signed for a receipt. As text, and as JSON for
//! pipelines (`--json`, `schemas/verify-json.schema.json`).

use std::fmt::Write as _;
use std::path::Path;

use nhi_provider_sdk::Digest;
use schemars::JsonSchema;
use serde::Serialize;

use crate::plan::PlanFile;
use crate::receipt::{ChangeOutcome, Outcome, ReceiptFile};
use crate::trust::{Role, SignatureVerdict, Signed, Standing, Verdict};

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
    /// Every signature in the file, in order, with its verdict.
    pub signatures: Vec<SignatureVerdictJson>,
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
    /// From 1, in file order; `nhi unsign PLAN INDEX` drops it.
    pub index: usize,
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

fn verdict_json(v: &SignatureVerdict) -> SignatureVerdictJson {
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
        role: v.statement.as_ref().map(|s| s.role.to_string()),
        principal: v.statement.as_ref().map(|s| s.principal.clone()),
        signed_at: v.statement.as_ref().map(|s| s.signed_at),
        key_fingerprint: v.key_fingerprint.clone(),
        verdict,
        reason,
        code,
    }
}

/// Whether the plan's author claim is the verified author's principal.
fn claim_verified(file: &PlanFile, standing: &Standing) -> bool {
    standing
        .author
        .as_ref()
        .is_some_and(|a| a.statement.principal == file.body.author)
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
        signatures: standing.signatures.iter().map(verdict_json).collect(),
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

/// The plan's digest, creation, summary, signatures and approvals.
pub fn plan(path: &Path, file: &PlanFile, standing: &Standing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan `{}`: body digest `{}` matches",
        path.display(),
        file.digest
    );
    let _ = writeln!(
        out,
        "  created {}, expires {}",
        file.body.created_at, file.body.expires_at
    );
    let _ = writeln!(out, "  {}", super::text::summary_line(&file.body));
    for line in super::text::selection_lines(&file.body) {
        let _ = writeln!(out, "  {line}");
    }
    let claim = clip(&file.body.author);
    // The author is who signed; the plan's own `author` field is only a claim.
    match &standing.author {
        Some(a) => {
            let _ = writeln!(
                out,
                "  author:   `{}` at {} (key {})",
                a.statement.principal,
                a.statement.signed_at,
                a.key_fingerprint()
            );
            if !claim_verified(file, standing) {
                let _ = writeln!(
                    out,
                    "  claimed:  the plan says `{claim}` planned it (not verified: the author signature is `{}`'s)",
                    a.statement.principal
                );
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  author:   no verified author signature (the plan claims `{claim}`, not verified)"
            );
        }
    }
    for a in &standing.counted {
        let comment = a
            .statement
            .comment
            .as_deref()
            .map(|c| format!(": \"{c}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  approved: `{}` at {} (key {}){comment}",
            a.statement.principal,
            a.statement.signed_at,
            a.key_fingerprint()
        );
    }
    for (a, why) in &standing.ignored {
        let _ = writeln!(
            out,
            "  ignored:  approval by `{}` at {}: {why}",
            a.statement.principal, a.statement.signed_at
        );
    }
    let mut invalid = Vec::new();
    for v in &standing.signatures {
        match &v.verdict {
            Verdict::Ignored(why)
                if v.statement.as_ref().is_some_and(|s| s.role == Role::Author) =>
            {
                let _ = writeln!(out, "  ignored:  signature {} (author): {why}", v.index);
            }
            Verdict::Invalid { message, .. } => {
                let claims = v.statement.as_ref().map_or_else(
                    || "statement unreadable".to_owned(),
                    |s| format!("claims {} `{}`", s.role, s.principal),
                );
                let key = v
                    .key_fingerprint
                    .as_deref()
                    .map(|k| format!(", key {k}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  invalid:  signature {} ({claims}{key}): {message}",
                    v.index
                );
                invalid.push(v.index.to_string());
            }
            _ => {}
        }
    }
    if standing.required == 0 {
        let _ = writeln!(
            out,
            "  approvals: {} (none required)",
            standing.counted.len()
        );
    } else {
        let _ = writeln!(
            out,
            "  approvals: {} of {} required",
            standing.counted.len(),
            standing.required
        );
    }
    for missing in &standing.missing {
        let _ = writeln!(out, "  missing:  {missing}");
    }
    if !invalid.is_empty() {
        let _ = writeln!(
            out,
            "  apply refuses the plan while it carries a signature that does not verify; drop {}: `nhi unsign {} {}`",
            if invalid.len() == 1 { "it" } else { "them" },
            path.display(),
            invalid.join(" ")
        );
    }
    out.truncate(out.trim_end().len());
    out
}

/// A claim from the plan, shortened and without control characters.
fn clip(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !nhi_provider_sdk::text::is_unsafe_char(*c))
        .take(100)
        .collect();
    if text.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// The receipt's digest, what it applied, and each change's status.
pub fn receipt(path: &Path, receipt: &ReceiptFile) -> String {
    let body = &receipt.body;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "receipt `{}`: body digest `{}` matches",
        path.display(),
        receipt.digest
    );
    let _ = writeln!(
        out,
        "  applied plan `{}` by `{}` from {} to {}: {}",
        body.plan_digest,
        body.applier,
        body.started_at,
        body.finished_at,
        if body.outcome == Outcome::Succeeded {
            "succeeded"
        } else {
            "FAILED"
        }
    );
    for (i, c) in body.changes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>3}. {:?} {} {}",
            i + 1,
            c.status,
            c.address,
            c.error.as_deref().unwrap_or("")
        );
    }
    if receipt.signatures.is_empty() {
        out.push_str("  signature: none (apply ran without `--key`)\n");
    }
    out.truncate(out.trim_end().len());
    out
}

/// One verified receipt signature.
pub fn receipt_signer(signed: &Signed) -> String {
    format!(
        "  signed by `{}` at {} (key {})",
        signed.statement.principal,
        signed.statement.signed_at,
        signed.key_fingerprint()
    )
}

/// `nhi audit verify`: what was checked, and the first break.
pub fn log(report: &crate::log::LogReport, signatures: bool) -> String {
    use std::fmt::Write as _;
    let mut out = format!("receipt log `{}`\n", report.dir);
    let what = if signatures {
        "whole, in sequence, chained and signed by an applier"
    } else {
        "whole, in sequence and chained (signatures not checked)"
    };
    let _ = writeln!(out, "  receipts: {} {what}", report.receipts);
    if let Some(head) = &report.head {
        let _ = writeln!(out, "  head:     `{head}`");
    }
    if !report.checkpoint_signed_by.is_empty() {
        let signers: Vec<String> = report
            .checkpoint_signed_by
            .iter()
            .map(|p| format!("`{p}`"))
            .collect();
        let _ = writeln!(out, "  checkpoint signed by: {}", signers.join(", "));
    }
    match &report.problem {
        None => {
            out.push_str("verified: the chain is intact and the checkpoint counts every receipt\n");
        }
        Some(problem) => {
            let _ = writeln!(out, "broken: {problem}");
        }
    }
    out
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
