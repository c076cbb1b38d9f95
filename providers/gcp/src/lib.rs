//! `nhi-provider-gcp`: the `gcp` provider, Google Cloud service accounts, their
//! user-managed keys and their project IAM policy bindings, managed through the
//! official Google Cloud Rust clients (`google-cloud-iam-admin-v1`,
//! `google-cloud-resourcemanager-v3`) with application default credentials.
//!
//! Map: [`GcpType`] validates settings, names, attributes and bindings offline
//! (`settings`, `mapping`) and connects a [`GcpProvider`] (`provider`), which
//! builds its clients on first use (`clients`), reads a project (`read`), carries
//! out operations on it (`apply`, given a `target`; `secrets` for the Secret
//! Manager sink), keeps calls inside Google's per-minute quotas (`pace`) and
//! turns client errors into provider errors (`error`).
//!
//! A block's scope is one project: every service account whose email is in the
//! project's `iam.gserviceaccount.com` domain. Google-created accounts (such as the
//! Compute Engine default account, Firebase's accounts in the project domain) and
//! service agents are never in scope.

mod apply;
mod clients;
mod deleted;
mod error;
mod limits;
mod mapping;
mod org_policy;
mod pace;
mod propagation;
mod provider;
mod quota;
mod read;
mod secrets;
mod settings;
mod target;

use std::collections::BTreeMap;

pub use provider::GcpProvider;

use nhi_provider_sdk::{
    Binding, DeclaredPart, Operation, Provider, ProviderContext, ProviderError, ProviderType, Sink,
    SinkKind, ValidateRequest, ValidateResponse,
};

/// The `gcp` provider type.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpType;

impl ProviderType for GcpType {
    fn type_name(&self) -> &'static str {
        "gcp"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[mapping::KIND]
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        settings::Settings::parse(settings).map(|_| ())
    }

    /// Two blocks overlap when they manage one project: project ids are global,
    /// so wherever each block connects, they manage the same service accounts.
    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        _base_dir: &std::path::Path,
    ) -> Option<String> {
        let a = settings::Settings::parse(settings).ok()?;
        let b = settings::Settings::parse(other).ok()?;
        (a.project == b.project).then(|| format!("both manage project `{}`", a.project))
    }

    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        for (i, identity) in request.identities.iter().enumerate() {
            response.check(i, DeclaredPart::Tags, check_tags(identity.tags));
            let Some(kind) = identity.kind else { continue };
            if let Some(name) = identity.name {
                response.check(i, DeclaredPart::Name, check_identity_name(kind, name));
            }
            if let Some(attributes) = identity.attributes {
                response.check(
                    i,
                    DeclaredPart::Attributes,
                    mapping::check_attributes(attributes),
                );
            }
            for (b, binding) in identity.bindings.iter().enumerate() {
                response.check(i, DeclaredPart::Binding(b), check_binding(binding));
            }
            if let Some(owner) = identity.owner {
                response.check(
                    i,
                    DeclaredPart::Description,
                    check_description(owner, identity.description, identity.key_names),
                );
            }
        }
        response
    }

    fn normalize_attributes(
        &self,
        _kind: &str,
        attributes: BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, serde_json::Value> {
        mapping::normalize_attributes(attributes)
    }

    fn sink_kinds(&self) -> &'static [SinkKind] {
        &[SinkKind {
            name: SECRET_MANAGER,
            description: "A secret in Google Cloud Secret Manager in the provider block's \
                          project, created if missing, else given a new version",
            settings_schema: SinkKind::secret_id_schema,
        }]
    }

    fn check_sink(&self, kind: &str, settings: &serde_json::Value) -> Result<(), String> {
        if kind == SECRET_MANAGER && SinkKind::secret_id(settings).is_some_and(is_secret_id) {
            return Ok(());
        }
        Err(
            "write `gcp_secret_manager: {secret_id: <id>}`, an id of 1 to 255 letters, \
             digits, `-` and `_` in the provider block's project"
                .to_owned(),
        )
    }

    fn normalize_policy(&self, policy: serde_json::Value) -> serde_json::Value {
        mapping::normalize_policy(policy)
    }

    fn retire_first(&self, settings: &serde_json::Value) -> Option<(String, serde_json::Value)> {
        let settings = settings::Settings::parse(settings).ok()?;
        (settings.on_delete == settings::OnDelete::DisableFirst)
            .then(|| (mapping::DISABLED.to_owned(), serde_json::Value::Bool(true)))
    }

    /// A service account has one kind here, so nothing ever replaces one: a
    /// deleted account's name stays the deleted account's for 30 days.
    fn replaces_identities(&self) -> bool {
        false
    }

    fn advice(&self, operation: &Operation) -> Option<&'static str> {
        match operation {
            Operation::DeleteIdentity { .. } => Some(
                "nhi deletes the service account's keys and role bindings first, and neither \
                 comes back: an undelete (possible for 30 days) restores the bare account only. \
                 After 30 days it is gone for good, and a new account with the same name is a \
                 different member. `on_delete: disable_first` disables it first, which is \
                 undone by enabling it",
            ),
            Operation::CreateKey { .. } | Operation::RotateKey { .. } => Some(
                "User-managed keys are discouraged: unless an organization policy sets an \
                 expiry they stay valid until deleted (years). Prefer attached service \
                 accounts, workload identity federation or short-lived impersonation tokens",
            ),
            _ => None,
        }
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Ok(Box::new(GcpProvider::new(context)?))
    }
}

