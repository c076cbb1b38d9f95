//! Which roles are in a block's scope, and one role as the catalog has it. The
//! scope is login roles whose names start with the block's prefix and that hold
//! none of PostgreSQL's powers beyond logging in (superuser, `CREATEROLE`,
//! `CREATEDB`, `REPLICATION`, `BYPASSRLS`); built-in roles (`pg_*`, the
//! bootstrap superuser) never are.

use tokio_postgres::GenericClient;

use nhi_provider_sdk::ProviderError;

use crate::db;

/// The roles in scope as a CTE named `scope` (`oid`, `rolname`), for prefix `$1`.
pub(crate) const SCOPE_CTE: &str = "WITH scope AS (
    SELECT oid, rolname::text AS rolname FROM pg_roles
    WHERE rolcanlogin AND NOT rolsuper AND NOT rolcreaterole AND NOT rolcreatedb
      AND NOT rolreplication AND NOT rolbypassrls
      AND starts_with(rolname::text, $1::text)
      AND rolname::text NOT LIKE 'pg\\_%' AND oid <> 10
)";

/// One role as the catalog has it.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) powers: Vec<&'static str>,
    pub(crate) can_login: bool,
    pub(crate) builtin: bool,
    pub(crate) comment: Option<String>,
    /// The stored password (a verifier), when the session may read `pg_authid`.
    pub(crate) password: Option<String>,
}

impl Role {
    /// Why this role is not in scope for `prefix`; `None` when it is.
    pub(crate) fn outside_scope(&self, prefix: &str) -> Option<String> {
        if self.builtin {
            return Some("it is one of PostgreSQL's own roles".to_owned());
        }
        if !self.name.starts_with(prefix) {
            return Some(format!("its name does not start with `{prefix}`"));
        }
        if !self.powers.is_empty() {
            return Some(format!("it has {}", self.powers.join(", ")));
        }
        if !self.can_login {
            return Some("it is not a login role (`NOLOGIN`)".to_owned());
        }
        None
    }
}

/// Whether this session can read stored passwords (`pg_authid`): a superuser's
/// can, and then passwords set out of band show as keys nhi did not mint.
pub(crate) async fn sees_passwords(client: &impl GenericClient) -> Result<bool, ProviderError> {
    let row = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|err| db::error("reading the session's role", "the session", &err))?;
    Ok(row.get(0))
}

/// Role `name`, if it exists; with its stored password when `passwords`.
pub(crate) async fn fetch(
    client: &impl GenericClient,
    name: &str,
    passwords: bool,
) -> Result<Option<Role>, ProviderError> {
    let object = format!("role `{name}`");
    let row = client
        .query_opt(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, \
                    rolbypassrls, (rolname::text LIKE 'pg\\_%' OR oid = 10), \
                    shobj_description(oid, 'pg_authid') \
             FROM pg_roles WHERE rolname = $1::text",
            &[&name],
        )
        .await
        .map_err(|err| db::error("reading the role", &object, &err))?;
    let Some(row) = row else { return Ok(None) };
    let mut powers = Vec::new();
    for (i, power) in [
        (1, "SUPERUSER"),
        (2, "CREATEROLE"),
        (3, "CREATEDB"),
        (4, "REPLICATION"),
        (5, "BYPASSRLS"),
    ] {
        if row.get::<_, bool>(i) {
            powers.push(power);
        }
    }
    let password = if passwords {
        client
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1::text",
                &[&name],
            )
            .await
            .map_err(|err| db::error("reading the role's password", &object, &err))?
            .get(0)
    } else {
        None
    };
    Ok(Some(Role {
        name: name.to_owned(),
        powers,
        can_login: row.get(0),
        builtin: row.get(6),
        comment: row.get(7),
        password,
    }))
}

/// Role `name` if it is in scope; otherwise why not, as an error that changes
/// nothing.
pub(crate) async fn in_scope(
    client: &impl GenericClient,
    name: &str,
    prefix: &str,
    passwords: bool,
) -> Result<Role, ProviderError> {
    let role = fetch(client, name, passwords)
        .await?
        .ok_or_else(|| ProviderError::NotFound(format!("role `{name}`")))?;
    if let Some(why) = role.outside_scope(prefix) {
        return Err(ProviderError::AccessDenied(format!(
            "role `{name}` is outside this block's scope: {why}; nhi does not change it"
        )));
    }
    Ok(role)
}
