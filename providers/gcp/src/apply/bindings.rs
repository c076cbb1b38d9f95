//! Bindings of service accounts: each is the account's member in one binding of
//! the project's IAM policy (a role, and a condition when it has one), so
//! creating, changing or deleting one moves that member.

use nhi_provider_sdk::{Binding, ProviderError};

use super::iam_policy::{
    self, add_member, remove_deleted_members, remove_member, remove_role_member,
};
use crate::propagation::Wait;
use crate::target::Target;

/// Moves `identity`'s member from the policy binding of `remove` to that of
/// `add` (either may be absent), by read-modify-write with the etag.
pub(super) async fn change_member(
    target: &Target<'_>,
    identity: &str,
    remove: Option<&Binding>,
    add: Option<&Binding>,
) -> Result<(), ProviderError> {
    let email = target.settings.email(identity);
    let member = format!("serviceAccount:{email}");
    let unseen = Wait::for_account(target, identity);
    iam_policy::read_modify_write(target, unseen, |policy| {
        let mut changed = false;
        if let Some(binding) = remove {
            changed |= match crate::deleted::uid_of(binding) {
                // A deleted account's leftover grant, under whatever condition.
                Some(uid) => {
                    remove_role_member(policy, &crate::deleted::member(&email, uid), &binding.role)
                }
                None => remove_member(policy, &member, binding)?,
            };
        }
        if let Some(binding) = add {
            changed |= add_member(policy, &member, binding)?;
        }
        Ok(changed)
    })
    .await
}

/// Removes what earlier, deleted accounts with `identity`'s email left in the
/// policy (`deleted:serviceAccount:…?uid=…` members), before nhi creates the
/// account anew: they grant nothing, yet count toward the policy's limit and
/// read as grants to reviewers.
pub(super) async fn remove_leftovers(
    target: &Target<'_>,
    identity: &str,
) -> Result<(), ProviderError> {
    let email = target.settings.email(identity);
    let unseen = Wait::for_account(target, identity);
    iam_policy::read_modify_write(target, unseen, |policy| {
        Ok(remove_deleted_members(policy, &email))
    })
    .await
}
