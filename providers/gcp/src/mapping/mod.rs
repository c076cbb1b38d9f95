//! Service accounts, keys and project policy bindings as the neutral model.
//! What nhi records on an account, in its description, is `record`; how
//! bindings stand for the project policy's roles and conditions is `bindings`.

mod bindings;
mod record;

use std::collections::BTreeMap;

use nhi_provider_sdk::{Identity, ProviderError, Tags};
use serde_json::Value;

pub(crate) use bindings::{
    Condition, check_role, condition, conditions, merged_conditions, normalize_policy,
    observed_binding,
};
pub(crate) use record::{Record, compose_description, split_description};

/// The only identity kind: a service account.
pub(crate) const KIND: &str = "service_account";
/// Attribute: the service account's display name (absent when empty).
pub(crate) const DISPLAY_NAME: &str = "display_name";
/// Attribute: `true` when the service account is disabled (absent when enabled).
pub(crate) const DISABLED: &str = "disabled";
/// Google's limit on a display name, in UTF-8 bytes.
const MAX_DISPLAY_NAME: usize = 100;

/// A live service account as an identity, with nhi's record; `None` when its
/// email is not in `domain` (Google-created default accounts, service agents)
/// or when Google created it in that domain ([`google_created`]).
pub(crate) fn identity(
    email: &str,
    domain: &str,
    display_name: &str,
    description: &str,
    disabled: bool,
) -> Option<(Identity, Record)> {
    let account_id = email.strip_suffix(domain)?.strip_suffix('@')?;
    if google_created(account_id) {
        return None;
    }
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

/// Whether Google creates accounts with this id in the project's own domain,
/// where users' accounts live. Firebase documents two: the Admin SDK account
/// `firebase-adminsdk-<5 random characters>@PROJECT_ID.iam.gserviceaccount.com`,
/// added with Firebase, and `firebase-app-hosting-compute@PROJECT_ID.iam.gserviceaccount.com`,
/// added with App Hosting (<https://firebase.google.com/support/guides/service-accounts>).
/// They are Google's, like the Compute Engine default account: never in scope,
/// never declared, never retired by `prune`.
pub(crate) fn google_created(account_id: &str) -> bool {
    if account_id == "firebase-app-hosting-compute" {
        return true;
    }
    account_id
        .strip_prefix("firebase-adminsdk-")
        .is_some_and(|suffix| {
            suffix.len() == 5
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
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
        // Firebase creates these in the project's own domain.
        assert!(identity_of(&format!("firebase-adminsdk-fbsvc@{DOMAIN}")).is_none());
        assert!(identity_of(&format!("firebase-adminsdk-a1b2c@{DOMAIN}")).is_none());
        assert!(identity_of(&format!("firebase-app-hosting-compute@{DOMAIN}")).is_none());
        // Lookalikes are users' accounts.
        assert!(identity_of(&format!("firebase-adminsdk-custom@{DOMAIN}")).is_some());
        assert!(identity_of(&format!("firebase-app-hosting@{DOMAIN}")).is_some());
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
