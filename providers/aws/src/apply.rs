//! Carrying out one operation with IAM calls. Deleting what is already gone
//! succeeds; creating what already exists exactly as wanted succeeds; calls that
//! follow a create ride out IAM's eventual consistency with bounded retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, Binding, Identity, Operation, ProviderError, SecretMaterial, Sink,
};
use zeroize::Zeroize as _;

use crate::error::api_error;
use crate::mapping::{self, Grant, INLINE_PREFIX, KEY_TAG_PREFIX, Kind, RawIdentity, TRUST_POLICY};
use crate::policy::normalize_policy;
use crate::secrets;
use crate::settings::Settings;
use nhi_provider_sdk::settle::{gone_is_ok, settle};

/// What an apply works with.
pub(crate) struct Ctx<'a> {
    pub(crate) iam: &'a Client,
    pub(crate) secrets: Option<&'a aws_sdk_secretsmanager::Client>,
    pub(crate) settings: &'a Settings,
    /// Kinds of identities by name, as last read or changed: bindings and keys
    /// are addressed by identity name only, and IAM calls differ by kind.
    pub(crate) kinds: &'a Mutex<HashMap<String, Kind>>,
}

pub(crate) async fn apply(
    ctx: &Ctx<'_>,
    request: ApplyRequest,
) -> Result<ApplyResponse, ProviderError> {
    let sink = request.sink.as_ref();
    match &request.operation {
        Operation::CreateIdentity { identity } => create_identity(ctx, identity).await?,
        Operation::UpdateIdentity { before, after } => update_identity(ctx, before, after).await?,
        Operation::ReplaceIdentity { before, after } => {
            delete_identity(ctx, before).await?;
            create_identity(ctx, after).await?;
        }
        Operation::DeleteIdentity { identity } => delete_identity(ctx, identity).await?,
        Operation::CreateKey { identity, key } => return mint(ctx, identity, key, sink).await,
        Operation::RotateKey { identity, key, old } => {
            let minted = mint(ctx, identity, key, sink).await?;
            if let Err(err) = delete_key(ctx, identity, &old.id).await {
                return Err(after_failed_rotation(ctx, identity, minted, sink, &old.id, err).await);
            }
            return Ok(minted);
        }
        Operation::DeleteKey { identity, key } => delete_key(ctx, identity, &key.id).await?,
        Operation::CreateBinding { identity, binding }
        | Operation::UpdateBinding {
            identity,
            after: binding,
            ..
        } => put_binding(ctx, identity, binding).await?,
        Operation::DeleteBinding { identity, binding } => {
            delete_binding(ctx, identity, binding).await?;
        }
    }
    Ok(ApplyResponse::default())
}

impl Ctx<'_> {
    fn kinds(&self) -> MutexGuard<'_, HashMap<String, Kind>> {
        // The map holds plain values; a panic elsewhere cannot leave it half-written.
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kind of identity `name`: as last seen, else asked of IAM.
    async fn kind_of(&self, name: &str) -> Result<Kind, ProviderError> {
        if let Some(kind) = self.kinds().get(name) {
            return Ok(*kind);
        }
        let object = format!("identity `{name}`");
        let kind = match self.iam.get_user().user_name(name).send().await {
            Ok(_) => Kind::User,
            Err(err) => match api_error("iam:GetUser", &object, &err) {
                ProviderError::NotFound(_) => {
                    self.iam
                        .get_role()
                        .role_name(name)
                        .send()
                        .await
                        .map_err(|err| api_error("iam:GetRole", &object, &err))?;
                    Kind::Role
                }
                other => return Err(other),
            },
        };
        self.kinds().insert(name.to_owned(), kind);
        Ok(kind)
    }
}

fn object(kind: Kind, name: &str) -> String {
    format!("{} `{name}`", kind.as_str())
}

fn tag(key: &str, value: &str) -> Result<Tag, ProviderError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|err| ProviderError::Other(format!("tag `{key}`: {err}")))
}

fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| tag(k, v)).collect()
}

async fn create_identity(ctx: &Ctx<'_>, identity: &Identity) -> Result<(), ProviderError> {
    let kind = Kind::parse(&identity.kind)?;
    let name = &identity.name;
    let object = object(kind, name);
    let tags = tag_list(&mapping::identity_tags(
        identity,
        kind,
        ctx.settings.managed_tag.as_deref(),
    )?)?;
    let boundary = mapping::permissions_boundary(identity).map(str::to_owned);
    let created = match kind {
        Kind::User => ctx
            .iam
            .create_user()
            .user_name(name)
            .path(&ctx.settings.path_prefix)
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
            ctx.iam
                .create_role()
                .role_name(name)
                .path(&ctx.settings.path_prefix)
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
            if !exists_as_wanted(ctx, kind, identity).await? {
                return Err(ProviderError::AlreadyExists(what));
            }
        }
        other => other?,
    }
    ctx.kinds().insert(name.clone(), kind);
    Ok(())
}

