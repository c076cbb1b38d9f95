//! Reading a scope: the login roles in it, each with its password (as a key) and
//! its grants (memberships and privileges in the block's database, and on
//! databases), all in one read-only, repeatable-read transaction so that the
//! state is one moment's.

use std::collections::BTreeMap;

use nhi_provider_sdk::{
    Binding, Identity, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, ProviderError,
};
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::grants::{self, Object};
use crate::record::Record;
use crate::roles::{self, SCOPE_CTE};
use crate::{KIND, db, password};

/// The state of the scope of roles starting with `prefix`, and how many
/// statements it took.
pub(crate) async fn read(
    client: &mut Client,
    prefix: &str,
) -> Result<(ObservedState, u64), ProviderError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|err| db::error("starting a read", "the scope", &err))?;
    let passwords = roles::sees_passwords(&tx).await?;
    let mut identities = read_roles(&tx, prefix, passwords).await?;
    for (name, binding) in read_grants(&tx, prefix).await? {
        if let Some(identity) = identities.get_mut(&name) {
            identity.bindings.push(binding);
        }
    }
    tx.commit()
        .await
        .map_err(|err| db::error("ending a read", "the scope", &err))?;
    let identities = identities
        .into_values()
        .map(|mut identity| {
            identity.bindings.sort_by(|a, b| {
                (
                    &a.role,
                    &a.resource,
                    a.policy.as_ref().map(nhi_provider_sdk::Policy::as_str),
                )
                    .cmp(&(
                        &b.role,
                        &b.resource,
                        b.policy.as_ref().map(nhi_provider_sdk::Policy::as_str),
                    ))
            });
            identity
        })
        .collect();
    Ok((ObservedState { identities }, 7))
}

async fn read_roles(
    tx: &Transaction<'_>,
    prefix: &str,
    passwords: bool,
) -> Result<BTreeMap<String, ObservedIdentity>, ProviderError> {
    let password_column = if passwords {
        "(SELECT a.rolpassword FROM pg_authid a WHERE a.oid = r.oid)"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "{SCOPE_CTE} SELECT s.rolname, shobj_description(r.oid, 'pg_authid'), \
                COALESCE(r.rolvaliduntil <= now(), false), {password_column} \
         FROM scope s JOIN pg_roles r ON r.oid = s.oid"
    );
    let rows = tx
        .query(&sql, &[&prefix])
        .await
        .map_err(|err| db::error("reading roles", "the scope", &err))?;
    let mut identities = BTreeMap::new();
    for row in rows {
        let name: String = row.get(0);
        let comment: Option<String> = row.get(1);
        let expired: bool = row.get(2);
        let stored: Option<String> = row.get(3);
        let record = Record::parse(comment.as_deref());
        let key = observed_key(record.as_ref(), passwords, stored.as_deref(), expired);
        let (owner, description, tags) = record
            .map(|r| (r.owner, r.description, r.tags))
            .unwrap_or_default();
        identities.insert(
            name.clone(),
            ObservedIdentity {
                identity: Identity {
                    name,
                    kind: KIND.to_owned(),
                    owner,
                    description,
                    tags: tags.into(),
                    attributes: BTreeMap::new(),
                },
                keys: key.into_iter().collect(),
                bindings: Vec::new(),
            },
        );
    }
    Ok(identities)
}

/// The role's password as a key. Where the session sees stored passwords, the
/// live password decides: it carries the recorded name only if it is the
/// password nhi recorded, and a password set out of band reads as an unnamed key
/// of unknown age (the epoch), which a plan replaces. Where it does not, the
/// record is all there is to go on.
pub(crate) fn observed_key(
    record: Option<&Record>,
    passwords: bool,
    stored: Option<&str>,
    expired: bool,
) -> Option<ObservedKey> {
    let recorded = record.and_then(|r| r.key.as_ref());
    let (id, recorded) = if passwords {
        let id = password::key_id(stored?);
        let recorded = recorded.filter(|k| k.id == id);
        (id, recorded)
    } else {
        let recorded = recorded?;
        (recorded.id.clone(), Some(recorded))
    };
    Some(ObservedKey {
        id,
        name: recorded.and_then(|k| k.name.clone()),
        created: recorded.map_or(jiff::Timestamp::UNIX_EPOCH, |k| k.created),
        status: if expired {
            KeyStatus::Inactive
        } else {
            KeyStatus::Active
        },
        last_used: None,
        expires: None,
        leaked: None,
    })
}

/// Every grant held by a role in scope: memberships, privileges on databases,
/// and on schemas and tables of the connected database.
async fn read_grants(
    tx: &Transaction<'_>,
    prefix: &str,
) -> Result<Vec<(String, Binding)>, ProviderError> {
    let mut out = Vec::new();
    let memberships = format!(
        "{SCOPE_CTE} SELECT s.rolname, g.rolname::text, m.admin_option \
         FROM pg_auth_members m JOIN scope s ON s.oid = m.member \
         JOIN pg_roles g ON g.oid = m.roleid"
    );
    for row in query(tx, &memberships, prefix, "memberships").await? {
        let object = Object::Role(row.get(1));
        out.push((row.get(0), live(grants::MEMBER, &object, row.get(2))));
    }
    let privileges = [
        (
            "databases",
            "SELECT s.rolname, d.datname::text, NULL::text, a.privilege_type, a.is_grantable \
             FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a \
             JOIN scope s ON s.oid = a.grantee",
        ),
        (
            "schemas",
            "SELECT s.rolname, n.nspname::text, NULL::text, a.privilege_type, a.is_grantable \
             FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a \
             JOIN scope s ON s.oid = a.grantee",
        ),
        (
            "tables",
            "SELECT s.rolname, n.nspname::text, c.relname::text, a.privilege_type, a.is_grantable \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN scope s ON s.oid = a.grantee \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        ),
    ];
    for (what, select) in privileges {
        let sql = format!("{SCOPE_CTE} {select}");
        for row in query(tx, &sql, prefix, what).await? {
            let name: String = row.get(1);
            let object = match (what, row.get::<_, Option<String>>(2)) {
                ("databases", _) => Object::Database(name),
                ("schemas", _) => Object::Schema(name),
                (_, table) => Object::Table {
                    schema: name,
                    table: table.unwrap_or_default(),
                },
            };
            let privilege: String = row.get(3);
            out.push((row.get(0), live(&privilege, &object, row.get(4))));
        }
    }
    Ok(out)
}

async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    prefix: &str,
    what: &str,
) -> Result<Vec<tokio_postgres::Row>, ProviderError> {
    tx.query(sql, &[&prefix])
        .await
        .map_err(|err| db::error(&format!("reading {what}"), "the scope", &err))
}

/// A live grant as a binding, whatever its privilege: one nhi does not know
/// still shows, so that nothing a role holds is hidden from a reviewer.
fn live(privilege: &str, object: &Object, option: bool) -> Binding {
    Binding {
        role: privilege.to_owned(),
        resource: grants::resource(object),
        policy: option.then(|| grants::option_policy(object)),
    }
}
