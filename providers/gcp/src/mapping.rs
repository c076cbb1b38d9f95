//! Service accounts, keys and project policy bindings as the neutral model.
//!
//! Service accounts have no labels, so what nhi must remember about one lives on
//! the last line of its description: `nhi:{"owner":…,"keys":{<key id>:<key name>}}`.
//! Everything before that line is the configured description. A description
//! without that line has no owner and no named keys (so its keys are drift).

use std::collections::BTreeMap;

use nhi_provider_sdk::{Binding, Identity, Policy, ProviderError, Tags};
use serde_json::{Map, Value};

/// The only identity kind: a service account.
pub(crate) const KIND: &str = "service_account";
/// Attribute: the service account's display name (absent when empty).
pub(crate) const DISPLAY_NAME: &str = "display_name";
/// Attribute: `true` when the service account is disabled (absent when enabled).
pub(crate) const DISABLED: &str = "disabled";
/// Google's limits, in UTF-8 bytes.
const MAX_DISPLAY_NAME: usize = 100;
pub(crate) const MAX_DESCRIPTION: usize = 256;
/// Start of the description line that holds nhi's record.
const RECORD_PREFIX: &str = "nhi:";
/// A binding's `resource` when it is unconditional on the project.
pub(crate) const PROJECT: &str = "*";
/// Prefix of a conditional binding's `resource`: `condition:<title>`.
pub(crate) const CONDITION_PREFIX: &str = "condition:";

/// What nhi records on a service account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) owner: String,
    /// Key id → configured key name.
    pub(crate) keys: BTreeMap<String, String>,
}

/// A description as stored, split into the configured text and nhi's record.
pub(crate) fn split_description(stored: &str) -> (String, Option<Record>) {
    let (text, last) = match stored.rsplit_once('\n') {
        Some((text, last)) => (text, last),
        None => ("", stored),
    };
    match last.strip_prefix(RECORD_PREFIX).and_then(parse_record) {
        Some(record) => (text.to_owned(), Some(record)),
        None => (stored.to_owned(), None),
    }
}

/// The record line, or `None` when it is not one nhi wrote (then it is text).
fn parse_record(json: &str) -> Option<Record> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) else {
        return None;
    };
    let owner = fields.get("owner")?.as_str()?.to_owned();
    let mut keys = BTreeMap::new();
    if let Some(map) = fields.get("keys") {
        for (id, name) in map.as_object()? {
            keys.insert(id.clone(), name.as_str()?.to_owned());
        }
    }
    Some(Record { owner, keys })
}

/// The description to store for `text` and `record`; `Err` when Google's 256-byte
/// limit would be exceeded.
pub(crate) fn compose_description(text: &str, record: &Record) -> Result<String, String> {
    let mut fields = Map::new();
    fields.insert("owner".into(), Value::String(record.owner.clone()));
    if !record.keys.is_empty() {
        let keys = record
            .keys
            .iter()
            .map(|(id, name)| (id.clone(), Value::String(name.clone())))
            .collect();
        fields.insert("keys".into(), Value::Object(keys));
    }
    let line = format!("{RECORD_PREFIX}{}", Value::Object(fields));
    let stored = if text.is_empty() {
        line
    } else {
        format!("{text}\n{line}")
    };
    if stored.len() > MAX_DESCRIPTION {
        return Err(format!(
            "the description, owner and key record need {} bytes; a service account's \
             description holds at most {MAX_DESCRIPTION}: shorten the description or owner",
            stored.len()
        ));
    }
    Ok(stored)
}

/// A live service account as an identity, with nhi's record; `None` when its
/// email is not in `domain` (Google-created accounts, service agents).
pub(crate) fn identity(
    email: &str,
    domain: &str,
    display_name: &str,
    description: &str,
    disabled: bool,
) -> Option<(Identity, Record)> {
    let account_id = email.strip_suffix(domain)?.strip_suffix('@')?;
    let (text, record) = split_description(description);
    let record = record.unwrap_or_default();
    let mut attributes = BTreeMap::new();
    if !display_name.is_empty() {
        attributes.insert(DISPLAY_NAME.to_owned(), Value::String(display_name.into()));
    }
    if disabled {
        attributes.insert(DISABLED.to_owned(), Value::Bool(true));
    }
    let identity = Identity {
        name: account_id.to_owned(),
        kind: KIND.to_owned(),
        owner: record.owner.clone(),
        description: text,
        tags: Tags::new(),
        attributes,
    };
    Some((identity, record))
}

