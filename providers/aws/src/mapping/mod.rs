//! How IAM users and roles map to the neutral model: which tags carry the owner,
//! the description and key names, and which attributes a kind has. How bindings
//! name managed and inline policies is `bindings`.

mod bindings;

use std::collections::BTreeMap;

use nhi_provider_sdk::{Identity, ProviderError, Tags};
use serde_json::Value;

use crate::policy;
use crate::settings::{Settings, tag_char};
pub(crate) use bindings::{GROUP_ADVICE, GROUP_PREFIX, Grant, INLINE_PREFIX, grant};

/// Tag holding an identity's owner.
pub(crate) const OWNER_TAG: &str = "nhi:owner";
/// Tag holding a user's description (roles have a native description).
pub(crate) const DESCRIPTION_TAG: &str = "nhi:description";
/// Prefix of the user tag `nhi:key:<AccessKeyId>` = `<key name>`.
pub(crate) const KEY_TAG_PREFIX: &str = "nhi:key:";
/// Tags under this prefix belong to nhi and are never part of `tags`.
const RESERVED_PREFIX: &str = "nhi:";
pub(crate) const TRUST_POLICY: &str = "trust_policy";
pub(crate) const PERMISSIONS_BOUNDARY: &str = "permissions_boundary";

/// The two kinds of IAM identity nhi manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Role,
}

impl Kind {
    pub(crate) fn parse(kind: &str) -> Result<Self, ProviderError> {
        match kind {
            "user" => Ok(Self::User),
            "role" => Ok(Self::Role),
            other => Err(ProviderError::Other(format!(
                "kind `{other}` is not one the aws provider knows (`user`, `role`)"
            ))),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
        }
    }
}

/// Paths AWS keeps for roles it creates and manages itself: service-linked roles
/// (`AWSServiceRoleFor…`, always under `/aws-service-role/`: IAM User Guide,
/// "Using service-linked roles",
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html>)
/// and IAM Identity Center's permission-set roles (`AWSReservedSSO_…` under
/// `/aws-reserved/sso.amazonaws.com/`: IAM Identity Center User Guide, "Referencing
/// permission sets in resource policies",
/// <https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html>).
/// Deleting or changing them breaks the AWS service that owns them, so they are
/// never in any block's scope, whatever its `path_prefix`.
pub(crate) const RESERVED_PATHS: &[&str] = &["/aws-service-role/", "/aws-reserved/"];

/// Whether `path` lies under a path AWS reserves (compared without regard to
/// case, so that no spelling of one slips into scope).
pub(crate) fn reserved_path(path: &str) -> bool {
    RESERVED_PATHS.iter().any(|reserved| {
        path.get(..reserved.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(reserved))
    })
}

/// An IAM user or role as the API reports it, before mapping to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawIdentity {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) tags: BTreeMap<String, String>,
    /// A role's description.
    pub(crate) description: Option<String>,
    /// A role's trust policy, as the API returns it (URL-encoded).
    pub(crate) trust_policy: Option<String>,
    pub(crate) permissions_boundary: Option<String>,
}

impl RawIdentity {
    /// Whether the block manages this object: under its path, outside the paths
    /// AWS reserves for what it creates itself, and tagged when it has a managed
    /// tag.
    pub(crate) fn in_scope(&self, settings: &Settings) -> bool {
        self.path.starts_with(&settings.path_prefix)
            && !reserved_path(&self.path)
            && settings
                .managed_tag
                .as_ref()
                .is_none_or(|tag| self.tags.get(tag).is_some_and(|v| v == "true"))
    }