/// The sink `{gcp_secret_manager: {secret_id: <id>}}`.
pub(crate) const SECRET_MANAGER: &str = "gcp_secret_manager";

/// The secret a Secret Manager sink names.
pub(crate) fn secret_manager_id(sink: &Sink) -> Option<&str> {
    sink.provider_setting(SECRET_MANAGER, "secret_id")
}

/// Secret Manager's rule for secret ids: 1 to 255 of `[A-Za-z0-9_-]`.
fn is_secret_id(id: &str) -> bool {
    (1..=255).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_identity_name(kind: &str, name: &str) -> Result<(), String> {
    if kind != mapping::KIND {
        return Err(format!(
            "kind `{kind}` is not one the gcp provider knows (`{}`)",
            mapping::KIND
        ));
    }
    mapping::check_account_id(name)?;
    if mapping::google_created(name) {
        return Err(format!(
            "`{name}` is the id of an account Firebase creates and manages itself; nhi \
             leaves Google-created accounts alone: choose another name"
        ));
    }
    Ok(())
}

fn check_binding(binding: &Binding) -> Result<(), String> {
    mapping::check_role(&binding.role)?;
    mapping::condition(binding).map(|_| ())
}

fn check_tags(tags: &nhi_provider_sdk::Tags) -> Result<(), String> {
    match tags.keys().next() {
        None => Ok(()),
        Some(key) => Err(format!(
            "Google Cloud service accounts have no labels or tags (`{key}`); use \
             `description` or `attributes.display_name`"
        )),
    }
}

/// Whether the owner, the description and the record of the named keys fit in
/// the account's description, at the record's largest: while a key rotates.
fn check_description(owner: &str, description: &str, key_names: &[&str]) -> Result<(), String> {
    // Key ids are 40 hex digits; the record holds one entry a live key. A
    // rotation is applied as a new key, recorded, then the deletion of the old
    // one, so for a moment the record holds one entry more: that of the key
    // with the longest name, the most a rotation can need.
    let rotating = key_names.iter().copied().max_by_key(|name| name.len());
    let record = mapping::Record {
        owner: owner.to_owned(),
        keys: key_names
            .iter()
            .copied()
            .chain(rotating)
            .enumerate()
            .map(|(i, name)| (format!("{i:040x}"), name.to_owned()))
            .collect(),
    };
    mapping::compose_description(description, &record)
        .map(drop)
        .map_err(|e| {
            if rotating.is_some() {
                format!("{e} (room is kept for a second key id while a key rotates)")
            } else {
                e
            }
        })
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{ProviderType, Sink};

    use super::GcpType;

    #[test]
    fn key_material_goes_to_files_stdout_or_secret_manager() {
        let ok = serde_json::json!({"secret_id": "ci-key"});
        assert_eq!(GcpType.sink_kinds()[0].name, "gcp_secret_manager");
        assert!(GcpType.check_sink("gcp_secret_manager", &ok).is_ok());
        assert!(GcpType.check_sink("aws_secrets_manager", &ok).is_err());
        let bad = serde_json::json!({"secret_id": "no/slashes"});
        assert!(GcpType.check_sink("gcp_secret_manager", &bad).is_err());
        let sink = Sink::Provider {
            kind: "gcp_secret_manager".into(),
            settings: ok,
        };
        assert_eq!(super::secret_manager_id(&sink), Some("ci-key"));
    }

    #[test]
    fn descriptions_that_leave_no_room_for_a_rotation_are_refused() {
        // 37 bytes of record for the owner (newline included), 53 for each
        // recorded key id.
        let owner = "platform@example.com";
        let fits_rotation = "d".repeat(256 - 152);
        assert!(super::check_description(owner, &fits_rotation, &["primary"]).is_ok());
        // One byte more: the key itself fits, but its rotation would not.
        let no_rotation = "d".repeat(256 - 151);
        let err = super::check_description(owner, &no_rotation, &["primary"]).unwrap_err();
        assert!(err.contains("need 257 bytes"), "{err}");
        assert!(err.contains("while a key rotates"), "{err}");
        // Without keys nothing rotates.
        assert!(super::check_description(owner, &"d".repeat(256 - 37), &[]).is_ok());
    }

    #[test]
    fn tags_are_refused_and_disable_first_retires() {
        let err = super::check_tags(&[("team".to_owned(), "a".to_owned())].into()).unwrap_err();
        assert!(err.contains("no labels"), "{err}");
        let settings = serde_json::json!({"project": "acme-prod", "on_delete": "disable_first"});
        assert_eq!(
            GcpType.retire_first(&settings),
            Some(("disabled".to_owned(), serde_json::json!(true)))
        );
        assert_eq!(
            GcpType.retire_first(&serde_json::json!({"project": "acme-prod"})),
            None
        );
    }
}
