//! Carrying out one operation, each in one transaction that first checks the role
//! is still in scope, so a role that became a superuser (or lost its prefix) since
//! the plan is never touched. Deleting what is already gone succeeds; creating
//! what already exists exactly as wanted succeeds.
//!
//! One module for each thing an operation changes (`identities`, `keys`,
//! `bindings`); this one dispatches and holds what they share.

mod bindings;
mod identities;
mod keys;

use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, Operation, PreflightRequest, PreflightResponse, ProviderError,
    RecordKeyRequest,
};
use tokio_postgres::{Client, Transaction};

use crate::names::quote_literal;
use crate::record::Record;
use crate::settings::Settings;
use crate::{db, names, roles};

pub(crate) async fn apply(
    client: &mut Client,
    settings: &Settings,
    request: ApplyRequest,
) -> Result<ApplyResponse, ProviderError> {
    let tx = begin(client).await?;
    let prefix = settings.role_prefix.as_str();
    let response = match &request.operation {
        Operation::CreateIdentity { identity } => {
            identities::create(&tx, prefix, identity).await?;
            ApplyResponse::default()
        }
        Operation::UpdateIdentity { after, .. } => {
            identities::update(&tx, prefix, after).await?;
            ApplyResponse::default()
        }
        Operation::ReplaceIdentity { before, after } => {
            identities::delete(&tx, prefix, &before.name).await?;
            identities::create(&tx, prefix, after).await?;
            ApplyResponse::default()
        }
        Operation::DeleteIdentity { identity } => {
            identities::delete(&tx, prefix, &identity.name).await?;
            ApplyResponse::default()
        }
        Operation::CreateKey { identity, .. } => {
            if let Some(sink) = request.sink.as_ref().filter(|s| !s.is_local()) {
                return Err(ProviderError::Unsupported(format!(
                    "the postgres provider delivers to no provider sink (`{}`); use a file",
                    serde_json::to_string(sink).unwrap_or_default()
                )));
            }
            keys::mint(&tx, settings, identity).await?
        }
        Operation::RotateKey { .. } => {
            return Err(ProviderError::Other(
                "a rotation is applied as a new key, then the deletion of the old one".to_owned(),
            ));
        }
        Operation::DeleteKey { identity, key } => {
            keys::delete(&tx, prefix, identity, &key.id).await?;
            ApplyResponse::default()
        }
        Operation::DeactivateKey { identity, key } => {
            keys::deactivate(&tx, prefix, identity, &key.id).await?;
            ApplyResponse::default()
        }
        Operation::CreateBinding { identity, binding }
        | Operation::UpdateBinding {
            identity,
            after: binding,
            ..
        } => {
            bindings::put(&tx, prefix, identity, binding).await?;
            ApplyResponse::default()
        }
        Operation::DeleteBinding { identity, binding } => {
            bindings::delete(&tx, prefix, identity, binding).await?;
            ApplyResponse::default()
        }
        Operation::RevokeSessions {
            identity,
            issued_before,
        } => {
            identities::end_sessions(&tx, prefix, identity, *issued_before).await?;
            ApplyResponse::default()
        }
    };
    commit(tx).await?;
    Ok(response)
}

/// Names the password minted for a local sink, once the engine delivered it.
pub(crate) async fn record_key(
    client: &mut Client,
    settings: &Settings,
    request: &RecordKeyRequest,
) -> Result<(), ProviderError> {
    let tx = begin(client).await?;
    keys::record(
        &tx,
        &settings.role_prefix,
        &request.identity,
        &request.key,
        &request.key_id,
    )
    .await?;
    commit(tx).await
}

/// What only the server can say before a plan is approved: a role to create
/// whose name is taken by a role outside the scope, or lies outside it.
pub(crate) async fn preflight(
    client: &mut Client,
    settings: &Settings,
    request: &PreflightRequest,
) -> Result<PreflightResponse, ProviderError> {
    let mut response = PreflightResponse::default();
    let prefix = &settings.role_prefix;
    for identity in &request.creates {
        let name = &identity.name;
        let problem = if name.starts_with(prefix.as_str()) {
            roles::fetch(client, name, false).await?.map(|role| {
                let why = role
                    .outside_scope(prefix)
                    .unwrap_or_else(|| "it is in scope".to_owned());
                format!("a role `{name}` already exists outside this block's scope: {why}")
            })
        } else {
            Some(format!(
                "`{name}` does not start with `{prefix}`, the block's `role_prefix`, so nhi \
                 would create a role it cannot see"
            ))
        };
        if let Some(problem) = problem {
            response.problems.push((name.clone(), problem));
        }
    }
    Ok(response)
}

async fn begin(client: &mut Client) -> Result<Transaction<'_>, ProviderError> {
    client
        .transaction()
        .await
        .map_err(|err| db::error("starting a change", "the scope", &err))
}

async fn commit(tx: Transaction<'_>) -> Result<(), ProviderError> {
    tx.commit()
        .await
        .map_err(|err| db::error("committing a change", "the scope", &err))
}

/// Runs one statement of SQL text built with [`names`] quoting.
pub(super) async fn execute(
    tx: &Transaction<'_>,
    what: &str,
    object: &str,
    sql: &str,
) -> Result<(), ProviderError> {
    tx.batch_execute(sql)
        .await
        .map_err(|err| db::error(what, object, &err))
}

/// Writes `record` as the comment of role `name`.
pub(super) async fn write_record(
    tx: &Transaction<'_>,
    name: &str,
    record: &Record,
) -> Result<(), ProviderError> {
    let sql = format!(
        "COMMENT ON ROLE {} IS {}",
        ident(name)?,
        quote_literal(&record.to_comment()).map_err(ProviderError::Other)?
    );
    execute(
        tx,
        "recording owner and keys",
        &format!("role `{name}`"),
        &sql,
    )
    .await
}

pub(super) fn ident(name: &str) -> Result<String, ProviderError> {
    names::quote_ident(name).map_err(|e| ProviderError::Other(format!("`{name}`: {e}")))
}