    /// The managed attributes of this object, in the model.
    pub(crate) fn identity(&self, managed_tag: Option<&str>) -> Result<Identity, ProviderError> {
        let owner = self.tags.get(OWNER_TAG).cloned().unwrap_or_default();
        let description = match self.kind {
            Kind::User => self.tags.get(DESCRIPTION_TAG).cloned(),
            Kind::Role => self.description.clone(),
        }
        .unwrap_or_default();
        let tags = self
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX) && Some(k.as_str()) != managed_tag)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut attributes = BTreeMap::new();
        if let Some(document) = &self.trust_policy {
            let policy = policy::decode_document(document).map_err(|err| {
                ProviderError::Corrupt(format!("trust policy of role `{}`: {err}", self.name))
            })?;
            attributes.insert(TRUST_POLICY.to_owned(), policy);
        }
        if let Some(arn) = &self.permissions_boundary {
            attributes.insert(PERMISSIONS_BOUNDARY.to_owned(), Value::String(arn.clone()));
        }
        Ok(Identity {
            name: self.name.clone(),
            kind: self.kind.as_str().to_owned(),
            owner,
            description,
            tags,
            attributes,
        })
    }

    /// Key names recorded on a user, by access key id.
    pub(crate) fn key_names(&self) -> BTreeMap<&str, &str> {
        self.tags
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(KEY_TAG_PREFIX)?, v.as_str())))
            .collect()
    }
}

/// The tags nhi keeps on an identity: its owner, a user's description, the
/// managed tag and the user's own tags. Key-name tags are managed separately.
pub(crate) fn identity_tags(
    identity: &Identity,
    kind: Kind,
    managed_tag: Option<&str>,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let mut tags = BTreeMap::new();
    for (key, value) in &identity.tags {
        if key.starts_with(RESERVED_PREFIX) || Some(key.as_str()) == managed_tag {
            return Err(ProviderError::Other(format!(
                "tag `{key}` of `{}` is reserved by nhi; rename it",
                identity.name
            )));
        }
        tags.insert(key.clone(), value.clone());
    }
    if !identity.owner.is_empty() {
        tags.insert(OWNER_TAG.to_owned(), identity.owner.clone());
    }
    if kind == Kind::User && !identity.description.is_empty() {
        tags.insert(DESCRIPTION_TAG.to_owned(), identity.description.clone());
    }
    if let Some(tag) = managed_tag {
        tags.insert(tag.to_owned(), "true".to_owned());
    }
    Ok(tags)
}

/// What reviewers read beside the deletion of `identity` (as observed): that nhi
/// never managed it, when it carries no `nhi:owner` tag (every identity nhi
/// creates has one: the configuration requires an owner), and for a user, what
/// else goes with it.
pub(crate) fn deletion_advice(identity: &Identity) -> Option<&'static str> {
    const USER_DEBRIS: &str = "Before deleting the user nhi removes what IAM refuses to delete \
        it with: its console password (login profile), MFA devices, SSH public keys, signing \
        certificates, service-specific credentials and group memberships";
    const UNMANAGED_USER: &str = "nhi never managed this user (it has no `nhi:owner` tag): it \
        was made by hand or by another tool, which may still rely on it. Before deleting the \
        user nhi removes what IAM refuses to delete it with: its console password (login \
        profile), MFA devices, SSH public keys, signing certificates, service-specific \
        credentials and group memberships";
    const UNMANAGED_ROLE: &str = "nhi never managed this role (it has no `nhi:owner` tag): it \
        was made by hand, by another tool or by an AWS service (e.g. AWS Organizations' \
        `OrganizationAccountAccessRole`), which may still rely on it";
    let unmanaged = identity.owner.is_empty();
    match (Kind::parse(&identity.kind).ok()?, unmanaged) {
        (Kind::User, false) => Some(USER_DEBRIS),
        (Kind::User, true) => Some(UNMANAGED_USER),
        (Kind::Role, true) => Some(UNMANAGED_ROLE),
        (Kind::Role, false) => None,
    }
}

/// The trust policy of a role identity, as JSON text for the API.
pub(crate) fn trust_policy_text(identity: &Identity) -> Result<Option<String>, ProviderError> {
    identity
        .attributes
        .get(TRUST_POLICY)
        .map(|policy| {
            serde_json::to_string(policy)
                .map_err(|err| ProviderError::Other(format!("trust policy: {err}")))
        })
        .transpose()
}

