//! Service accounts: created, updated (display name, description with nhi's
//! record, disabled or not), deleted.

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_iam_admin_v1::model::ServiceAccount;
use google_cloud_wkt::FieldMask;
use nhi_provider_sdk::settle::gone_is_ok;
use nhi_provider_sdk::{Identity, ProviderError};

use super::object;
use crate::error::api_error;
use crate::mapping::{self, Record};
use crate::propagation::until_visible;
use crate::target::Target;

pub(super) async fn create(target: &Target<'_>, identity: &Identity) -> Result<(), ProviderError> {
    let record = Record {
        owner: identity.owner.clone(),
        keys: std::collections::BTreeMap::new(),
    };
    let description = mapping::compose_description(&identity.description, &record)
        .map_err(ProviderError::Other)?;
    target.writes.take().await;
    target.calls.add();
    target
        .clients
        .iam
        .create_service_account()
        .set_name(target.settings.project_resource())
        .set_account_id(&identity.name)
        .set_service_account(
            ServiceAccount::new()
                .set_display_name(mapping::display_name(identity))
                .set_description(description),
        )
        .send()
        .await
        .map_err(|e| api_error("serviceAccounts.create", &object(&identity.name), &e))?;
    // What follows in this run (disabling, keys, bindings) waits for Google to
    // show the new account.
    target.session.note_created(&identity.name);
    if mapping::disabled(identity) {
        set_disabled(target, &identity.name, true).await?;
    }
    Ok(())
}

/// The live service account, for its record (key names) and state.
pub(super) async fn get_account(
    target: &Target<'_>,
    name: &str,
) -> Result<ServiceAccount, ProviderError> {
    until_visible(target, name, || async {
        target.reads.take().await;
        target.calls.add();
        target
            .clients
            .iam
            .get_service_account()
            .set_name(target.settings.account_resource(name))
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.get", &object(name), &e))
    })
    .await
}

/// Writes display name and description (with nhi's record).
pub(super) async fn patch_account(
    target: &Target<'_>,
    name: &str,
    display_name: &str,
    description: String,
) -> Result<(), ProviderError> {
    until_visible(target, name, || async {
        target.writes.take().await;
        target.calls.add();
        target
            .clients
            .iam
            .patch_service_account()
            .set_service_account(
                ServiceAccount::new()
                    .set_name(target.settings.account_resource(name))
                    .set_display_name(display_name)
                    .set_description(description.clone()),
            )
            .set_update_mask(FieldMask::default().set_paths(["display_name", "description"]))
            .with_idempotency(true)
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.patch", &object(name), &e))
    })
    .await?;
    Ok(())
}

pub(super) async fn update(target: &Target<'_>, after: &Identity) -> Result<(), ProviderError> {
    let live = get_account(target, &after.name).await?;
    let (text, record) = mapping::split_description(&live.description);
    let display_name = mapping::display_name(after);
    // Only what differs is written: retiring an account nhi never described
    // (an unmanaged one) leaves its description as it is.
    let owner_matches = record
        .as_ref()
        .map_or(after.owner.is_empty(), |r| r.owner == after.owner);
    if text != after.description || !owner_matches || display_name != live.display_name {
        let mut record = Record {
            owner: after.owner.clone(),
            keys: record.unwrap_or_default().keys,
        };
        super::keys::prune_dead_keys(target, &after.name, &mut record).await?;
        let description = mapping::compose_description(&after.description, &record)
            .map_err(ProviderError::Other)?;
        patch_account(target, &after.name, display_name, description).await?;
    }
    if mapping::disabled(after) != live.disabled {
        set_disabled(target, &after.name, mapping::disabled(after)).await?;
    }
    Ok(())
}

async fn set_disabled(
    target: &Target<'_>,
    name: &str,
    disabled: bool,
) -> Result<(), ProviderError> {
    until_visible(target, name, || switch(target, name, disabled)).await
}

async fn switch(target: &Target<'_>, name: &str, disabled: bool) -> Result<(), ProviderError> {
    target.writes.take().await;
    target.calls.add();
    let resource = target.settings.account_resource(name);
    if disabled {
        target
            .clients
            .iam
            .disable_service_account()
            .set_name(resource)
            .with_idempotency(true)
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.disable", &object(name), &e))
    } else {
        target
            .clients
            .iam
            .enable_service_account()
            .set_name(resource)
            .with_idempotency(true)
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.enable", &object(name), &e))
    }
}

pub(super) async fn delete(target: &Target<'_>, name: &str) -> Result<(), ProviderError> {
    target.writes.take().await;
    target.calls.add();
    let deleted = target
        .clients
        .iam
        .delete_service_account()
        .set_name(target.settings.account_resource(name))
        .send()
        .await
        .map(drop)
        .map_err(|e| api_error("serviceAccounts.delete", &object(name), &e));
    gone_is_ok(deleted)
}
