//! IAM users and roles: created (done already when one exists exactly as
//! wanted), updated tag by tag and field by field, deleted.

use std::collections::BTreeMap;

use nhi_provider_sdk::settle::{gone_is_ok, settle};
use nhi_provider_sdk::{Identity, ProviderError};

use super::{Target, object, tag_list, untag, user_debris};
use crate::error::api_error;
use crate::mapping::{self, Kind, RawIdentity, TRUST_POLICY};
use crate::policy::normalize_policy;

pub(super) async fn create(target: &Target<'_>, identity: &Identity) -> Result<(), ProviderError> {
    let kind = Kind::parse(&identity.kind)?;
    let name = &identity.name;
    let object = object(kind, name);
    let tags = tag_list(&mapping::identity_tags(
        identity,
        kind,
        target.settings.managed_tag.as_deref(),
    )?)?;
    let boundary = mapping::permissions_boundary(identity).map(str::to_owned);
    let created = match kind {
        Kind::User => target
            .iam
            .create_user()
            .user_name(name)
            .path(&target.settings.path_prefix)
            .set_tags(Some(tags))
            .set_permissions_boundary(boundary)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:CreateUser", &object, &err)),
        Kind::Role => {
            let trust = mapping::trust_policy_text(identity)?.ok_or_else(|| {
                ProviderError::Other(format!("{object} needs the attribute `trust_policy`"))
            })?;
            target
                .iam
                .create_role()
                .role_name(name)
                .path(&target.settings.path_prefix)
                .assume_role_policy_document(trust)
                .set_description(
                    (!identity.description.is_empty()).then(|| identity.description.clone()),
                )
                .set_tags(Some(tags))
                .set_permissions_boundary(boundary)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:CreateRole", &object, &err))
        }
    };
    match created {
        Err(ProviderError::AlreadyExists(what)) => {
            if !exists_as_wanted(target, kind, identity).await? {
                return Err(ProviderError::AlreadyExists(what));
            }
        }
        other => other?,
    }
    target.kinds().insert(name.clone(), kind);
    Ok(())
}

/// Whether an existing identity is in scope and exactly as `identity` wants it,
/// so that creating it again is done already.
async fn exists_as_wanted(
    target: &Target<'_>,
    kind: Kind,
    identity: &Identity,
) -> Result<bool, ProviderError> {
    let Some(raw) = fetch(target, kind, &identity.name).await? else {
        return Ok(false);
    };
    if !raw.in_scope(target.settings) {
        return Ok(false);
    }
    let have = raw.identity(target.settings.managed_tag.as_deref())?;
    Ok(have == normalized(identity))
}

/// Why `identity` cannot be created although the scope does not hold it: IAM
/// names are account-wide (per kind), and an identity outside the scope (another
/// path, no managed tag, a path AWS reserves) has the name. `None` when the name
/// is free, or taken inside the scope (the create judges that).
pub(super) async fn taken_outside_scope(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<Option<String>, ProviderError> {
    let kind = Kind::parse(&identity.kind)?;
    let Some(raw) = fetch(target, kind, &identity.name).await? else {
        return Ok(None);
    };
    if raw.in_scope(target.settings) {
        return Ok(None);
    }
    let mut why = format!("path `{}`", raw.path);
    if let Some(tag) = &target.settings.managed_tag
        && raw.tags.get(tag).is_none_or(|v| v != "true")
    {
        why.push_str(", without the tag `");
        why.push_str(tag);
        why.push_str("=true`");
    }
    Ok(Some(format!(
        "IAM {} `{}` already exists outside this block's scope ({why}); IAM names are account-wide, so it cannot be created: bring it into the scope and declare it as it is, or rename the identity",
        kind.as_str(),
        identity.name
    )))
}

/// The user or role `name` as IAM holds it; `None` when there is none.
async fn fetch(
    target: &Target<'_>,
    kind: Kind,
    name: &str,
) -> Result<Option<RawIdentity>, ProviderError> {
    let object = object(kind, name);
    let raw = match kind {
        Kind::User => {
            let out = match target.iam.get_user().user_name(name).send().await {
                Ok(out) => out,
                Err(err) => return none_if_missing(api_error("iam:GetUser", &object, &err)),
            };
            let Some(user) = out.user() else {
                return Ok(None);
            };
            RawIdentity {
                kind,
                name: user.user_name().to_owned(),
                path: user.path().to_owned(),
                tags: crate::read::tags(user.tags()),
                description: None,
                trust_policy: None,
                permissions_boundary: user
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_owned),
            }
        }
        Kind::Role => {
            let out = match target.iam.get_role().role_name(name).send().await {
                Ok(out) => out,
                Err(err) => return none_if_missing(api_error("iam:GetRole", &object, &err)),
            };
            let Some(role) = out.role() else {
                return Ok(None);
            };
            RawIdentity {
                kind,
                name: role.role_name().to_owned(),
                path: role.path().to_owned(),
                tags: crate::read::tags(role.tags()),
                description: role.description().map(str::to_owned),
                trust_policy: role.assume_role_policy_document().map(str::to_owned),
                permissions_boundary: role
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_owned),
            }
        }
    };
    Ok(Some(raw))
}

fn none_if_missing(err: ProviderError) -> Result<Option<RawIdentity>, ProviderError> {
    match err {
        ProviderError::NotFound(_) => Ok(None),
        other => Err(other),
    }
}

/// `identity` with its trust policy in canonical form, for comparisons.
fn normalized(identity: &Identity) -> Identity {
    let mut identity = identity.clone();
    if let Some(policy) = identity.attributes.remove(TRUST_POLICY) {
        identity
            .attributes
            .insert(TRUST_POLICY.to_owned(), normalize_policy(policy));
    }
    identity
}

