//! What an approver should hear before signing: the plan has expired, their key
//! or principal already approved it, or they are its author. Judged from the
//! plan alone (the applier's trust policy decides later), so each is a warning.

use nhi_provider_sdk::Digest;
use ssh_key::PublicKey;

use super::statement::{Role, Statement};
use crate::plan::{PlanBody, SignatureRecord};

/// Why an approval about to be made may not count, in words.
pub fn approval_concerns(
    body: &PlanBody,
    digest: &Digest,
    records: &[SignatureRecord],
    key: &PublicKey,
    principal: &str,
    now: jiff::Timestamp,
) -> Vec<String> {
    let mut out = Vec::new();
    if now >= body.expires_at {
        out.push(format!(
            "the plan expired at {}; apply will refuse it whatever its approvals (plan again)",
            body.expires_at
        ));
    }
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256);
    // Only signatures that are what they say count as earlier ones here.
    let earlier = records.iter().enumerate().filter_map(|(i, record)| {
        let statement = Statement::parse(&record.statement).ok()?;
        let sig = super::sshsig::decode(record.signature.as_bytes()).ok()?;
        (statement.digest == *digest
            && sig.verifies(super::PLAN_NAMESPACE, record.statement.as_bytes()))
        .then_some((i + 1, statement, sig.key))
    });
    let mut authored = false;
    for (index, statement, signer) in earlier {
        let same_key = signer.key_data() == key.key_data();
        let same_principal = statement.principal == principal;
        match statement.role {
            Role::Author if same_key || same_principal => {
                authored = true;
                out.push(format!(
                    "you are the plan's author (signature {index}{}): unless the trust policy sets `author_counts: true`, your approval does not count",
                    if same_key { ", made with this key" } else { "" }
                ));
            }
            Role::Approver if same_key => out.push(format!(
                "this key ({fingerprint}) already approved the plan (signature {index}, as `{}`): a second approval by it does not count",
                statement.principal
            )),
            Role::Approver if same_principal => out.push(format!(
                "`{principal}` already approved the plan (signature {index}): a second approval by the same principal does not count"
            )),
            _ => {}
        }
    }
    if !authored && body.author == principal {
        out.push(format!(
            "the plan names `{principal}` as its author: if its author signature is yours, your approval does not count"
        ));
    }
    out
}