/// The display name and disabled flag an identity asks for.
pub(crate) fn display_name(identity: &Identity) -> &str {
    identity
        .attributes
        .get(DISPLAY_NAME)
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(crate) fn disabled(identity: &Identity) -> bool {
    identity
        .attributes
        .get(DISABLED)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub(crate) fn check_attributes(attributes: &BTreeMap<String, Value>) -> Result<(), String> {
    for (name, value) in attributes {
        match (name.as_str(), value) {
            (DISPLAY_NAME, Value::String(s)) if s.len() <= MAX_DISPLAY_NAME => {}
            (DISPLAY_NAME, Value::String(_)) => {
                return Err(format!(
                    "`display_name` is at most {MAX_DISPLAY_NAME} bytes on Google Cloud"
                ));
            }
            (DISPLAY_NAME, _) => return Err("`display_name` must be a string".into()),
            (DISABLED, Value::Bool(_)) => {}
            (DISABLED, _) => return Err("`disabled` must be true or false".into()),
            (other, _) => {
                return Err(format!(
                    "`gcp` service accounts have no attribute `{other}` (they take \
                     `display_name` and `disabled`)"
                ));
            }
        }
    }
    Ok(())
}

/// Drops the values that mean "not set", so they never show as drift.
pub(crate) fn normalize_attributes(
    mut attributes: BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    if attributes.get(DISPLAY_NAME).and_then(Value::as_str) == Some("") {
        attributes.remove(DISPLAY_NAME);
    }
    if attributes.get(DISABLED) == Some(&Value::Bool(false)) {
        attributes.remove(DISABLED);
    }
    attributes
}

/// Google's rule for account ids: 6 to 30 characters, lowercase letters, digits
/// and hyphens, starting with a letter and ending with a letter or digit.
pub(crate) fn check_account_id(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let valid = (6..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid service account id: 6 to 30 lowercase letters, digits \
             and hyphens, starting with a letter and not ending with a hyphen"
        ))
    }
}

/// A binding's condition, when it has one: `(title, expression, description)`.
pub(crate) struct Condition<'a> {
    pub(crate) title: &'a str,
    pub(crate) expression: String,
    pub(crate) description: String,
}

/// The condition a configured or planned binding stands for; `Err` says what is
/// wrong with it.
pub(crate) fn condition(binding: &Binding) -> Result<Option<Condition<'_>>, String> {
    if binding.resource == PROJECT {
        return match binding.policy {
            None => Ok(None),
            Some(_) => Err(format!(
                "binding `{}` on `*` is unconditional: a `policy` (condition) needs \
                 `resource: condition:<title>`",
                binding.role
            )),
        };
    }
    let Some(title) = binding.resource.strip_prefix(CONDITION_PREFIX) else {
        return Err(format!(
            "resource `{}` is not one the gcp provider binds: use `*` (the project) or \
             `condition:<title>` for a conditional binding on the project",
            binding.resource
        ));
    };
    if title.is_empty() {
        return Err("a conditional binding needs a title: `condition:<title>`".into());
    }
    let Some(Value::Object(mut fields)) = binding.policy.as_ref().map(Policy::to_value) else {
        return Err(format!(
            "conditional binding `{}` on `{}` needs `policy: {{expression: ...}}`",
            binding.role, binding.resource
        ));
    };
    if let Some(other) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "expression" | "description"))
    {
        return Err(format!(
            "a condition has `expression` and `description`, not `{other}`"
        ));
    }
    let expression = match fields.remove("expression") {
        Some(Value::String(e)) if !e.trim().is_empty() => e,
        _ => return Err("a condition needs a non-empty string `expression` (CEL)".into()),
    };
    let description = match fields.remove("description") {
        None => String::new(),
        Some(Value::String(d)) => d,
        Some(_) => return Err("a condition's `description` must be a string".into()),
    };
    Ok(Some(Condition {
        title,
        expression,
        description,
    }))
}