/// Whether an existing identity is in scope and exactly as `identity` wants it,
/// so that creating it again is done already.
async fn exists_as_wanted(
    ctx: &Ctx<'_>,
    kind: Kind,
    identity: &Identity,
) -> Result<bool, ProviderError> {
    let name = &identity.name;
    let object = object(kind, name);
    let raw = match kind {
        Kind::User => {
            let out = ctx
                .iam
                .get_user()
                .user_name(name)
                .send()
                .await
                .map_err(|err| api_error("iam:GetUser", &object, &err))?;
            let Some(user) = out.user() else {
                return Ok(false);
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
            let out = ctx
                .iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|err| api_error("iam:GetRole", &object, &err))?;
            let Some(role) = out.role() else {
                return Ok(false);
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
    if !raw.in_scope(ctx.settings) {
        return Ok(false);
    }
    let have = raw.identity(ctx.settings.managed_tag.as_deref())?;
    Ok(have == normalized(identity))
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

async fn update_identity(
    ctx: &Ctx<'_>,
    before: &Identity,
    after: &Identity,
) -> Result<(), ProviderError> {
    let kind = Kind::parse(&after.kind)?;
    let name = &after.name;
    let object = object(kind, name);
    let managed_tag = ctx.settings.managed_tag.as_deref();
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
                Kind::User => ctx
                    .iam
                    .tag_user()
                    .user_name(name)
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:TagUser", &object, &err)),
                Kind::Role => ctx
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
        untag(ctx, kind, name, unset).await?;
    }
    if kind == Kind::Role {
        if before.description != after.description {
            settle(|| async {
                ctx.iam
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
                ctx.iam
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
                    Kind::User => ctx
                        .iam
                        .put_user_permissions_boundary()
                        .user_name(name)
                        .permissions_boundary(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:PutUserPermissionsBoundary", &object, &err)),
                    Kind::Role => ctx
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
                Kind::User => ctx
                    .iam
                    .delete_user_permissions_boundary()
                    .user_name(name)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| api_error("iam:DeleteUserPermissionsBoundary", &object, &err)),
                Kind::Role => ctx
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

async fn untag(
    ctx: &Ctx<'_>,
    kind: Kind,
    name: &str,
    keys: Vec<String>,
) -> Result<(), ProviderError> {
    let object = object(kind, name);
    match kind {
        Kind::User => ctx
            .iam
            .untag_user()
            .user_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:UntagUser", &object, &err)),
        Kind::Role => ctx
            .iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:UntagRole", &object, &err)),
    }
}

/// Deletes a user or role. IAM refuses while it still holds keys, policies or
/// things nhi does not model (login profile, groups, instance profiles): the
/// plan deletes keys and bindings first, and anything else is reported.
async fn delete_identity(ctx: &Ctx<'_>, identity: &Identity) -> Result<(), ProviderError> {
    let kind = Kind::parse(&identity.kind)?;
    let name = &identity.name;
    let object = object(kind, name);
    let deleted = match kind {
        Kind::User => ctx
            .iam
            .delete_user()
            .user_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:DeleteUser", &object, &err)),
        Kind::Role => ctx
            .iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:DeleteRole", &object, &err)),
    };
    gone_is_ok(deleted)?;
    ctx.kinds().remove(name);
    Ok(())
}

/// Creates an access key named `key` for `user`, records its name in the tag
/// `nhi:key:<id>` and delivers the secret: returned for a local sink, written
/// to Secrets Manager for that sink. A key whose secret cannot be delivered is
/// deleted again, so that no key exists that nobody holds.
async fn mint(
    ctx: &Ctx<'_>,
    user: &str,
    key: &str,
    sink: Option<&Sink>,
) -> Result<ApplyResponse, ProviderError> {
    let object = object(Kind::User, user);
    let secrets_manager = match sink {
        Some(Sink::AwsSecretsManager { secret_id }) => Some((
            ctx.secrets.ok_or_else(|| {
                ProviderError::Settings(
                    "the Secrets Manager sink needs a region: set `region` in the provider \
                     block's settings or `AWS_REGION`"
                        .to_owned(),
                )
            })?,
            secret_id,
        )),
        _ => None,
    };
    let created = settle(|| async {
        ctx.iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|err| api_error("iam:CreateAccessKey", &object, &err))
    })
    .await?;
    let Some(mut access_key) = created.access_key else {
        return Err(ProviderError::Other(format!(
            "`iam:CreateAccessKey` on {object} returned no key"
        )));
    };
    let key_id = access_key.access_key_id.clone();
    let secret = secrets::secret_json(&key_id, &access_key.secret_access_key);
    access_key.secret_access_key.zeroize();

    let named = settle(|| async {
        ctx.iam
            .tag_user()
            .user_name(user)
            .tags(tag(&format!("{KEY_TAG_PREFIX}{key_id}"), key)?)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:TagUser", &object, &err))
    })
    .await;
    if let Err(err) = named {
        discard(ctx, user, &key_id).await;
        return Err(err);
    }
    if let Some((client, secret_id)) = secrets_manager {
        if let Err(err) = secrets::deliver(client, secret_id, &secret).await {
            discard(ctx, user, &key_id).await;
            return Err(err);
        }
        return Ok(ApplyResponse {
            secret: None,
            new_key_id: Some(key_id),
        });
    }
    Ok(ApplyResponse {
        secret: Some(SecretMaterial {
            key_id: key_id.clone(),
            secret,
        }),
        new_key_id: Some(key_id),
    })
}

/// The error of a rotation whose new key exists but whose old key could not be
/// deleted. A secret the engine would never receive is useless, so a new key
/// bound for a local sink is deleted again; one already in Secrets Manager stays.
async fn after_failed_rotation(
    ctx: &Ctx<'_>,
    user: &str,
    minted: ApplyResponse,
    sink: Option<&Sink>,
    old: &str,
    err: ProviderError,
) -> ProviderError {
    let new = minted.new_key_id.unwrap_or_default();
    if let Some(Sink::AwsSecretsManager { secret_id }) = sink {
        return ProviderError::Other(format!(
            "the new key `{new}` of user `{user}` is in secret `{secret_id}`, but the old key \
             `{old}` could not be deleted: {err}"
        ));
    }
    drop(minted.secret);
    discard(ctx, user, &new).await;
    err
}

/// Best-effort removal of a key nhi just created and cannot deliver.
async fn discard(ctx: &Ctx<'_>, user: &str, key_id: &str) {
    let _ = delete_key(ctx, user, key_id).await;
}

async fn delete_key(ctx: &Ctx<'_>, user: &str, key_id: &str) -> Result<(), ProviderError> {
    let object = format!("access key `{key_id}` of user `{user}`");
    gone_is_ok(
        ctx.iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:DeleteAccessKey", &object, &err)),
    )?;
    gone_is_ok(
        untag(
            ctx,
            Kind::User,
            user,
            vec![format!("{KEY_TAG_PREFIX}{key_id}")],
        )
        .await,
    )
}

async fn put_binding(
    ctx: &Ctx<'_>,
    identity: &str,
    binding: &Binding,
) -> Result<(), ProviderError> {
    let grant = mapping::grant(binding)?;
    let kind = ctx.kind_of(identity).await?;
    let owner = object(kind, identity);
    match grant {
        Grant::Managed(arn) => {
            let object = format!("{owner} or policy `{arn}`");
            settle(|| async {
                match kind {
                    Kind::User => ctx
                        .iam
                        .attach_user_policy()
                        .user_name(identity)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:AttachUserPolicy", &object, &err)),
                    Kind::Role => ctx
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
        Grant::Inline { name, document } => {
            let text = document.as_str();
            let object = format!("inline policy `{name}` of {owner}");
            settle(|| async {
                match kind {
                    Kind::User => ctx
                        .iam
                        .put_user_policy()
                        .user_name(identity)
                        .policy_name(name)
                        .policy_document(text)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:PutUserPolicy", &object, &err)),
                    Kind::Role => ctx
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

async fn delete_binding(
    ctx: &Ctx<'_>,
    identity: &str,
    binding: &Binding,
) -> Result<(), ProviderError> {
    let kind = match ctx.kind_of(identity).await {
        // No identity, no binding.
        Err(ProviderError::NotFound(_)) => return Ok(()),
        other => other?,
    };
    let owner = object(kind, identity);
    let deleted = if let Some(name) = binding.role.strip_prefix(INLINE_PREFIX) {
        let object = format!("inline policy `{name}` of {owner}");
        match kind {
            Kind::User => ctx
                .iam
                .delete_user_policy()
                .user_name(identity)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DeleteUserPolicy", &object, &err)),
            Kind::Role => ctx
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
            Kind::User => ctx
                .iam
                .detach_user_policy()
                .user_name(identity)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|err| api_error("iam:DetachUserPolicy", &object, &err)),
            Kind::Role => ctx
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