pub(super) async fn update(
    target: &Target<'_>,
    before: &Identity,
    after: &Identity,
) -> Result<(), ProviderError> {
    let kind = Kind::parse(&after.kind)?;
    let name = &after.name;
    let object = object(kind, name);
    let managed_tag = target.settings.managed_tag.as_deref();
    let old = mapping::identity_tags(before, kind, managed_tag)?;
    let new = mapping::identity_tags(after, kind, managed_tag)?;
    let set: BTreeMap<String, String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unset: Vec<String> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    if !set.is_empty() {
        let tags = tag_list(&set)?;
        settle(|| async {
            match kind {
                Kind::User => target
                    .iam
                    .tag_user()
                    .user_name(name)
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:TagUser", &object, &err)),
                Kind::Role => target
                    .iam
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:TagRole", &object, &err)),
            }
        })
        .await?;
    }
    if !unset.is_empty() {
        untag(target, kind, name, unset).await?;
    }
    if kind == Kind::Role {
        if before.description != after.description {
            settle(|| async {
                target
                    .iam
                    .update_role()
                    .role_name(name)
                    .description(&after.description)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:UpdateRole", &object, &err))
            })
            .await?;
        }
        if normalized(before).attributes.get(TRUST_POLICY)
            != normalized(after).attributes.get(TRUST_POLICY)
            && let Some(trust) = mapping::trust_policy_text(after)?
        {
            settle(|| async {
                target
                    .iam
                    .update_assume_role_policy()
                    .role_name(name)
                    .policy_document(&trust)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:UpdateAssumeRolePolicy", &object, &err))
            })
            .await?;
        }
    }
    let (was, boundary) = (
        mapping::permissions_boundary(before),
        mapping::permissions_boundary(after),
    );
    match boundary {
        Some(arn) if was != Some(arn) => {
            settle(|| async {
                match kind {
                    Kind::User => target
                        .iam
                        .put_user_permissions_boundary()
                        .user_name(name)
                        .permissions_boundary(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:PutUserPermissionsBoundary", &object, &err)),
                    Kind::Role => target
                        .iam
                        .put_role_permissions_boundary()
                        .role_name(name)
                        .permissions_boundary(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:PutRolePermissionsBoundary", &object, &err)),
                }
            })
            .await?;
        }
        None if was.is_some() => {
            let deleted = match kind {
                Kind::User => target
                    .iam
                    .delete_user_permissions_boundary()
                    .user_name(name)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:DeleteUserPermissionsBoundary", &object, &err)),
                Kind::Role => target
                    .iam
                    .delete_role_permissions_boundary()
                    .role_name(name)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:DeleteRolePermissionsBoundary", &object, &err)),
            };
            gone_is_ok(deleted)?;
        }
        _ => {}
    }
    Ok(())
}

/// Deletes a user or role. IAM refuses while it still holds keys, policies or
/// anything else: the plan deletes keys and bindings first; a user's login
/// profile, MFA devices, SSH public keys, signing certificates, service-specific
/// credentials and groups go here, just before it (`user_debris`). A role's
/// instance profiles are not removed: IAM's refusal is reported.
pub(super) async fn delete(target: &Target<'_>, identity: &Identity) -> Result<(), ProviderError> {
    let kind = Kind::parse(&identity.kind)?;
    let name = &identity.name;
    let object = object(kind, name);
    let deleted = match kind {
        Kind::User => {
            let failures = user_debris::remove(target, name).await;
            let deleted = target
                .iam
                .delete_user()
                .user_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DeleteUser", &object, &err));
            match deleted {
                // Listing what a user holds may fail where the user has none
                // of it (or an emulator lacks the call): IAM's deletion decides.
                Err(err) if !failures.is_empty() && !matches!(err, ProviderError::NotFound(_)) => {
                    let causes: Vec<String> = failures.iter().map(ToString::to_string).collect();
                    Err(ProviderError::Other(format!(
                        "{err}; before it, removing what IAM refuses to delete a user with \
                         failed: {}",
                        causes.join("; ")
                    )))
                }
                other => other,
            }
        }
        Kind::Role => target
            .iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:DeleteRole", &object, &err)),
    };
    gone_is_ok(deleted)?;
    target.kinds().remove(name);
    Ok(())
}

/// The inline policy that revokes the sessions of an identity.
pub(crate) const REVOKE_SESSIONS_POLICY: &str = "nhi-revoke-sessions";

/// Denies everything to sessions of `name` issued before `issued_before`: the
/// way the IAM User Guide's "Revoking IAM role temporary security credentials"
/// page gives (an inline deny on `aws:TokenIssueTime` with `DateLessThan`).
/// Deactivating an access key does not end the STS sessions minted from it:
/// they stay valid until they expire, up to 36 hours later ("Requesting
/// temporary security credentials", `GetSessionToken`). Written over any earlier
/// one: the newest revocation's time is the strictest.
pub(super) async fn revoke_sessions(
    target: &Target<'_>,
    name: &str,
    issued_before: jiff::Timestamp,
) -> Result<(), ProviderError> {
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before.to_string()}},
        }],
    })
    .to_string();
    let kind = target.kind_of(name).await?;
    let owner = object(kind, name);
    let what = format!("inline policy `{REVOKE_SESSIONS_POLICY}` of {owner}");
    match kind {
        Kind::User => target
            .iam
            .put_user_policy()
            .user_name(name)
            .policy_name(REVOKE_SESSIONS_POLICY)
            .policy_document(document)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:PutUserPolicy", &what, &err)),
        Kind::Role => target
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(REVOKE_SESSIONS_POLICY)
            .policy_document(document)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:PutRolePolicy", &what, &err)),
    }
}
