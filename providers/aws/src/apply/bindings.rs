//! Bindings of IAM users and roles: managed policies attached and detached,
//! inline policies put and deleted, users added to and removed from groups.

use nhi_provider_sdk::settle::{gone_is_ok, settle};
use nhi_provider_sdk::{Binding, ProviderError};

use super::{Target, object};
use crate::error::api_error;
use crate::mapping::{self, GROUP_PREFIX, Grant, INLINE_PREFIX, Kind};

pub(super) async fn put(
    target: &Target<'_>,
    identity: &str,
    binding: &Binding,
) -> Result<(), ProviderError> {
    let grant = mapping::grant(binding)?;
    let kind = target.kind_of(identity).await?;
    let owner = object(kind, identity);
    match grant {
        Grant::Managed(arn) => {
            let object = format!("{owner} or policy `{arn}`");
            settle(|| async {
                match kind {
                    Kind::User => target
                        .iam
                        .attach_user_policy()
                        .user_name(identity)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:AttachUserPolicy", &object, &err)),
                    Kind::Role => target
                        .iam
                        .attach_role_policy()
                        .role_name(identity)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:AttachRolePolicy", &object, &err)),
                }
            })
            .await
        }
        Grant::Group(group) => {
            if kind != Kind::User {
                return Err(ProviderError::Other(format!(
                    "{owner} cannot join group `{group}`: only IAM users join groups"
                )));
            }
            let object = format!("{owner} or group `{group}`");
            settle(|| async {
                target
                    .iam
                    .add_user_to_group()
                    .user_name(identity)
                    .group_name(group)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:AddUserToGroup", &object, &err))
            })
            .await
        }
        Grant::Inline { name, document } => {
            let text = document.as_str();
            let object = format!("inline policy `{name}` of {owner}");
            settle(|| async {
                match kind {
                    Kind::User => target
                        .iam
                        .put_user_policy()
                        .user_name(identity)
                        .policy_name(name)
                        .policy_document(text)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:PutUserPolicy", &object, &err)),
                    Kind::Role => target
                        .iam
                        .put_role_policy()
                        .role_name(identity)
                        .policy_name(name)
                        .policy_document(text)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:PutRolePolicy", &object, &err)),
                }
            })
            .await
        }
    }
}

pub(super) async fn delete(
    target: &Target<'_>,
    identity: &str,
    binding: &Binding,
) -> Result<(), ProviderError> {
    let kind = match target.kind_of(identity).await {
        // No identity, no binding.
        Err(ProviderError::NotFound(_)) => return Ok(()),
        other => other?,
    };
    let owner = object(kind, identity);
    let deleted = if let Some(group) = binding.role.strip_prefix(GROUP_PREFIX) {
        let object = format!("membership of {owner} in group `{group}`");
        target
            .iam
            .remove_user_from_group()
            .user_name(identity)
            .group_name(group)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:RemoveUserFromGroup", &object, &err))
    } else if let Some(name) = binding.role.strip_prefix(INLINE_PREFIX) {
        let object = format!("inline policy `{name}` of {owner}");
        match kind {
            Kind::User => target
                .iam
                .delete_user_policy()
                .user_name(identity)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DeleteUserPolicy", &object, &err)),
            Kind::Role => target
                .iam
                .delete_role_policy()
                .role_name(identity)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DeleteRolePolicy", &object, &err)),
        }
    } else {
        let arn = &binding.role;
        let object = format!("policy `{arn}` attached to {owner}");
        match kind {
            Kind::User => target
                .iam
                .detach_user_policy()
                .user_name(identity)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DetachUserPolicy", &object, &err)),
            Kind::Role => target
                .iam
                .detach_role_policy()
                .role_name(identity)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DetachRolePolicy", &object, &err)),
        }
    };
    gone_is_ok(deleted)
}
