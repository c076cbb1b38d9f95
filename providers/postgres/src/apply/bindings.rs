//! Grants: made exactly as declared (granted, then any grant or admin option taken
//! away), revoked and then checked, since PostgreSQL's `REVOKE` silently leaves
//! grants made by other grantors in place.

use nhi_provider_sdk::{Binding, ProviderError};
use tokio_postgres::Transaction;

use super::execute;
use crate::grants::{Grant, Object};
use crate::{db, roles};

fn parse(binding: &Binding) -> Result<Grant, ProviderError> {
    Grant::parse(binding).map_err(|e| {
        ProviderError::Other(format!(
            "binding `{}` on `{}`: {e}",
            binding.role, binding.resource
        ))
    })
}

pub(super) async fn put(
    tx: &Transaction<'_>,
    prefix: &str,
    identity: &str,
    binding: &Binding,
) -> Result<(), ProviderError> {
    let grant = parse(binding)?;
    grant
        .check_declared()
        .map_err(|e| ProviderError::AccessDenied(format!("binding `{}`: {e}", binding.resource)))?;
    roles::in_scope(tx, identity, prefix, false).await?;
    if let Object::Role(group) = &grant.object {
        let Some(role) = roles::fetch(tx, group, false).await? else {
            return Err(ProviderError::NotFound(format!("role `{group}`")));
        };
        // A member may `SET ROLE` to its group, and so use every power it has.
        if !role.powers.is_empty() {
            return Err(ProviderError::AccessDenied(format!(
                "role `{group}` has {}: its members could `SET ROLE` to it, so nhi never \
                 grants it",
                role.powers.join(", ")
            )));
        }
    }
    let object = format!("role `{identity}`");
    let what = format!("granting `{}` on `{}`", binding.role, binding.resource);
    execute(tx, &what, &object, &sql(grant.grant_sql(identity))?).await?;
    execute(tx, &what, &object, &sql(grant.revoke_sql(identity, true))?).await
}

pub(super) async fn delete(
    tx: &Transaction<'_>,
    prefix: &str,
    identity: &str,
    binding: &Binding,
) -> Result<(), ProviderError> {
    let grant = parse(binding)?;
    match roles::in_scope(tx, identity, prefix, false).await {
        Ok(_) => {}
        Err(ProviderError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(err),
    }
    let object = format!("role `{identity}`");
    let what = format!("revoking `{}` on `{}`", binding.role, binding.resource);
    match execute(tx, &what, &object, &sql(grant.revoke_sql(identity, false))?).await {
        // The object is gone, and the grant with it.
        Err(ProviderError::NotFound(_)) => return Ok(()),
        other => other?,
    }
    if holds(tx, identity, &grant).await? {
        return Err(ProviderError::AccessDenied(format!(
            "{what} from {object}: the grant is still there, made by another grantor; \
             revoke it as that role (or a superuser) by hand"
        )));
    }
    Ok(())
}

fn sql(text: Result<String, String>) -> Result<String, ProviderError> {
    text.map_err(ProviderError::Other)
}

/// Whether `role` still holds `grant`, from any grantor.
async fn holds(tx: &Transaction<'_>, role: &str, grant: &Grant) -> Result<bool, ProviderError> {
    let (sql, args): (&str, Vec<&str>) = match &grant.object {
        Object::Role(group) => (
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members m \
             JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid \
             WHERE u.rolname = $1::text AND g.rolname = $2::text AND $3::text = $3::text)",
            vec![role, group, grant.privilege],
        ),
        Object::Database(name) => (
            "SELECT EXISTS (SELECT 1 FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a \
             JOIN pg_roles u ON u.oid = a.grantee \
             WHERE u.rolname = $1::text AND d.datname = $2::text AND a.privilege_type = $3::text)",
            vec![role, name, grant.privilege],
        ),
        Object::Schema(name) => (
            "SELECT EXISTS (SELECT 1 FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a \
             JOIN pg_roles u ON u.oid = a.grantee \
             WHERE u.rolname = $1::text AND n.nspname = $2::text AND a.privilege_type = $3::text)",
            vec![role, name, grant.privilege],
        ),
        Object::Table { schema, table } => (
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles u ON u.oid = a.grantee \
             WHERE u.rolname = $1::text AND n.nspname = $2::text AND c.relname = $4::text \
               AND a.privilege_type = $3::text)",
            vec![role, schema, grant.privilege, table],
        ),
    };
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let row = tx
        .query_one(sql, &params)
        .await
        .map_err(|err| db::error("checking the grant", &format!("role `{role}`"), &err))?;
    Ok(row.get(0))
}
