//! Access keys of IAM users: minted, named in a user tag and their secret
//! delivered; deleted with their tag.

use nhi_provider_sdk::settle::{gone_is_ok, settle};
use nhi_provider_sdk::{ApplyResponse, ProviderError, SecretMaterial, Sink};
use zeroize::Zeroize as _;

use super::{Target, object, tag, untag};
use crate::error::api_error;
use crate::mapping::{KEY_TAG_PREFIX, Kind};
use crate::secrets;

/// Creates an access key for `user` and delivers its secret: written to Secrets
/// Manager for that sink, and then named `key` in the tag `nhi:key:<id>`; or
/// returned for a local sink, to be named by [`record`] once the engine
/// delivered it. A key whose secret cannot be delivered is deleted again, so
/// that no key exists that nobody holds.
pub(super) async fn mint(
    target: &Target<'_>,
    user: &str,
    key: &str,
    sink: Option<&Sink>,
) -> Result<ApplyResponse, ProviderError> {
    let object = object(Kind::User, user);
    let secrets_manager = match sink.and_then(crate::secrets_manager_id) {
        Some(secret_id) => Some((
            target.secrets.ok_or_else(|| {
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
        target
            .iam
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

    if let Some((client, secret_id)) = secrets_manager {
        let delivered = match secrets::deliver(client, secret_id, &secret).await {
            Ok(()) => record(target, user, key, &key_id).await,
            Err(err) => Err(err),
        };
        if let Err(err) = delivered {
            discard(target, user, &key_id).await;
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
            // `credential_process` output, also plain `AccessKeyId`/`SecretAccessKey` JSON.
            form: nhi_provider_sdk::SecretForm::CredentialFile,
        }),
        new_key_id: Some(key_id),
    })
}

/// Names access key `key_id` of `user` `key`, in the tag `nhi:key:<id>`, after
/// removing the user's tags of keys that no longer exist: IAM holds at most 50
/// tags on a user (IAM quotas, "Tags per IAM user",
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>),
/// so without this, keys deleted out of band would one day leave no room to
/// name a new one.
pub(super) async fn record(
    target: &Target<'_>,
    user: &str,
    key: &str,
    key_id: &str,
) -> Result<(), ProviderError> {
    let object = object(Kind::User, user);
    let stale: Vec<String> = target
        .take_stale_key_tags(user)
        .into_iter()
        .filter(|t| t.strip_prefix(KEY_TAG_PREFIX) != Some(key_id))
        .collect();
    let cleaned = if stale.is_empty() {
        Ok(())
    } else {
        let cleaned = gone_is_ok(untag(target, Kind::User, user, stale.clone()).await);
        if cleaned.is_err() {
            target.keep_stale_key_tags(user, stale);
        }
        cleaned
    };
    let tagged = settle(|| async {
        target
            .iam
            .tag_user()
            .user_name(user)
            .tags(tag(&format!("{KEY_TAG_PREFIX}{key_id}"), key)?)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:TagUser", &object, &err))
    })
    .await;
    match (tagged, cleaned) {
        // The stale tags are debris; failing to remove them matters only when
        // the new tag then finds no room.
        (Ok(()), _) => Ok(()),
        (Err(err), Ok(())) => Err(err),
        (Err(err), Err(cleanup)) => Err(ProviderError::Other(format!(
            "{err}; removing the tags of keys that no longer exist failed first: {cleanup}"
        ))),
    }
}

/// Best-effort removal of a key nhi just created and cannot deliver.
async fn discard(target: &Target<'_>, user: &str, key_id: &str) {
    let _ = delete(target, user, key_id).await;
}

pub(super) async fn delete(
    target: &Target<'_>,
    user: &str,
    key_id: &str,
) -> Result<(), ProviderError> {
    let object = format!("access key `{key_id}` of user `{user}`");
    gone_is_ok(
        target
            .iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:DeleteAccessKey", &object, &err)),
    )?;
    // With its own tag go the tags of keys the last read did not find.
    let stale = target.take_stale_key_tags(user);
    let own = format!("{KEY_TAG_PREFIX}{key_id}");
    let mut tags = vec![own.clone()];
    tags.extend(stale.iter().filter(|t| **t != own).cloned());
    let untagged = gone_is_ok(untag(target, Kind::User, user, tags).await);
    if untagged.is_err() {
        target.keep_stale_key_tags(user, stale);
    }
    untagged
}

/// Makes an access key of `user` unusable (`Inactive`) while keeping it, so the
/// revocation can be inspected and the key's last use still read.
pub(super) async fn deactivate(
    target: &Target<'_>,
    user: &str,
    key_id: &str,
) -> Result<(), ProviderError> {
    let object = format!("access key `{key_id}` of user `{user}`");
    target
        .iam
        .update_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .map(drop)
        .map_err(|err| api_error("iam:UpdateAccessKey", &object, &err))
}
