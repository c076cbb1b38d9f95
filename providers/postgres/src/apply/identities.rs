//! Login roles: created with no power beyond logging in, their owner and
//! description kept in the comment, dropped only while still in scope.

use nhi_provider_sdk::{Identity, ProviderError};
use tokio_postgres::Transaction;

use super::{execute, ident, write_record};
use crate::names::check_role_name;
use crate::record::Record;
use crate::roles;

/// `CREATE ROLE … LOGIN` with every power spelled out as absent, so server
/// defaults never decide.
pub(super) async fn create(
    tx: &Transaction<'_>,
    prefix: &str,
    identity: &Identity,
) -> Result<(), ProviderError> {
    let name = &identity.name;
    check_role_name(name).map_err(|e| ProviderError::Other(format!("role `{name}`: {e}")))?;
    if !name.starts_with(prefix) {
        return Err(ProviderError::AccessDenied(format!(
            "role `{name}` does not start with `{prefix}`, the block's `role_prefix`"
        )));
    }
    let wanted = Record::new(identity);
    if let Some(role) = roles::fetch(tx, name, false).await? {
        // A re-run after a partial failure: what exists exactly as wanted is done.
        let existing = Record::parse(role.comment.as_deref());
        let same = existing.is_some_and(|r| {
            r.owner == wanted.owner && r.description == wanted.description && r.tags == wanted.tags
        });
        if role.outside_scope(prefix).is_none() && same {
            return Ok(());
        }
        return Err(ProviderError::AlreadyExists(format!("role `{name}`")));
    }
    let sql = format!(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION \
         NOBYPASSRLS",
        ident(name)?
    );
    execute(tx, "creating the role", &format!("role `{name}`"), &sql).await?;
    write_record(tx, name, &wanted).await
}

/// Rewrites owner, description and tags, keeping the record of the password.
pub(super) async fn update(
    tx: &Transaction<'_>,
    prefix: &str,
    identity: &Identity,
) -> Result<(), ProviderError> {
    let role = roles::in_scope(tx, &identity.name, prefix, false).await?;
    let mut record = Record::new(identity);
    record.key = Record::parse(role.comment.as_deref()).and_then(|r| r.key);
    write_record(tx, &identity.name, &record).await
}

/// `DROP ROLE`, only while the role is in scope; gone is done.
pub(super) async fn delete(
    tx: &Transaction<'_>,
    prefix: &str,
    name: &str,
) -> Result<(), ProviderError> {
    match roles::in_scope(tx, name, prefix, false).await {
        Ok(_) => {}
        Err(ProviderError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(err),
    }
    let sql = format!("DROP ROLE {}", ident(name)?);
    execute(tx, "dropping the role", &format!("role `{name}`"), &sql).await
}

/// Ends the role's sessions that started before `issued_before`: a password
/// changed or removed keeps open connections open.
pub(super) async fn end_sessions(
    tx: &Transaction<'_>,
    prefix: &str,
    name: &str,
    issued_before: jiff::Timestamp,
) -> Result<(), ProviderError> {
    roles::in_scope(tx, name, prefix, false).await?;
    let object = format!("role `{name}`");
    let rows = tx
        .query(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = $1::text \
               AND backend_start < to_timestamp($2::float8) AND pid <> pg_backend_pid()",
            &[&name, &issued_before.as_duration().as_secs_f64()],
        )
        .await
        .map_err(|err| crate::db::error("ending the role's sessions", &object, &err))?;
    let left = rows.iter().filter(|r| !r.get::<_, bool>(1)).count();
    if left > 0 {
        return Err(ProviderError::AccessDenied(format!(
            "{left} session(s) of {object} could not be ended: the connecting role needs \
             superuser or membership in `pg_signal_backend`"
        )));
    }
    Ok(())
}
