//! `nhi-provider-aws`: the `aws` provider, IAM users and roles managed through the
//! official AWS SDK (`aws-sdk-iam`, plus `aws-sdk-secretsmanager` for the Secrets
//! Manager sink), with the standard credential chain and endpoint conventions.
//!
//! Map: [`AwsType`] validates settings, names and attributes offline (`settings`,
//! `policy` for the canonical form of policy documents) and connects an
//! [`AwsProvider`] (`provider`), which loads its SDK clients lazily (`clients`),
//! reads the scope (`read`, with `paginate` and `credential_report`), maps IAM
//! objects to the neutral model (`mapping`), carries out operations (`apply`, with
//! `secrets` for key material), turns SDK errors into provider errors (`error`)
//! and takes the scope lock (`lock`, a file on this machine).

mod apply;
mod clients;
mod credential_report;
mod error;
mod lock;
mod mapping;
mod paginate;
mod policy;
mod provider;
mod read;
mod secrets;
mod settings;

use std::collections::BTreeMap;

pub use policy::normalize_policy;
pub use provider::AwsProvider;

use nhi_provider_sdk::{
    DeclaredPart, Operation, Provider, ProviderContext, ProviderError, ProviderType, Sink,
    SinkKind, ValidateRequest, ValidateResponse,
};

/// Identity kinds: IAM users (the default) and IAM roles.
const KINDS: &[&str] = &["user", "role"];

/// The `aws` provider type.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsType;

impl ProviderType for AwsType {
    fn type_name(&self) -> &'static str {
        "aws"
    }

    fn kinds(&self) -> &'static [&'static str] {
        KINDS
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        settings::Settings::parse(settings).map(|_| ())
    }

    /// Two blocks overlap when one path prefix lies under the other in what is,
    /// as far as nhi can tell offline, one account: the same endpoint and
    /// profile. Blocks that each manage only objects tagged with their own,
    /// different `managed_tag` do not overlap.
    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        _base_dir: &std::path::Path,
    ) -> Option<String> {
        let a = settings::Settings::parse(settings).ok()?;
        let b = settings::Settings::parse(other).ok()?;
        if a.endpoint_url != b.endpoint_url || a.profile != b.profile {
            return None;
        }
        if let (Some(x), Some(y)) = (&a.managed_tag, &b.managed_tag)
            && x != y
        {
            return None;
        }
        let (inner, outer) = if a.path_prefix.len() >= b.path_prefix.len() {
            (&a.path_prefix, &b.path_prefix)
        } else {
            (&b.path_prefix, &a.path_prefix)
        };
        if inner == outer {
            Some(format!(
                "both manage path prefix `{inner}` in the same account"
            ))
        } else if inner.starts_with(outer.as_str()) {
            Some(format!(
                "path prefix `{inner}` lies within `{outer}` in the same account"
            ))
        } else {
            None
        }
    }

    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        for (i, identity) in request.identities.iter().enumerate() {
            let Some(kind) = identity.kind else {
                response.check(i, DeclaredPart::Tags, mapping::check_tags(identity.tags));
                continue;
            };
            if let Some(name) = identity.name {
                response.check(i, DeclaredPart::Name, check_identity_name(kind, name));
            }
            if let Some(attributes) = identity.attributes {
                response.check(
                    i,
                    DeclaredPart::Attributes,
                    mapping::check_attributes(kind, attributes),
                );
            }
            for (b, binding) in identity.bindings.iter().enumerate() {
                let grant = match mapping::grant(binding) {
                    Ok(mapping::Grant::Group(_)) if kind == "role" => Err(
                        "IAM roles cannot join groups; only users can (`group:<name>`)".to_owned(),
                    ),
                    Ok(_) => Ok(()),
                    Err(err) => Err(err.to_string()),
                };
                response.check(i, DeclaredPart::Binding(b), grant);
            }
            response.check(
                i,
                DeclaredPart::Tags,
                mapping::check_tags(identity.tags).and_then(|()| {
                    mapping::check_tag_budget(
                        kind,
                        identity.tags,
                        identity.description,
                        identity.key_names.len(),
                    )
                }),
            );
            if let Some(owner) = identity.owner {
                response.check(
                    i,
                    DeclaredPart::Description,
                    mapping::check_description(kind, owner, identity.description),
                );
            }
        }
        response
    }

    fn key_slots(&self) -> Option<usize> {
        Some(2)
    }

    /// The credential report gives each access key's last use.
    fn reports_key_use(&self) -> bool {
        true
    }

    fn normalize_policy(&self, policy: serde_json::Value) -> serde_json::Value {
        normalize_policy(policy)
    }

    fn normalize_attributes(
        &self,
        _kind: &str,
        mut attributes: BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, serde_json::Value> {
        if let Some(doc) = attributes.remove(mapping::TRUST_POLICY) {
            attributes.insert(mapping::TRUST_POLICY.to_owned(), normalize_policy(doc));
        }
        attributes
    }

    fn advice(&self, operation: &Operation) -> Option<&'static str> {
        match operation {
            Operation::DeleteIdentity { identity }
            | Operation::ReplaceIdentity {
                before: identity, ..
            } => mapping::deletion_advice(identity),
            Operation::CreateBinding { binding, .. }
            | Operation::UpdateBinding { after: binding, .. }
                if binding.role.starts_with(mapping::GROUP_PREFIX) =>
            {
                Some(mapping::GROUP_ADVICE)
            }
            _ => None,
        }
    }

    fn sink_kinds(&self) -> &'static [SinkKind] {
        &[SinkKind {
            name: SECRETS_MANAGER,
            description: "A secret in AWS Secrets Manager, created or given a new version",
            settings_schema: SinkKind::secret_id_schema,
        }]
    }

    fn check_sink(&self, kind: &str, settings: &serde_json::Value) -> Result<(), String> {
        if kind == SECRETS_MANAGER && SinkKind::secret_id(settings).is_some() {
            return Ok(());
        }
        Err("write `aws_secrets_manager: {secret_id: <name or ARN>}`".to_owned())
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Ok(Box::new(AwsProvider::new(context)?))
    }
}

