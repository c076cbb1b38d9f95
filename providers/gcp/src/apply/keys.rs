//! User-managed keys of service accounts: created, their key file delivered
//! and their name recorded on the account; deleted with their record.

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_iam_admin_v1::model::list_service_account_keys_request::KeyType;
use nhi_provider_sdk::settle::gone_is_ok;
use nhi_provider_sdk::{ApplyResponse, ObservedKey, ProviderError, SecretMaterial};
use zeroize::Zeroizing;

use super::identities::{get_account, patch_account};
use super::object;
use crate::error::{api_error, violated_constraint};
use crate::mapping;
use crate::propagation::until_visible;
use crate::secrets;
use crate::target::Target;

/// Rewrites nhi's record of key names on the service account: ids of keys that
/// no longer exist are dropped first, then `change` is made.
async fn record_keys(
    target: &Target<'_>,
    name: &str,
    change: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
) -> Result<(), ProviderError> {
    let live = get_account(target, name).await?;
    let (text, record) = mapping::split_description(&live.description);
    let mut record = record.unwrap_or_default();
    let before = record.keys.clone();
    prune_dead_keys(target, name, &mut record).await?;
    change(&mut record.keys);
    if record.keys == before {
        return Ok(());
    }
    let description = mapping::compose_description(&text, &record).map_err(ProviderError::Other)?;
    patch_account(target, name, &live.display_name, description).await
}

/// Drops from `record` the ids of keys the account no longer has (deleted out
/// of band, or expired and removed by Google), so they never take room in the
/// 256-byte description. Without this, two keys deleted by hand leave no room
/// for the next key's id and every key creation fails from then on.
pub(super) async fn prune_dead_keys(
    target: &Target<'_>,
    name: &str,
    record: &mut mapping::Record,
) -> Result<(), ProviderError> {
    if record.keys.is_empty() {
        return Ok(());
    }
    let listed = until_visible(target, name, || async {
        target.reads.take().await;
        target.calls.add();
        target
            .clients
            .iam
            .list_service_account_keys()
            .set_name(target.settings.account_resource(name))
            .set_key_types([KeyType::UserManaged])
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.keys.list", &object(name), &e))
    })
    .await?;
    let mut live = std::collections::BTreeSet::new();
    for key in &listed.keys {
        live.insert(mapping::key_id(&key.name)?.to_owned());
    }
    record
        .keys
        .retain(|id, _| live.contains(id) || target.session.was_minted(id));
    Ok(())
}

/// Creates a key. Its private key file goes to Secret Manager when `secret_id`
/// is set, and the key's name is recorded once it is there; else the file goes
/// back to the engine for a local sink and the name is recorded by [`record`]
/// once the engine delivered it. It goes nowhere else.
pub(super) async fn create(
    target: &Target<'_>,
    identity: &str,
    key: &str,
    secret_id: Option<&str>,
) -> Result<ApplyResponse, ProviderError> {
    // A secret that is not this identity's is refused before anything exists.
    if let Some(secret_id) = secret_id {
        secrets::check(target, secret_id, identity).await?;
    }
    // A 404 here means the account is not visible yet, and nothing was created.
    let created = until_visible(target, identity, || async {
        target.writes.take().await;
        target.calls.add();
        target
            .clients
            .iam
            .create_service_account_key()
            .set_name(target.settings.account_resource(identity))
            .send()
            .await
            .map_err(|e| match violated_constraint(&e) {
                Some(constraint) => ProviderError::Other(format!(
                    "Google refused a new key for {}: the organization policy constraint \
                     `{constraint}` is enforced on project `{}` (FAILED_PRECONDITION); plan \
                     again to see it before approval, and use keyless access or ask for an \
                     exception",
                    object(identity),
                    target.settings.project
                )),
                None => api_error("serviceAccounts.keys.create", &object(identity), &e),
            })
    })
    .await?;
    let id = mapping::key_id(&created.name)?.to_owned();
    target.session.note_minted(&id);
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
    let Some(secret_id) = secret_id else {
        return Ok(ApplyResponse {
            secret: Some(SecretMaterial {
                key_id: id.clone(),
                secret,
                // The key file Google's clients read (`GOOGLE_APPLICATION_CREDENTIALS`).
                form: nhi_provider_sdk::SecretForm::CredentialFile,
            }),
            new_key_id: Some(id),
        });
    };
    let delivered = secrets::deliver(target, secret_id, identity, secret.as_bytes()).await;
    let recorded = match delivered {
        Ok(()) => record(target, identity, key, &id).await,
        Err(err) => Err(err),
    };
    if let Err(err) = recorded {
        // A key nobody received, or one without a record (an unnamed key): take it
        // back rather than leave a credential behind.
        let _ = delete_by_id(target, identity, &id).await;
        return Err(err);
    }
    Ok(ApplyResponse {
        secret: None,
        new_key_id: Some(id),
    })
}

/// Records key `id` of `identity` under the name `key`.
pub(super) async fn record(
    target: &Target<'_>,
    identity: &str,
    key: &str,
    id: &str,
) -> Result<(), ProviderError> {
    record_keys(target, identity, |keys| {
        keys.insert(id.to_owned(), key.to_owned());
    })
    .await
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

/// Disables a key of `identity` (`keys:disable`): it authenticates nothing
/// from now on, and stays for the record; disabling a disabled key succeeds.
pub(super) async fn disable(
    target: &Target<'_>,
    identity: &str,
    key: &ObservedKey,
) -> Result<(), ProviderError> {
    target.writes.take().await;
    target.calls.add();
    target
        .clients
        .iam
        .disable_service_account_key()
        .set_name(format!(
            "{}/keys/{}",
            target.settings.account_resource(identity),
            key.id
        ))
        .with_idempotency(true)
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            api_error(
                "serviceAccounts.keys.disable",
                &format!("key `{}` of service account `{identity}`", key.id),
                &e,
            )
        })
}
