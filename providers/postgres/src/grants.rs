//! Bindings as PostgreSQL grants: a membership in a group role
//! (`{role: member, resource: role:<group>}`) or a privilege on a database,
//! schema or table (`{role: SELECT, resource: table:<schema>.<table>}`), and the
//! SQL that grants, narrows and revokes each.

use nhi_provider_sdk::{Binding, Policy};

use crate::names::{parse_parts, quote_ident, write_part};

/// The binding role of a membership.
pub(crate) const MEMBER: &str = "member";

/// What a grant applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Object {
    /// Membership in a group role.
    Role(String),
    Database(String),
    Schema(String),
    Table {
        schema: String,
        table: String,
    },
}

/// One binding, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// `member`, or a privilege keyword of [`privileges`] for the object.
    pub(crate) privilege: &'static str,
    pub(crate) object: Object,
    /// `WITH GRANT OPTION` (privileges) or `WITH ADMIN OPTION` (memberships):
    /// read from live state, never declared; a plan takes it away.
    pub(crate) option: bool,
}

/// The privileges nhi manages on each kind of object.
fn privileges(object: &Object) -> &'static [&'static str] {
    match object {
        Object::Role(_) => &[MEMBER],
        Object::Database(_) => &["CONNECT", "CREATE", "TEMPORARY"],
        Object::Schema(_) => &["USAGE", "CREATE"],
        Object::Table { .. } => &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
        ],
    }
}

