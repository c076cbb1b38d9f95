//! Trust: SSHSIG signatures over statements that bind a body digest, a role, a
//! principal and a time; OpenSSH `allowed_signers`; and the applier's trust
//! policy deciding which approvals count.

mod allowed_signers;
mod backend_block;
mod concerns;
mod condition;
pub mod detached;
mod error;
mod policy;
mod protection;
mod receipt;
mod revoke_bar;
mod signer;
mod sshsig;
mod statement;
#[cfg(test)]
mod tests;
mod verify;

pub use allowed_signers::AllowedSigners;
pub use concerns::approval_concerns;
pub use detached::{DetachedApproval, Gathered};
pub use error::{ApprovalError, PolicyProblem, TrustError};
pub use policy::{Condition, PolicyLocation, Rule, TrustPolicy, default_path};
pub use protection::{Guarded, unprotected};
pub use receipt::judge_receipt;
pub use signer::Signer;
pub use statement::{Role, Statement, clean_comment, valid_principal};
pub use verify::{
    SignatureVerdict, Signed, Standing, Verdict, check_time, has_author_signature, judge_plan,
    verify_record,
};

use nhi_provider_sdk::Digest;

use crate::plan::SignatureRecord;

/// The SSHSIG namespace of plan signatures (`ssh-keygen -Y … -n nhi-plan`).
pub const PLAN_NAMESPACE: &str = "nhi-plan";
/// The SSHSIG namespace of receipt signatures.
pub const RECEIPT_NAMESPACE: &str = "nhi-receipt";

/// Signs `digest` in `role` as `principal`.
pub fn sign(
    signer: &Signer,
    namespace: &str,
    role: Role,
    principal: &str,
    digest: Digest,
    now: jiff::Timestamp,
    comment: Option<&str>,
) -> Result<SignatureRecord, TrustError> {
    if !valid_principal(principal) {
        return Err(TrustError::BadPrincipal {
            principal: principal.to_owned(),
        });
    }
    let statement = Statement {
        role,
        principal: principal.to_owned(),
        digest,
        signed_at: now,
        comment: comment.map(clean_comment).filter(|c| !c.is_empty()),
    };
    let text = statement.encode();
    let signature = signer.sign(namespace, text.as_bytes())?;
    Ok(SignatureRecord {
        statement: text,
        signature,
    })
}

/// The principal to sign as: `--principal`, else the key's comment.
pub fn principal_for(signer: &Signer, flag: Option<&str>) -> Result<String, TrustError> {
    let principal = flag.map_or_else(|| signer.comment(), str::to_owned);
    if principal.is_empty() {
        return Err(TrustError::NoPrincipal);
    }
    if !valid_principal(&principal) {
        return Err(TrustError::BadPrincipal { principal });
    }
    Ok(principal)
}