/// Roles Google accepts in a project policy: predefined (`roles/…`) or custom
/// (`projects/<id>/roles/…`, `organizations/<id>/roles/…`).
pub(crate) fn check_role(role: &str) -> Result<(), String> {
    let rest = role
        .strip_prefix("roles/")
        .or_else(|| {
            let (scope, rest) = role.split_once('/')?;
            let (_id, rest) = rest.split_once('/')?;
            matches!(scope, "projects" | "organizations")
                .then_some(rest)
                .and_then(|r| r.strip_prefix("roles/"))
        })
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        });
    match rest {
        Some(_) => Ok(()),
        None => Err(format!(
            "`{role}` is not a Google Cloud role: use `roles/<name>` or a custom role \
             `projects/<id>/roles/<name>`"
        )),
    }
}

/// A binding as observed: the role and the condition (if any) of a policy
/// binding that holds the member.
pub(crate) fn observed_binding(role: &str, condition: Option<(&str, &str, &str)>) -> Binding {
    match condition {
        None => Binding {
            role: role.to_owned(),
            resource: PROJECT.to_owned(),
            policy: None,
        },
        Some((title, expression, description)) => {
            let mut fields = Map::new();
            fields.insert("expression".into(), Value::String(expression.into()));
            if !description.is_empty() {
                fields.insert("description".into(), Value::String(description.into()));
            }
            Binding {
                role: role.to_owned(),
                resource: format!("{CONDITION_PREFIX}{title}"),
                policy: Some(Policy::new(&Value::Object(fields))),
            }
        }
    }
}

/// Brings a configured condition to the form it is observed in (an empty
/// description is no description).
pub(crate) fn normalize_policy(policy: Value) -> Value {
    match policy {
        Value::Object(mut fields) => {
            if fields.get("description").and_then(Value::as_str) == Some("") {
                fields.remove("description");
            }
            Value::Object(fields)
        }
        other => other,
    }
}