/// The sink `{aws_secrets_manager: {secret_id: <name or ARN>}}`.
pub(crate) const SECRETS_MANAGER: &str = "aws_secrets_manager";

/// The secret a Secrets Manager sink names.
pub(crate) fn secrets_manager_id(sink: &Sink) -> Option<&str> {
    sink.provider_setting(SECRETS_MANAGER, "secret_id")
}

fn check_identity_name(kind: &str, name: &str) -> Result<(), String> {
    if !KINDS.contains(&kind) {
        return Err(format!(
            "kind `{kind}` is not one the aws provider knows (`user`, `role`)"
        ));
    }
    check_name(name)
}

/// IAM's rule for user and role names, `[A-Za-z0-9+=,.@_-]{1,64}`.
fn check_name(name: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err("must be 1 to 64 characters: letters, digits and `+=,.@_-`".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_names() {
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        let cases: &[(&str, bool)] = &[
            ("ci-deployer", true),
            ("CI_Deployer+x=y,z.w@v", true),
            ("1", true),
            (&long, true),
            (&too_long, false),
            ("", false),
            ("a b", false),
            ("a/b", false),
            ("a:b", false),
            ("é", false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_identity_name("user", name).is_ok(), *ok, "{name}");
            assert_eq!(check_identity_name("role", name).is_ok(), *ok, "{name}");
        }
        let err = check_identity_name("group", "ok").unwrap_err();
        assert!(err.contains("`group`"), "{err}");
    }

    fn declared<'a>(
        kind: &'a str,
        tags: &'a nhi_provider_sdk::Tags,
        keys: &'a [&'a str],
        bindings: &'a [nhi_provider_sdk::Binding],
    ) -> nhi_provider_sdk::DeclaredIdentity<'a> {
        nhi_provider_sdk::DeclaredIdentity {
            kind: Some(kind),
            name: Some("ci"),
            owner: Some("team"),
            description: "deploys",
            tags,
            attributes: None,
            key_names: keys,
            bindings,
        }
    }

    fn problems(identity: nhi_provider_sdk::DeclaredIdentity<'_>) -> Vec<(DeclaredPart, String)> {
        AwsType
            .validate(&ValidateRequest {
                identities: &[identity],
            })
            .problems
            .into_iter()
            .map(|p| (p.part, p.reason))
            .collect()
    }

    /// Regression: a user's own tags could fill IAM's 50, so that recording a
    /// minted key (one more tag) failed at apply.
    #[test]
    fn tags_that_leave_no_room_for_nhi_and_key_tags_are_refused_at_validate() {
        let tags = |n: usize| -> nhi_provider_sdk::Tags {
            (0..n).map(|i| (format!("t{i}"), "v".to_owned())).collect()
        };
        // owner, description, managed tag: 3; two keys or one key and a rotation's: 2.
        let (fits, over) = (tags(45), tags(46));
        assert!(problems(declared("user", &fits, &["primary"], &[])).is_empty());
        assert!(problems(declared("user", &fits, &["primary", "secondary"], &[])).is_empty());
        let got = problems(declared("user", &over, &["primary"], &[]));
        let [(DeclaredPart::Tags, reason)] = got.as_slice() else {
            panic!("{got:?}")
        };
        assert!(reason.contains("at most 50 tags on a user"), "{reason}");
        assert!(
            reason.contains("room for 45 of your own, not 46"),
            "{reason}"
        );
        // Without keys there are no key tags to make room for.
        assert!(problems(declared("user", &tags(47), &[], &[])).is_empty());
        assert!(!problems(declared("user", &tags(48), &[], &[])).is_empty());
        // A role keeps its description natively and has no keys.
        let trust = BTreeMap::from([("trust_policy".to_owned(), json!({"Statement": []}))]);
        let (roomy, full) = (tags(48), tags(49));
        let mut role = declared("role", &roomy, &[], &[]);
        role.attributes = Some(&trust);
        assert!(problems(role).is_empty());
        role.tags = &full;
        assert!(!problems(role).is_empty());
    }

    #[test]
    fn roles_cannot_join_groups() {
        let tags = nhi_provider_sdk::Tags::default();
        let group = [nhi_provider_sdk::Binding {
            role: "group:admins".into(),
            resource: "*".into(),
            policy: None,
        }];
        assert!(problems(declared("user", &tags, &[], &group)).is_empty());
        let trust = BTreeMap::from([("trust_policy".to_owned(), json!({"Statement": []}))]);
        let mut role = declared("role", &tags, &[], &group);
        role.attributes = Some(&trust);
        let got = problems(role);
        assert!(
            matches!(got.as_slice(), [(DeclaredPart::Binding(0), r)] if r.contains("cannot join groups")),
            "{got:?}"
        );
    }

    /// Regression: a prune planned to delete identities nhi never created (AWS
    /// Organizations' role, hand-made users) with no word to the reviewer.
    #[test]
    fn deleting_an_identity_nhi_never_managed_says_so() {
        let identity = |kind: &str, owner: &str| nhi_provider_sdk::Identity {
            name: "x".into(),
            kind: kind.into(),
            owner: owner.into(),
            description: String::new(),
            tags: nhi_provider_sdk::Tags::default(),
            attributes: BTreeMap::new(),
        };
        let delete = |kind: &str, owner: &str| Operation::DeleteIdentity {
            identity: identity(kind, owner),
        };
        let never = "nhi never managed this";
        let role = AwsType.advice(&delete("role", "")).unwrap();
        assert!(
            role.contains(never) && role.contains("OrganizationAccountAccessRole"),
            "{role}"
        );
        assert_eq!(AwsType.advice(&delete("role", "team")), None);
        let user = AwsType.advice(&delete("user", "")).unwrap();
        assert!(
            user.contains(never) && user.contains("login profile"),
            "{user}"
        );
        let managed = AwsType.advice(&delete("user", "team")).unwrap();
        assert!(
            !managed.contains(never) && managed.contains("MFA devices"),
            "{managed}"
        );
        let replace = Operation::ReplaceIdentity {
            before: identity("role", ""),
            after: identity("user", "team"),
        };
        assert!(AwsType.advice(&replace).unwrap().contains(never));
        let join = Operation::CreateBinding {
            identity: "x".into(),
            binding: nhi_provider_sdk::Binding {
                role: "group:admins".into(),
                resource: "*".into(),
                policy: None,
            },
        };
        assert!(AwsType.advice(&join).unwrap().contains("group's"));
    }

    #[test]
    fn type_facts() {
        assert_eq!(AwsType.type_name(), "aws");
        assert_eq!(AwsType.kinds(), ["user", "role"]);
        assert_eq!(AwsType.key_slots(), Some(2));
        assert_eq!(AwsType.sink_kinds()[0].name, "aws_secrets_manager");
        assert!(
            AwsType
                .check_sink("aws_secrets_manager", &json!({"secret_id": "ci/key"}))
                .is_ok()
        );
        for bad in [
            json!({}),
            json!({"secret_id": " "}),
            json!({"secret_id": "a", "x": 1}),
        ] {
            assert!(
                AwsType.check_sink("aws_secrets_manager", &bad).is_err(),
                "{bad}"
            );
        }
        assert!(
            AwsType
                .check_sink("gcp_secret_manager", &json!({"secret_id": "a"}))
                .is_err()
        );
        let context = ProviderContext {
            name: "prod".into(),
            settings: json!({"path_prefix": "nhi"}),
            base_dir: ".".into(),
        };
        let Err(err) = AwsType.connect(context) else {
            panic!("connected with bad settings")
        };
        assert!(matches!(err, ProviderError::Settings(_)), "{err}");
    }
}