pub(crate) fn permissions_boundary(identity: &Identity) -> Option<&str> {
    identity
        .attributes
        .get(PERMISSIONS_BOUNDARY)
        .and_then(Value::as_str)
}

/// Tags IAM would refuse, or that nhi reserves (`nhi:*`, `aws:*`). IAM allows
/// letters, digits, spaces and `_.:/=+-@` in keys (128) and values (256).
pub(crate) fn check_tags(tags: &Tags) -> Result<(), String> {
    for (key, value) in tags {
        if key.starts_with(RESERVED_PREFIX) || key.starts_with("aws:") {
            return Err(format!(
                "tag `{key}` is reserved (`nhi:` and `aws:` prefixes)"
            ));
        }
        if key.is_empty() || key.chars().count() > 128 || !key.chars().all(tag_char) {
            return Err(format!(
                "tag key `{key}` is not valid in IAM (letters, digits, spaces and `_.:/=+-@`, at most 128)"
            ));
        }
        if value.chars().count() > 256 || !value.chars().all(tag_char) {
            return Err(format!(
                "the value of tag `{key}` is not valid in IAM (letters, digits, spaces and `_.:/=+-@`, at most 256)"
            ));
        }
    }
    Ok(())
}

/// The most tags IAM holds on one user or role (IAM and AWS STS quotas, "Tags
/// per IAM user" and "Tags per IAM role": 50,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>).
pub(crate) const MAX_TAGS: usize = 50;
/// The most access keys IAM lets a user hold at once (same quotas page: "Access
/// keys assigned to an IAM user": 2), so the most `nhi:key:<id>` tags a user
/// carries, the new key's included while a rotation runs.
pub(crate) const MAX_ACCESS_KEYS: usize = 2;

/// Whether the tags an identity needs fit IAM's quota: its own tags, `nhi:owner`,
/// a user's `nhi:description`, the block's managed tag (counted always: the
/// settings are not known here) and, for a user with keys, one `nhi:key:<id>`
/// tag per key plus one for the new key of a rotation (at most two live keys).
pub(crate) fn check_tag_budget(
    kind: &str,
    tags: &Tags,
    description: &str,
    keys: usize,
) -> Result<(), String> {
    let user = kind != "role";
    let description = usize::from(user && !description.is_empty());
    let key_tags = if user && keys > 0 {
        (keys + 1).min(MAX_ACCESS_KEYS)
    } else {
        0
    };
    let reserved = 1 + description + 1 + key_tags;
    if tags.len() + reserved <= MAX_TAGS {
        return Ok(());
    }
    Err(format!(
        "IAM holds at most {MAX_TAGS} tags on a {kind}, and nhi keeps {reserved} of them \
         (`nhi:owner`{}, the managed tag{}), which leaves room for {} of your own, not {}",
        if description == 1 {
            ", `nhi:description`"
        } else {
            ""
        },
        if key_tags > 0 {
            ", one `nhi:key:<id>` per key with one spare for a rotation"
        } else {
            ""
        },
        MAX_TAGS - reserved,
        tags.len()
    ))
}

/// Whether IAM can hold the owner (tag `nhi:owner`) and the description (a user's
/// tag `nhi:description`, a role's own description field).
pub(crate) fn check_description(kind: &str, owner: &str, description: &str) -> Result<(), String> {
    let tag_value = |value: &str| value.chars().count() <= 256 && value.chars().all(tag_char);
    if !tag_value(owner) {
        return Err(format!(
            "the owner is kept in tag `{OWNER_TAG}`, whose value IAM limits to letters, digits, \
             spaces and `_.:/=+-@`, at most 256"
        ));
    }
    if kind == "role" {
        let role_text = |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{a1}'..='\u{ff}');
        if description.chars().count() > 1000 || !description.chars().all(role_text) {
            return Err(
                "a role's description is at most 1000 characters of printable Latin-1 text"
                    .to_owned(),
            );
        }
    } else if !tag_value(description) {
        return Err(format!(
            "a user's description is kept in tag `{DESCRIPTION_TAG}`, whose value IAM limits to \
             letters, digits, spaces and `_.:/=+-@` (no commas), at most 256"
        ));
    }
    Ok(())
}

