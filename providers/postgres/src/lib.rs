//! `nhi-provider-postgres`: the `postgres` provider. Database login roles are
//! identities, each role's password is its one key, and its memberships and
//! privileges are its bindings; a block manages the login roles whose names start
//! with its `role_prefix`. Served in-process or as a plugin (the
//! `nhi-provider-postgres` binary).
//!
//! Map: [`PostgresType`] checks settings (`settings`), names (`names`) and grants
//! (`grants`) offline and connects a [`PostgresProvider`] (`provider`), which
//! opens connections (`db`), decides which roles are in scope (`roles`), reads
//! them (`read`), keeps owner and key names in each role's comment (`record`),
//! mints passwords (`password`), carries out operations (`apply`) and takes the
//! scope lock (`lock`, an advisory lock).

mod apply;
mod db;
mod grants;
mod lock;
mod names;
mod password;
mod provider;
mod read;
mod record;
mod roles;
mod settings;

pub use provider::PostgresProvider;

use nhi_provider_sdk::{
    DeclaredPart, Operation, Provider, ProviderContext, ProviderError, ProviderType,
    ValidateRequest, ValidateResponse,
};

/// The one identity kind: a role that can log in.
pub(crate) const KIND: &str = "login_role";

/// The most characters in a key name, recorded in the role's comment.
const MAX_KEY_NAME: usize = 64;

/// The `postgres` provider type.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresType;

impl ProviderType for PostgresType {
    fn type_name(&self) -> &'static str {
        "postgres"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[KIND]
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        settings::Settings::parse(settings).map(|_| ())
    }

    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        for (i, identity) in request.identities.iter().enumerate() {
            if let Some(name) = identity.name {
                response.check(i, DeclaredPart::Name, names::check_role_name(name));
            }
            response.check(i, DeclaredPart::Name, check_keys(identity.key_names));
            if identity.attributes.is_some_and(|a| !a.is_empty()) {
                response.check(
                    i,
                    DeclaredPart::Attributes,
                    Err("`postgres` login roles have no attributes".to_owned()),
                );
            }
            let mut seen = Vec::new();
            for (b, binding) in identity.bindings.iter().enumerate() {
                let check = grants::Grant::parse(binding).and_then(|grant| {
                    grant.check_declared()?;
                    // `(role, resource)` names a binding; two spellings of one
                    // object (quoted and plain) would be one grant.
                    let object = grant.object.clone();
                    if seen.contains(&(grant.privilege, object.clone())) {
                        return Err(format!(
                            "`{}` on `{}` is declared twice",
                            binding.role, binding.resource
                        ));
                    }
                    seen.push((grant.privilege, object));
                    Ok(())
                });
                response.check(i, DeclaredPart::Binding(b), check);
            }
            if let Some(owner) = identity.owner {
                let record = record::Record {
                    v: 1,
                    owner: owner.to_owned(),
                    description: identity.description.to_owned(),
                    tags: identity
                        .tags
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    key: None,
                };
                response.check(i, DeclaredPart::Description, record.check_size());
            }
        }
        response
    }

    /// A new password replaces the old one at once: a rotation sets the new one
    /// (the old key is then gone, and its deletion changes nothing), so the role
    /// is never without a password. At most one key is declared (`validate`).
    fn key_slots(&self) -> Option<usize> {
        None
    }

    fn advice(&self, operation: &Operation) -> Option<&'static str> {
        match operation {
            Operation::DeleteIdentity { .. } => Some(
                "`DROP ROLE` fails while the role owns objects or holds privileges nhi does not \
                 manage (functions, sequences, columns, other databases); its open sessions \
                 stay open until they end",
            ),
            Operation::DeleteKey { .. } => Some(
                "removing a password does not end the role's open sessions; `nhi revoke` \
                 ends them",
            ),
            _ => None,
        }
    }

    /// Blocks on the same server overlap when one prefix starts with the other:
    /// roles belong to the whole cluster, whichever database a block connects to.
    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        _base_dir: &std::path::Path,
    ) -> Option<String> {
        let a = settings::Settings::parse(settings).ok()?;
        let b = settings::Settings::parse(other).ok()?;
        if a.host != b.host || a.port != b.port {
            return None;
        }
        let (long, short) = if a.role_prefix.len() >= b.role_prefix.len() {
            (&a.role_prefix, &b.role_prefix)
        } else {
            (&b.role_prefix, &a.role_prefix)
        };
        long.starts_with(short.as_str())
            .then(|| format!("role prefix `{long}` lies within `{short}` on the same server"))
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Ok(Box::new(PostgresProvider::new(context)?))
    }
}