/// The key id at the end of a key's resource name.
pub(crate) fn key_id(name: &str) -> Result<&str, ProviderError> {
    match name.rsplit_once("/keys/") {
        Some((_, id))
            if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(id)
        }
        _ => Err(ProviderError::Corrupt(format!(
            "a service account key is named `{name}`, not `…/keys/<id>`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DOMAIN: &str = "acme-prod.iam.gserviceaccount.com";

    #[test]
    fn the_record_round_trips_through_the_description() {
        let record = Record {
            owner: "team-a@example.com".into(),
            keys: BTreeMap::from([("a1b2".into(), "primary".into())]),
        };
        let stored = compose_description("Deploys\nthings", &record).unwrap();
        assert_eq!(
            stored,
            "Deploys\nthings\nnhi:{\"keys\":{\"a1b2\":\"primary\"},\"owner\":\"team-a@example.com\"}"
        );
        assert_eq!(
            split_description(&stored),
            ("Deploys\nthings".to_owned(), Some(record.clone()))
        );
        let bare = compose_description("", &Record::default()).unwrap();
        assert_eq!(bare, "nhi:{\"owner\":\"\"}");
        assert_eq!(
            split_description(&bare),
            (String::new(), Some(Record::default()))
        );
    }

    #[test]
    fn descriptions_nhi_did_not_write_are_text() {
        for stored in [
            "",
            "made by hand",
            "nhi: not json",
            "x\nnhi:{\"keys\":{}}",
            "nhi:[1]",
        ] {
            assert_eq!(
                split_description(stored),
                (stored.to_owned(), None),
                "{stored}"
            );
        }
        // A record whose key names are not strings is not ours either.
        let odd = "nhi:{\"owner\":\"o\",\"keys\":{\"k\":1}}";
        assert_eq!(split_description(odd), (odd.to_owned(), None));
    }

    #[test]
    fn descriptions_over_google_limit_are_refused() {
        let err = compose_description(&"d".repeat(240), &Record::default()).unwrap_err();
        assert!(err.contains("at most 256"), "{err}");
    }

    #[test]
    fn only_accounts_of_the_project_domain_are_identities() {
        let (identity, record) = identity(
            &format!("ci-bot@{DOMAIN}"),
            DOMAIN,
            "CI bot",
            "Deploys\nnhi:{\"owner\":\"o\",\"keys\":{\"k1\":\"primary\"}}",
            true,
        )
        .unwrap();
        assert_eq!(identity.name, "ci-bot");
        assert_eq!(identity.owner, "o");
        assert_eq!(identity.description, "Deploys");
        assert_eq!(
            identity.attributes,
            BTreeMap::from([
                (DISABLED.to_owned(), json!(true)),
                (DISPLAY_NAME.to_owned(), json!("CI bot"))
            ])
        );
        assert_eq!(record.keys["k1"], "primary");
        assert!(identity_of("123-compute@developer.gserviceaccount.com").is_none());
        assert!(identity_of("service-1@gcp-sa-pubsub.iam.gserviceaccount.com").is_none());
        assert!(identity_of(&format!("x@other-{DOMAIN}")).is_none());
    }

    fn identity_of(email: &str) -> Option<(Identity, Record)> {
        identity(email, DOMAIN, "", "", false)
    }

    #[test]
    fn attributes_are_checked_and_normalized() {
        assert!(check_attributes(&BTreeMap::from([(DISPLAY_NAME.into(), json!("x"))])).is_ok());
        for (name, value, want) in [
            (DISPLAY_NAME, json!(1), "must be a string"),
            (DISPLAY_NAME, json!("x".repeat(101)), "at most 100"),
            (DISABLED, json!("yes"), "true or false"),
            ("labels", json!({}), "no attribute `labels`"),
        ] {
            let err = check_attributes(&BTreeMap::from([(name.into(), value)])).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        let normalized = normalize_attributes(BTreeMap::from([
            (DISPLAY_NAME.into(), json!("")),
            (DISABLED.into(), json!(false)),
        ]));
        assert!(normalized.is_empty());
    }

    #[test]
    fn account_ids_follow_google_rule() {
        assert!(check_account_id("ci-bot1").is_ok());
        for bad in [
            "short",
            "Upper-case",
            "1starts-with-digit",
            "ends-with-",
            &"a".repeat(31),
        ] {
            assert!(check_account_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_and_conditions() {
        for role in [
            "roles/viewer",
            "roles/storage.objectViewer",
            "projects/p1/roles/deployer",
        ] {
            assert!(check_role(role).is_ok(), "{role}");
        }
        for role in ["viewer", "roles/", "folders/1/roles/x", "roles/a b"] {
            assert!(check_role(role).is_err(), "{role}");
        }
        let plain = observed_binding("roles/viewer", None);
        assert!(condition(&plain).unwrap().is_none());
        let conditional = observed_binding("roles/viewer", Some(("office-hours", "true", "")));
        assert_eq!(conditional.resource, "condition:office-hours");
        assert_eq!(
            conditional.policy,
            Some(json!({"expression": "true"}).into())
        );
        let c = condition(&conditional).unwrap().unwrap();
        assert_eq!(
            (c.title, c.expression.as_str(), c.description.as_str()),
            ("office-hours", "true", "")
        );
        for (resource, policy, want) in [
            (
                "*",
                Some(json!({"expression": "true"}).into()),
                "unconditional",
            ),
            ("bucket/x", None, "not one the gcp provider binds"),
            (
                "condition:",
                Some(json!({"expression": "true"}).into()),
                "needs a title",
            ),
            ("condition:t", None, "needs `policy"),
            (
                "condition:t",
                Some(json!({"expression": ""}).into()),
                "non-empty string",
            ),
            (
                "condition:t",
                Some(json!({"expression": "true", "x": 1}).into()),
                "not `x`",
            ),
        ] {
            let b = Binding {
                role: "roles/viewer".into(),
                resource: resource.into(),
                policy,
            };
            let err = condition(&b).err().unwrap_or_default();
            assert!(err.contains(want), "{resource}: {err}");
        }
    }

    #[test]
    fn key_ids_come_from_key_names() {
        assert_eq!(
            key_id("projects/p/serviceAccounts/a@b/keys/0123abcd").unwrap(),
            "0123abcd"
        );
        assert!(key_id("projects/p/serviceAccounts/a@b").is_err());
        assert!(key_id("projects/p/serviceAccounts/a@b/keys/").is_err());
        assert!(key_id("projects/p/serviceAccounts/a@b/keys/..%2f").is_err());
        assert!(key_id("projects/p/serviceAccounts/a@b/keys/a?x=1").is_err());
    }
}
