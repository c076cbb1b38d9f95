//! Passwords as keys: minted (a new password replaces the old one at once, so a
//! rotation never leaves the role without one), named once delivered, removed
//! (`PASSWORD NULL`) or made unusable (`VALID UNTIL '-infinity'`) only while the
//! live password is still the key the plan names.

use nhi_provider_sdk::{ApplyResponse, ProviderError, SecretForm, SecretMaterial};
use tokio_postgres::Transaction;

use super::{execute, ident, write_record};
use crate::names::quote_literal;
use crate::record::{KeyRecord, Record};
use crate::settings::Settings;
use crate::{password, roles};

/// Sets a new password on `name`, sent as its SCRAM verifier, and records its
/// key id without a name: the engine delivers the secret, then names it.
pub(super) async fn mint(
    tx: &Transaction<'_>,
    settings: &Settings,
    name: &str,
) -> Result<ApplyResponse, ProviderError> {
    let passwords = roles::sees_passwords(tx).await?;
    let role = roles::in_scope(tx, name, &settings.role_prefix, passwords).await?;
    let new = password::generate().map_err(ProviderError::Other)?;
    let key_id = password::key_id(&new.verifier);
    let now = jiff::Timestamp::now();
    let valid_until = match settings.password_valid_days {
        None => "infinity".to_owned(),
        Some(days) => {
            let hours = i64::try_from(days * 24).expect("invariant: at most 36,500 days");
            now.checked_add(jiff::SignedDuration::from_hours(hours))
                .map_err(|err| ProviderError::Other(format!("`password_valid_days`: {err}")))?
                .to_string()
        }
    };
    let sql = format!(
        "ALTER ROLE {} PASSWORD {} VALID UNTIL {}",
        ident(name)?,
        quote_literal(&new.verifier).map_err(ProviderError::Other)?,
        quote_literal(&valid_until).map_err(ProviderError::Other)?
    );
    execute(
        tx,
        "setting a new password",
        &format!("role `{name}`"),
        &sql,
    )
    .await?;
    let mut record = Record::parse(role.comment.as_deref()).unwrap_or_else(|| Record {
        v: 1,
        ..Record::default()
    });
    record.key = Some(KeyRecord {
        id: key_id.clone(),
        created: now,
        name: None,
    });
    write_record(tx, name, &record).await?;
    Ok(ApplyResponse {
        secret: Some(SecretMaterial {
            key_id: key_id.clone(),
            secret: new.secret,
            form: SecretForm::Opaque,
        }),
        new_key_id: Some(key_id),
    })
}

/// Names the password `key_id` of `name` `key`, if it is still the role's.
pub(super) async fn record(
    tx: &Transaction<'_>,
    prefix: &str,
    name: &str,
    key: &str,
    key_id: &str,
) -> Result<(), ProviderError> {
    let passwords = roles::sees_passwords(tx).await?;
    let role = roles::in_scope(tx, name, prefix, passwords).await?;
    let mut record = Record::parse(role.comment.as_deref()).unwrap_or_default();
    let live = live_key_id(&role, &record, passwords);
    match &mut record.key {
        Some(k) if k.id == key_id && live.as_deref() == Some(key_id) => {
            k.name = Some(key.to_owned());
        }
        _ => {
            return Err(ProviderError::NotFound(format!(
                "password `{key_id}` of role `{name}` (it was changed since it was set)"
            )));
        }
    }
    write_record(tx, name, &record).await
}

/// The key id of the role's live password: from the stored verifier where the
/// session sees it, else from the record.
fn live_key_id(role: &roles::Role, record: &Record, passwords: bool) -> Option<String> {
    if passwords {
        role.password.as_deref().map(password::key_id)
    } else {
        record.key.as_ref().map(|k| k.id.clone())
    }
}

/// Removes the password if it is still key `key_id`; another password (a newer
/// key, or one set out of band) is left alone, and the key counts as gone.
pub(super) async fn delete(
    tx: &Transaction<'_>,
    prefix: &str,
    name: &str,
    key_id: &str,
) -> Result<(), ProviderError> {
    let passwords = roles::sees_passwords(tx).await?;
    let role = match roles::in_scope(tx, name, prefix, passwords).await {
        Ok(role) => role,
        Err(ProviderError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut record = Record::parse(role.comment.as_deref());
    let live = live_key_id(
        &role,
        record.as_ref().unwrap_or(&Record::default()),
        passwords,
    );
    if live.as_deref() != Some(key_id) {
        return Ok(());
    }
    let sql = format!("ALTER ROLE {} PASSWORD NULL", ident(name)?);
    execute(tx, "removing the password", &format!("role `{name}`"), &sql).await?;
    if let Some(record) = &mut record {
        record.key = None;
        write_record(tx, name, record).await?;
    }
    Ok(())
}

/// Makes password `key_id` unusable while keeping it: `VALID UNTIL '-infinity'`.
pub(super) async fn deactivate(
    tx: &Transaction<'_>,
    prefix: &str,
    name: &str,
    key_id: &str,
) -> Result<(), ProviderError> {
    let passwords = roles::sees_passwords(tx).await?;
    let role = roles::in_scope(tx, name, prefix, passwords).await?;
    let record = Record::parse(role.comment.as_deref()).unwrap_or_default();
    if live_key_id(&role, &record, passwords).as_deref() != Some(key_id) {
        return Err(ProviderError::NotFound(format!(
            "password `{key_id}` of role `{name}`"
        )));
    }
    let sql = format!("ALTER ROLE {} VALID UNTIL '-infinity'", ident(name)?);
    execute(
        tx,
        "deactivating the password",
        &format!("role `{name}`"),
        &sql,
    )
    .await
}