/// A role has one password: at most one key, with a name that fits its record.
fn check_keys(keys: &[&str]) -> Result<(), String> {
    if keys.len() > 1 {
        return Err(format!(
            "a PostgreSQL role has one password, so at most one key, not {}",
            keys.len()
        ));
    }
    if let Some(key) = keys.iter().find(|k| k.chars().count() > MAX_KEY_NAME) {
        return Err(format!(
            "key name `{key}` is longer than {MAX_KEY_NAME} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{Binding, DeclaredIdentity, Tags};
    use serde_json::json;

    use super::*;

    fn problems(
        name: &str,
        keys: &[&str],
        bindings: &[Binding],
        description: &str,
    ) -> Vec<(DeclaredPart, String)> {
        let tags = Tags::default();
        let identity = DeclaredIdentity {
            kind: Some(KIND),
            name: Some(name),
            owner: Some("team"),
            description,
            tags: &tags,
            attributes: None,
            key_names: keys,
            bindings,
        };
        PostgresType
            .validate(&ValidateRequest {
                identities: &[identity],
            })
            .problems
            .into_iter()
            .map(|p| (p.part, p.reason))
            .collect()
    }

    fn binding(role: &str, resource: &str) -> Binding {
        Binding {
            role: role.into(),
            resource: resource.into(),
            policy: None,
        }
    }

    #[test]
    fn declared_roles_are_checked_offline() {
        assert!(
            problems(
                "app_ci",
                &["primary"],
                &[binding("SELECT", "table:app.t")],
                ""
            )
            .is_empty()
        );
        let got = problems("App CI", &["a", "b"], &[], "");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].1.contains("lowercase letters"), "{got:?}");
        assert!(got[1].1.contains("one password"), "{got:?}");
        let got = problems(
            "app_ci",
            &[],
            &[
                binding("SELECT", "table:app.t"),
                binding("SELECT", "table:\"app\".t"),
                binding("member", "role:pg_write_server_files"),
            ],
            "",
        );
        assert!(
            matches!(got.as_slice(), [(DeclaredPart::Binding(1), a), (DeclaredPart::Binding(2), b)]
                if a.contains("declared twice") && b.contains("superuser")),
            "{got:?}"
        );
        let got = problems("app_ci", &[], &[], &"d".repeat(20_000));
        assert!(
            matches!(got.as_slice(), [(DeclaredPart::Description, r)] if r.contains("at most")),
            "{got:?}"
        );
    }

    #[test]
    fn prefixes_overlap_on_one_server() {
        let s = |prefix: &str, port: u16| json!({"database": "a", "user": "n", "role_prefix": prefix, "port": port});
        let base = std::path::Path::new(".");
        assert!(
            PostgresType
                .scopes_overlap(&s("app_", 5432), &s("app_ci_", 5432), base)
                .is_some()
        );
        assert!(
            PostgresType
                .scopes_overlap(&s("app_", 5432), &s("ops_", 5432), base)
                .is_none()
        );
        assert!(
            PostgresType
                .scopes_overlap(&s("app_", 5432), &s("app_", 5433), base)
                .is_none()
        );
    }
}
