//! Carrying out one operation. Every write is paced within the write quota.
//!
//! One module for each thing an operation changes (`identities`, `keys`,
//! `bindings`, which change the project's policy through `iam_policy`); this one
//! dispatches an operation to them.

mod bindings;
mod iam_policy;
mod identities;
mod keys;

use nhi_provider_sdk::{ApplyRequest, ApplyResponse, Operation, ProviderError, RecordKeyRequest};

use crate::mapping;
use crate::target::Target;

pub(crate) async fn apply(
    target: &Target<'_>,
    request: ApplyRequest,
) -> Result<ApplyResponse, ProviderError> {
    let secret_id = match &request.sink {
        None => None,
        Some(sink) if sink.is_local() => None,
        Some(sink) => match crate::secret_manager_id(sink) {
            Some(secret_id) => Some(secret_id),
            None => {
                return Err(ProviderError::Other(format!(
                    "the gcp provider cannot deliver key material to {sink:?}; use a file or \
                     `gcp_secret_manager` sink"
                )));
            }
        },
    };
    match request.operation {
        Operation::CreateIdentity { identity } => {
            // First, so that a failure leaves nothing created and a re-run
            // converges.
            bindings::remove_leftovers(target, &identity.name).await?;
            identities::create(target, &identity).await?;
            Ok(ApplyResponse::default())
        }
        Operation::UpdateIdentity { after, .. } => {
            identities::update(target, &after).await?;
            Ok(ApplyResponse::default())
        }
        Operation::ReplaceIdentity { after, .. } => Err(ProviderError::Other(format!(
            "service account `{}` cannot change kind: the gcp provider has one kind, `{}`",
            after.name,
            mapping::KIND
        ))),
        Operation::DeleteIdentity { identity } => {
            identities::delete(target, &identity.name).await?;
            Ok(ApplyResponse::default())
        }
        Operation::CreateKey { identity, key } => {
            keys::create(target, &identity, &key, secret_id).await
        }
        Operation::RotateKey { .. } => Err(ProviderError::Other(
            "a rotation is applied as a new key, then the deletion of the old one".to_owned(),
        )),
        Operation::DeleteKey { identity, key } => {
            keys::delete(target, &identity, &key).await?;
            Ok(ApplyResponse::default())
        }
        Operation::CreateBinding { identity, binding } => {
            bindings::change_member(target, &identity, None, Some(&binding)).await?;
            Ok(ApplyResponse::default())
        }
        Operation::UpdateBinding {
            identity,
            before,
            after,
        } => {
            bindings::change_member(target, &identity, Some(&before), Some(&after)).await?;
            Ok(ApplyResponse::default())
        }
        Operation::DeleteBinding { identity, binding } => {
            bindings::change_member(target, &identity, Some(&binding), None).await?;
            Ok(ApplyResponse::default())
        }
        Operation::DeactivateKey { identity, key } => {
            keys::disable(target, &identity, &key).await?;
            Ok(ApplyResponse::default())
        }
        Operation::RevokeSessions { identity, .. } => Err(ProviderError::Unsupported(format!(
            "{} has no sessions to revoke: gcp tokens are minted from its keys",
            object(&identity)
        ))),
    }
}

pub(super) fn object(name: &str) -> String {
    format!("service account `{name}`")
}

/// Names a key minted for a local sink, once the engine delivered its file.
pub(crate) async fn record_key(
    target: &Target<'_>,
    request: &RecordKeyRequest,
) -> Result<(), ProviderError> {
    keys::record(target, &request.identity, &request.key, &request.key_id).await
}
