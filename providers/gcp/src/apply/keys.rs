//! User-managed keys of service accounts: created, their key file delivered
//! and their name recorded on the account; deleted with their record.

use nhi_provider_sdk::settle::{gone_is_ok, settle};
use nhi_provider_sdk::{ApplyResponse, ObservedKey, ProviderError, SecretMaterial};
use zeroize::Zeroizing;

use super::identities::{get_account, patch_account};
use super::object;
use crate::error::api_error;
use crate::mapping;
use crate::secrets;
use crate::target::Target;

/// Rewrites nhi's record of key names on the service account.
async fn record_keys(
    target: &Target<'_>,
    name: &str,
    change: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
) -> Result<(), ProviderError> {
    let live = get_account(target, name).await?;
    let (text, record) = mapping::split_description(&live.description);
    let mut record = record.unwrap_or_default();
    let before = record.keys.clone();
    change(&mut record.keys);
    if record.keys == before {
        return Ok(());
    }
    let description = mapping::compose_description(&text, &record).map_err(ProviderError::Other)?;
    patch_account(target, name, &live.display_name, description).await
}

/// Creates a key and records its name. Its private key file goes to Secret
/// Manager when `secret_id` is set, else back to the engine for a local sink; it
/// goes nowhere else.
pub(super) async fn create(
    target: &Target<'_>,
    identity: &str,
    key: &str,
    secret_id: Option<&str>,
) -> Result<ApplyResponse, ProviderError> {
    // A 404 here means the account is not visible yet, and nothing was created.
    let created = settle(|| async {
        target.writes.take().await;
        target.calls.add();
        target
            .clients
            .iam
            .create_service_account_key()
            .set_name(target.settings.account_resource(identity))
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.keys.create", &object(identity), &e))
    })
    .await?;
    let id = mapping::key_id(&created.name)?.to_owned();
    // The private key file is JSON (the client has already decoded the base64).
    let secret = Zeroizing::new(
        String::from_utf8(created.private_key_data.to_vec()).map_err(|_| {
            ProviderError::Corrupt(format!(
                "the new key `{id}` of `{identity}` is not a JSON key file"
            ))
        })?,
    );
    drop(created);
    if secret.is_empty() {
        return Err(ProviderError::Corrupt(format!(
            "Google returned no private key data for the new key `{id}` of `{identity}`"
        )));
    }
    let delivered = match secret_id {
        Some(secret_id) => secrets::deliver(target, secret_id, secret.as_bytes()).await,
        None => Ok(()),
    };
    let recorded = match delivered {
        Ok(()) => {
            record_keys(target, identity, |keys| {
                keys.insert(id.clone(), key.to_owned());
            })
            .await
        }
        Err(err) => Err(err),
    };
    if let Err(err) = recorded {
        // A key nobody received, or one without a record (an unnamed key): take it
        // back rather than leave a credential behind.
        let _ = delete_by_id(target, identity, &id).await;
        return Err(err);
    }
    Ok(ApplyResponse {
        secret: secret_id.is_none().then(|| SecretMaterial {
            key_id: id.clone(),
            secret,
        }),
        new_key_id: Some(id),
    })
}

async fn delete_by_id(target: &Target<'_>, identity: &str, id: &str) -> Result<(), ProviderError> {
    target.writes.take().await;
    target.calls.add();
    target
        .clients
        .iam
        .delete_service_account_key()
        .set_name(format!(
            "{}/keys/{id}",
            target.settings.account_resource(identity)
        ))
        .send()
        .await
        .map_err(|e| {
            api_error(
                "serviceAccounts.keys.delete",
                &format!("key `{id}` of service account `{identity}`"),
                &e,
            )
        })?;
    Ok(())
}

/// The error of a rotation whose new key exists but whose old key could not be
/// deleted. A key file the engine would never deliver is useless, so a new key
/// bound for a local sink is deleted again; one already in Secret Manager stays,
/// and the error says where it is.
pub(super) async fn after_failed_rotation(
    target: &Target<'_>,
    identity: &str,
    minted: ApplyResponse,
    secret_id: Option<&str>,
    old: &str,
    err: ProviderError,
) -> ProviderError {
    let new = minted.new_key_id.unwrap_or_default();
    if let Some(secret_id) = secret_id {
        return ProviderError::Other(format!(
            "the new key `{new}` of service account `{identity}` is in secret `{secret_id}`, \
             but the old key `{old}` could not be deleted: {err}"
        ));
    }
    drop(minted.secret);
    let _ = delete_by_id(target, identity, &new).await;
    let _ = record_keys(target, identity, |keys| {
        keys.remove(&new);
    })
    .await;
    err
}

pub(super) async fn delete(
    target: &Target<'_>,
    identity: &str,
    key: &ObservedKey,
) -> Result<(), ProviderError> {
    gone_is_ok(delete_by_id(target, identity, &key.id).await)?;
    record_keys(target, identity, |keys| {
        keys.remove(&key.id);
    })
    .await
}