/// Built-in roles whose members read or write the server's files or run programs
/// on it: membership is as good as superuser, so nhi never grants it.
const SERVER_ACCESS_ROLES: &[&str] = &[
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

/// The policy document a live grant with its option reads with.
pub(crate) fn option_policy(object: &Object) -> Policy {
    let field = if matches!(object, Object::Role(_)) {
        "admin_option"
    } else {
        "grant_option"
    };
    Policy::from(serde_json::json!({ field: true }))
}

/// The resource text of an object, read back by [`Grant::parse`].
pub(crate) fn resource(object: &Object) -> String {
    let mut out = String::new();
    match object {
        Object::Role(name) => {
            out.push_str("role:");
            write_part(&mut out, name);
        }
        Object::Database(name) => {
            out.push_str("database:");
            write_part(&mut out, name);
        }
        Object::Schema(name) => {
            out.push_str("schema:");
            write_part(&mut out, name);
        }
        Object::Table { schema, table } => {
            out.push_str("table:");
            write_part(&mut out, schema);
            out.push('.');
            write_part(&mut out, table);
        }
    }
    out
}

impl Grant {
    /// The grant a binding names; `Err` says how to write it.
    pub(crate) fn parse(binding: &Binding) -> Result<Self, String> {
        let Some((kind, names)) = binding.resource.split_once(':') else {
            return Err(format!(
                "resource `{}` must be `role:<group>`, `database:<name>`, `schema:<name>` or \
                 `table:<schema>.<table>`",
                binding.resource
            ));
        };
        let parts = parse_parts(names)?;
        let object = match (kind, parts.as_slice()) {
            ("role", [name]) => Object::Role(name.clone()),
            ("database", [name]) => Object::Database(name.clone()),
            ("schema", [name]) => Object::Schema(name.clone()),
            ("table", [schema, table]) => Object::Table {
                schema: schema.clone(),
                table: table.clone(),
            },
            ("table", _) => {
                return Err(format!(
                    "a table is written `table:<schema>.<table>`, not `{}`",
                    binding.resource
                ));
            }
            ("role" | "database" | "schema", _) => {
                return Err(format!(
                    "`{}` names one {kind}, without `.`",
                    binding.resource
                ));
            }
            _ => {
                return Err(format!(
                    "`{kind}:` is not a kind of object nhi grants on: use `role:`, `database:`, \
                     `schema:` or `table:`"
                ));
            }
        };
        let known = privileges(&object);
        let Some(privilege) = known.iter().find(|p| **p == binding.role) else {
            let known: Vec<String> = known.iter().map(|p| format!("`{p}`")).collect();
            return Err(format!(
                "`{}` is not a privilege on `{kind}:`; use one of {}",
                binding.role,
                known.join(", ")
            ));
        };
        let option = match &binding.policy {
            None => false,
            Some(policy) if *policy == option_policy(&object) => true,
            Some(_) => {
                return Err(format!(
                    "a `{kind}:` grant takes no policy (grant and admin options are not declared)"
                ));
            }
        };
        Ok(Self {
            privilege,
            object,
            option,
        })
    }

    /// The binding this grant reads as.
    #[cfg(test)]
    pub(crate) fn binding(&self) -> Binding {
        Binding {
            role: self.privilege.to_owned(),
            resource: resource(&self.object),
            policy: self.option.then(|| option_policy(&self.object)),
        }
    }

    /// Checks what can be judged offline about declaring this grant.
    pub(crate) fn check_declared(&self) -> Result<(), String> {
        if self.option {
            return Err(
                "grant and admin options are not declared: they let the role pass its access on"
                    .to_owned(),
            );
        }
        if let Object::Role(group) = &self.object
            && SERVER_ACCESS_ROLES.contains(&group.as_str())
        {
            return Err(format!(
                "members of `{group}` reach the server's files or programs, as a superuser \
                 does: nhi never grants it"
            ));
        }
        Ok(())
    }

    /// `ON <object>` for privileges; `None` for a membership.
    fn on(&self) -> Result<Option<String>, String> {
        Ok(match &self.object {
            Object::Role(_) => None,
            Object::Database(name) => Some(format!("ON DATABASE {}", quote_ident(name)?)),
            Object::Schema(name) => Some(format!("ON SCHEMA {}", quote_ident(name)?)),
            Object::Table { schema, table } => Some(format!(
                "ON TABLE {}.{}",
                quote_ident(schema)?,
                quote_ident(table)?
            )),
        })
    }

    /// `GRANT …` to `role`, without any option.
    pub(crate) fn grant_sql(&self, role: &str) -> Result<String, String> {
        let to = quote_ident(role)?;
        Ok(match (&self.object, self.on()?) {
            (Object::Role(group), _) => format!("GRANT {} TO {to}", quote_ident(group)?),
            (_, Some(on)) => format!("GRANT {} {on} TO {to}", self.privilege),
            (_, None) => unreachable!("invariant: privileges have an object"),
        })
    }

    /// `REVOKE …` of the grant from `role`; with `only_option`, of its grant or
    /// admin option only.
    pub(crate) fn revoke_sql(&self, role: &str, only_option: bool) -> Result<String, String> {
        let from = quote_ident(role)?;
        Ok(match (&self.object, self.on()?) {
            (Object::Role(group), _) => {
                let option = if only_option { "ADMIN OPTION FOR " } else { "" };
                format!("REVOKE {option}{} FROM {from}", quote_ident(group)?)
            }
            (_, Some(on)) => {
                let option = if only_option { "GRANT OPTION FOR " } else { "" };
                format!("REVOKE {option}{} {on} FROM {from}", self.privilege)
            }
            (_, None) => unreachable!("invariant: privileges have an object"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(role: &str, resource: &str) -> Binding {
        Binding {
            role: role.into(),
            resource: resource.into(),
            policy: None,
        }
    }

    #[test]
    fn bindings_read_as_grants_and_back() {
        for (role, resource, sql) in [
            (
                "member",
                "role:app_readers",
                r#"GRANT "app_readers" TO "app_ci""#,
            ),
            (
                "SELECT",
                "table:app.orders",
                r#"GRANT SELECT ON TABLE "app"."orders" TO "app_ci""#,
            ),
            (
                "USAGE",
                r#"schema:"My ""S""""#,
                r#"GRANT USAGE ON SCHEMA "My ""S""" TO "app_ci""#,
            ),
            (
                "CONNECT",
                "database:appdb",
                r#"GRANT CONNECT ON DATABASE "appdb" TO "app_ci""#,
            ),
        ] {
            let b = binding(role, resource);
            let grant = Grant::parse(&b).unwrap();
            assert_eq!(grant.binding(), b);
            assert_eq!(grant.grant_sql("app_ci").unwrap(), sql);
            assert!(grant.check_declared().is_ok());
        }
        let grant = Grant::parse(&binding("SELECT", "table:app.orders")).unwrap();
        assert_eq!(
            grant.revoke_sql("app_ci", true).unwrap(),
            r#"REVOKE GRANT OPTION FOR SELECT ON TABLE "app"."orders" FROM "app_ci""#
        );
        let member = Grant::parse(&binding("member", "role:r")).unwrap();
        assert_eq!(
            member.revoke_sql("app_ci", false).unwrap(),
            r#"REVOKE "r" FROM "app_ci""#
        );
    }

    #[test]
    fn bad_bindings_say_how_to_write_them() {
        for (role, resource, want) in [
            ("SELECT", "orders", "must be `role:<group>`"),
            ("SELECT", "table:orders", "`table:<schema>.<table>`"),
            ("SELECT", "schema:a.b", "names one schema"),
            (
                "USAGE",
                "table:a.b",
                "`USAGE` is not a privilege on `table:`",
            ),
            ("select", "table:a.b", "not a privilege"),
            ("SELECT; DROP", "table:a.b", "not a privilege"),
            ("member", "function:f", "not a kind of object"),
            ("member", "role:a b", "not a plain name"),
        ] {
            let err = Grant::parse(&binding(role, resource)).unwrap_err();
            assert!(err.contains(want), "{role} {resource}: {err}");
        }
        let mut b = binding("SELECT", "table:a.b");
        b.policy = Some(Policy::from(serde_json::json!({"x": 1})));
        assert!(Grant::parse(&b).unwrap_err().contains("takes no policy"));
        b.policy = Some(option_policy(&Object::Schema(String::new())));
        let grant = Grant::parse(&b).unwrap();
        assert!(grant.option);
        assert!(grant.check_declared().unwrap_err().contains("not declared"));
        let server = Grant::parse(&binding("member", "role:pg_execute_server_program")).unwrap();
        assert!(server.check_declared().unwrap_err().contains("superuser"));
    }
}
