//! Carrying out one operation with IAM calls. Deleting what is already gone
//! succeeds; creating what already exists exactly as wanted succeeds; calls that
//! follow a create ride out IAM's eventual consistency with bounded retries.
//!
//! One module for each thing an operation changes (`identities`, `keys`,
//! `bindings`, and `user_debris`, what a user holds that IAM will not delete it
//! with); this one dispatches an operation to them and holds what they
//! share: the target of an apply, object names for messages and tag calls.

mod bindings;
mod identities;
mod keys;
mod user_debris;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use nhi_provider_sdk::{ApplyRequest, ApplyResponse, Operation, ProviderError};

use crate::error::api_error;
use crate::mapping::Kind;
use crate::read::StaleKeyTags;
use crate::settings::Settings;

/// What an apply works on: the IAM account through its clients, as the block's
/// settings scope it.
pub(crate) struct Target<'a> {
    pub(crate) iam: &'a Client,
    pub(crate) secrets: Option<&'a aws_sdk_secretsmanager::Client>,
    pub(crate) settings: &'a Settings,
    /// Kinds of identities by name, as last read or changed: bindings and keys
    /// are addressed by identity name only, and IAM calls differ by kind.
    pub(crate) kinds: &'a Mutex<HashMap<String, Kind>>,
    /// Key-name tags of keys the last read did not find, by user: removed with
    /// the next key minted or deleted for that user.
    pub(crate) stale_key_tags: &'a Mutex<StaleKeyTags>,
}

pub(crate) async fn apply(
    target: &Target<'_>,
    request: ApplyRequest,
) -> Result<ApplyResponse, ProviderError> {
    let sink = request.sink.as_ref();
    match &request.operation {
        Operation::CreateIdentity { identity } => identities::create(target, identity).await?,
        Operation::UpdateIdentity { before, after } => {
            identities::update(target, before, after).await?;
        }
        Operation::ReplaceIdentity { before, after } => {
            identities::delete(target, before).await?;
            identities::create(target, after).await?;
        }
        Operation::DeleteIdentity { identity } => identities::delete(target, identity).await?,
        Operation::CreateKey { identity, key } => {
            return keys::mint(target, identity, key, sink).await;
        }
        Operation::RotateKey { .. } => {
            return Err(ProviderError::Other(
                "a rotation is applied as a new key, then the deletion of the old one".to_owned(),
            ));
        }
        Operation::DeleteKey { identity, key } => keys::delete(target, identity, &key.id).await?,
        Operation::CreateBinding { identity, binding }
        | Operation::UpdateBinding {
            identity,
            after: binding,
            ..
        } => bindings::put(target, identity, binding).await?,
        Operation::DeleteBinding { identity, binding } => {
            bindings::delete(target, identity, binding).await?;
        }
        Operation::DeactivateKey { identity, key } => {
            keys::deactivate(target, identity, &key.id).await?;
        }
        Operation::RevokeSessions {
            identity,
            issued_before,
        } => identities::revoke_sessions(target, identity, *issued_before).await?,
    }
    Ok(ApplyResponse::default())
}

/// What only IAM can say about a plan before it is approved: a name to create
/// that is taken outside the scope.
pub(crate) async fn preflight(
    target: &Target<'_>,
    request: &nhi_provider_sdk::PreflightRequest,
) -> Result<nhi_provider_sdk::PreflightResponse, ProviderError> {
    let mut response = nhi_provider_sdk::PreflightResponse::default();
    for identity in &request.creates {
        if let Some(problem) = identities::taken_outside_scope(target, identity).await? {
            response.problems.push((identity.name.clone(), problem));
        }
    }
    Ok(response)
}

/// Names an access key minted for a local sink, once the engine delivered it.
pub(crate) async fn record_key(
    target: &Target<'_>,
    request: &nhi_provider_sdk::RecordKeyRequest,
) -> Result<(), ProviderError> {
    keys::record(target, &request.identity, &request.key, &request.key_id).await
}

impl Target<'_> {
    pub(super) fn kinds(&self) -> MutexGuard<'_, HashMap<String, Kind>> {
        // The map holds plain values; a panic elsewhere cannot leave it half-written.
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the stale key-name tags of `user` found by the last read.
    pub(super) fn take_stale_key_tags(&self, user: &str) -> Vec<String> {
        self.stale_key_tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(user)
            .unwrap_or_default()
    }

    /// Gives back stale key-name tags that could not be removed, for a later try.
    pub(super) fn keep_stale_key_tags(&self, user: &str, tags: Vec<String>) {
        if tags.is_empty() {
            return;
        }
        self.stale_key_tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(user.to_owned())
            .or_default()
            .extend(tags);
    }

    /// The kind of identity `name`: as last seen, else asked of IAM.
    pub(super) async fn kind_of(&self, name: &str) -> Result<Kind, ProviderError> {
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

pub(super) fn object(kind: Kind, name: &str) -> String {
    format!("{} `{name}`", kind.as_str())
}

pub(super) fn tag(key: &str, value: &str) -> Result<Tag, ProviderError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|err| ProviderError::Other(format!("tag `{key}`: {err}")))
}

pub(super) fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| tag(k, v)).collect()
}

pub(super) async fn untag(
    target: &Target<'_>,
    kind: Kind,
    name: &str,
    keys: Vec<String>,
) -> Result<(), ProviderError> {
    let object = object(kind, name);
    match kind {
        Kind::User => target
            .iam
            .untag_user()
            .user_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:UntagUser", &object, &err)),
        Kind::Role => target
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