/// The attributes check of the aws provider's `validate`.
pub(crate) fn check_attributes(
    kind: &str,
    attributes: &BTreeMap<String, Value>,
) -> Result<(), String> {
    let allowed: &[&str] = match kind {
        "role" => &[TRUST_POLICY, PERMISSIONS_BOUNDARY],
        _ => &[PERMISSIONS_BOUNDARY],
    };
    if let Some(name) = attributes.keys().find(|k| !allowed.contains(&k.as_str())) {
        let known: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
        return Err(format!(
            "`aws` {kind} identities have no attribute `{name}`; they take {}",
            known.join(", ")
        ));
    }
    if kind == "role" {
        match attributes.get(TRUST_POLICY) {
            None => {
                return Err(
                    "`aws` roles need the attribute `trust_policy`: who may assume the role"
                        .to_owned(),
                );
            }
            Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(
                    "attribute `trust_policy` must be a policy document (a mapping)".to_owned(),
                );
            }
        }
    }
    match attributes.get(PERMISSIONS_BOUNDARY) {
        None => Ok(()),
        Some(Value::String(arn)) if arn.starts_with("arn:") => Ok(()),
        Some(_) => Err(
            "attribute `permissions_boundary` must be a managed policy ARN (`arn:...`)".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(kind: Kind, tags: &[(&str, &str)]) -> RawIdentity {
        RawIdentity {
            kind,
            name: "ci".into(),
            path: "/nhi/team/".into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            description: None,
            trust_policy: None,
            permissions_boundary: None,
        }
    }

    fn settings(prefix: &str, managed: Option<&str>) -> Settings {
        let mut s = Settings::parse(&json!({ "path_prefix": prefix })).unwrap();
        s.managed_tag = managed.map(str::to_owned);
        s
    }

    #[test]
    fn scope_by_path_and_tag() {
        let tagged = raw(Kind::User, &[("managed", "true")]);
        let untagged = raw(Kind::User, &[("managed", "yes")]);
        let cases = [
            (&tagged, settings("/nhi/", None), true),
            (&tagged, settings("/nhi/team/", None), true),
            (&tagged, settings("/other/", None), false),
            (&tagged, settings("/nhi/", Some("managed")), true),
            (&untagged, settings("/nhi/", Some("managed")), false),
            (&untagged, settings("/", None), true),
        ];
        for (path, reserved) in [
            ("/aws-service-role/elasticbeanstalk.amazonaws.com/", true),
            ("/aws-reserved/sso.amazonaws.com/eu-west-1/", true),
            ("/AWS-Reserved/x/", true),
            ("/aws-service-roles/", false),
            ("/aws-reserved", false),
            ("/", false),
        ] {
            let mut role = raw(Kind::Role, &[("managed", "true")]);
            role.path = path.to_owned();
            assert_eq!(reserved_path(path), reserved, "{path}");
            assert_eq!(role.in_scope(&settings("/", None)), !reserved, "{path}");
        }
        for (raw, settings, want) in cases {
            assert_eq!(raw.in_scope(&settings), want, "{raw:?} {settings:?}");
        }
    }

    #[test]
    fn user_round_trips_through_tags() {
        let user = raw(
            Kind::User,
            &[
                ("nhi:owner", "team-a"),
                ("nhi:description", "deploys"),
                ("nhi:key:AKIA1", "primary"),
                ("nhi:future", "x"),
                ("managed", "true"),
                ("env", "prod"),
            ],
        );
        let identity = user.identity(Some("managed")).unwrap();
        assert_eq!(identity.owner, "team-a");
        assert_eq!(identity.description, "deploys");
        assert_eq!(identity.kind, "user");
        assert_eq!(
            identity.tags,
            Tags::from([("env".to_owned(), "prod".to_owned())])
        );
        assert!(identity.attributes.is_empty());
        assert_eq!(user.key_names(), BTreeMap::from([("AKIA1", "primary")]));
        let tags = identity_tags(&identity, Kind::User, Some("managed")).unwrap();
        let want: BTreeMap<String, String> = user
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with("nhi:key:") && *k != "nhi:future")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(tags, want);
    }

    #[test]
    fn role_description_and_attributes() {
        let mut role = raw(Kind::Role, &[("nhi:owner", "o")]);
        role.description = Some("assumed by CI".into());
        role.trust_policy = Some(
            "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%7D".into(),
        );
        role.permissions_boundary = Some("arn:aws:iam::aws:policy/ReadOnlyAccess".into());
        let identity = role.identity(None).unwrap();
        assert_eq!(identity.description, "assumed by CI");
        assert_eq!(
            identity.attributes[TRUST_POLICY],
            json!({"Statement": [{"Effect": "Allow", "Action": "sts:assumerole"}]})
        );
        assert_eq!(
            permissions_boundary(&identity),
            Some("arn:aws:iam::aws:policy/ReadOnlyAccess")
        );
        // A role's description is not a tag.
        let tags = identity_tags(&identity, Kind::Role, None).unwrap();
        assert_eq!(
            tags,
            BTreeMap::from([("nhi:owner".to_owned(), "o".to_owned())])
        );

        role.trust_policy = Some("not json".into());
        assert!(matches!(
            role.identity(None),
            Err(ProviderError::Corrupt(_))
        ));
    }

    #[test]
    fn reserved_tags_are_refused() {
        let mut identity = raw(Kind::User, &[]).identity(None).unwrap();
        identity.tags.insert("nhi:owner".into(), "x".into());
        assert!(identity_tags(&identity, Kind::User, None).is_err());
        identity.tags.clear();
        identity.tags.insert("managed".into(), "true".into());
        assert!(identity_tags(&identity, Kind::User, Some("managed")).is_err());
        assert!(identity_tags(&identity, Kind::User, None).is_ok());
    }

    type Case = (
        &'static str,
        BTreeMap<String, Value>,
        Result<(), &'static str>,
    );

    #[test]
    fn attributes() {
        let trust = json!({"Statement": []});
        let boundary = json!("arn:aws:iam::aws:policy/X");
        let attrs = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect()
        };
        let cases: &[Case] = &[
            ("user", attrs(&[]), Ok(())),
            (
                "user",
                attrs(&[(PERMISSIONS_BOUNDARY, boundary.clone())]),
                Ok(()),
            ),
            (
                "user",
                attrs(&[(TRUST_POLICY, trust.clone())]),
                Err("no attribute `trust_policy`"),
            ),
            ("role", attrs(&[(TRUST_POLICY, trust.clone())]), Ok(())),
            (
                "role",
                attrs(&[
                    (TRUST_POLICY, trust.clone()),
                    (PERMISSIONS_BOUNDARY, boundary),
                ]),
                Ok(()),
            ),
            ("role", attrs(&[]), Err("need the attribute `trust_policy`")),
            (
                "role",
                attrs(&[(TRUST_POLICY, json!("x"))]),
                Err("must be a policy document"),
            ),
            (
                "role",
                attrs(&[(TRUST_POLICY, trust), ("display_name", json!("x"))]),
                Err("no attribute `display_name`"),
            ),
            (
                "user",
                attrs(&[(PERMISSIONS_BOUNDARY, json!("ReadOnly"))]),
                Err("must be a managed policy ARN"),
            ),
        ];
        for (kind, attributes, want) in cases {
            let got = check_attributes(kind, attributes);
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(err), Err(want)) => assert!(err.contains(want), "{err}"),
                (got, want) => panic!("{kind} {attributes:?}: {got:?} != {want:?}"),
            }
        }
    }
}
