//! Views of a change for readers: attribute rows and before/after values, derived
//! from the operation (never from anything else in the plan).

use nhi_provider_sdk::{Binding, Identity, ObservedKey, Operation, Sink};
use serde_json::{Value, json};

use crate::diff::Change;

/// One attribute as it was and as it will be (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What kind of object a change acts on, and its short name.
pub(crate) fn object(change: &Change) -> (&'static str, String) {
    match &change.operation {
        Operation::CreateIdentity { identity } | Operation::DeleteIdentity { identity } => {
            ("identity", identity.name.clone())
        }
        Operation::UpdateIdentity { after, .. } | Operation::ReplaceIdentity { after, .. } => {
            ("identity", after.name.clone())
        }
        Operation::CreateKey { key, .. } | Operation::RotateKey { key, .. } => ("key", key.clone()),
        Operation::DeleteKey { key, .. } | Operation::DeactivateKey { key, .. } => {
            ("key", key.name.clone().unwrap_or_else(|| key.id.clone()))
        }
        Operation::RevokeSessions { identity, .. } => ("sessions", identity.clone()),
        Operation::CreateBinding { binding, .. } | Operation::DeleteBinding { binding, .. } => {
            ("binding", binding.role.clone())
        }
        Operation::UpdateBinding { after, .. } => ("binding", after.role.clone()),
    }
}

use super::escape::{self, quoted};

/// Pretty JSON of a document from a plan, safe to print.
fn document(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    match escape::json(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(safe) => safe,
    }
}

/// `tags.team`, or `tags["a b"]` for a key that is not a plain word.
fn tag_row(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'));
    if plain {
        format!("tags.{key}")
    } else {
        format!("tags[{}]", quoted(key))
    }
}

fn identity_rows(identity: &Identity) -> Vec<(String, String)> {
    let mut rows = vec![
        ("kind".to_owned(), quoted(&identity.kind)),
        ("owner".to_owned(), quoted(&identity.owner)),
    ];
    if !identity.description.is_empty() {
        rows.push(("description".to_owned(), quoted(&identity.description)));
    }
    for (k, v) in &identity.tags {
        rows.push((tag_row(k), quoted(v)));
    }
    for (k, v) in &identity.attributes {
        let text = if v.is_object() || v.is_array() {
            document(v)
        } else {
            escape::json(&serde_json::to_string(v).unwrap_or_default()).into_owned()
        };
        rows.push((escape::text(k).into_owned(), text));
    }
    rows
}

fn key_rows(key: &ObservedKey) -> Vec<(String, String)> {
    let mut rows = vec![
        ("id".to_owned(), quoted(&key.id)),
        ("created".to_owned(), quoted(&key.created.to_string())),
        (
            "status".to_owned(),
            quoted(match key.status {
                nhi_provider_sdk::KeyStatus::Active => "active",
                nhi_provider_sdk::KeyStatus::Inactive => "inactive",
            }),
        ),
    ];
    if let Some(used) = key.last_used {
        rows.push(("last_used".to_owned(), quoted(&used.to_string())));
    }
    rows
}

fn binding_rows(binding: &Binding) -> Vec<(String, String)> {
    let mut rows = vec![
        ("role".to_owned(), quoted(&binding.role)),
        ("resource".to_owned(), quoted(&binding.resource)),
    ];
    if let Some(policy) = &binding.policy {
        rows.push(("policy".to_owned(), document(policy)));
    }
    rows
}

pub(crate) fn sink_text(sink: &Sink) -> String {
    match sink {
        Sink::File(path) => format!("file {}", quoted(path)),
        Sink::Stdout => "stdout".to_owned(),
        // `aws_secrets_manager {secret_id: x}` reads `aws secrets manager "x"`.
        Sink::Provider { kind, settings } => {
            let what = escape::text(kind).replace('_', " ");
            match settings.as_object().map(|m| m.values().collect::<Vec<_>>()) {
                Some(values) if values.len() == 1 && values[0].is_string() => {
                    format!("{what} {}", quoted(values[0].as_str().unwrap_or_default()))
                }
                _ => format!("{what} {}", escape::json(&settings.to_string())),
            }
        }
    }
}

fn pair(before: &[(String, String)], after: &[(String, String)]) -> Vec<Row> {
    let mut names: Vec<String> = before.iter().map(|r| r.0.clone()).collect();
    for (name, _) in after {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
        .into_iter()
        .map(|name| Row {
            before: before.iter().find(|r| r.0 == name).map(|r| r.1.clone()),
            after: after.iter().find(|r| r.0 == name).map(|r| r.1.clone()),
            name,
        })
        .collect()
}

/// Attribute rows of a change, in a stable order.
pub(crate) fn rows(change: &Change) -> Vec<Row> {
    let after_apply = "(known after apply)".to_owned();
    let mut rows = match &change.operation {
        Operation::CreateIdentity { identity } => pair(&[], &identity_rows(identity)),
        Operation::DeleteIdentity { identity } => pair(&identity_rows(identity), &[]),
        Operation::UpdateIdentity { before, after }
        | Operation::ReplaceIdentity { before, after } => {
            pair(&identity_rows(before), &identity_rows(after))
        }
        Operation::CreateKey { .. } => pair(
            &[],
            &[
                ("id".into(), after_apply.clone()),
                ("created".into(), after_apply),
            ],
        ),
        Operation::RotateKey { old, .. } => pair(
            &key_rows(&ObservedKey {
                last_used: None,
                ..old.clone()
            }),
            &[
                ("id".into(), after_apply.clone()),
                ("created".into(), after_apply),
                ("status".into(), quoted("active")),
            ],
        ),
        Operation::DeleteKey { key, .. } => pair(&key_rows(key), &[]),
        Operation::DeactivateKey { key, .. } => pair(
            &key_rows(key),
            &key_rows(&ObservedKey {
                status: nhi_provider_sdk::KeyStatus::Inactive,
                ..key.clone()
            }),
        ),
        Operation::RevokeSessions { issued_before, .. } => pair(
            &[],
            &[("issued_before".into(), quoted(&issued_before.to_string()))],
        ),
        Operation::CreateBinding { binding, .. } => pair(&[], &binding_rows(binding)),
        Operation::DeleteBinding { binding, .. } => pair(&binding_rows(binding), &[]),
        Operation::UpdateBinding { before, after, .. } => {
            pair(&binding_rows(before), &binding_rows(after))
        }
    };
    if let Some(sink) = &change.sink {
        let text = sink_text(sink);
        rows.push(Row {
            name: "secret_sink".into(),
            before: None,
            after: Some(text),
        });
    }
    rows
}

/// Before and after values for machine readers.
pub(crate) fn before_after(change: &Change) -> (Value, Value) {
    let v = |x: &dyn erased::Ser| x.to_value();
    match &change.operation {
        Operation::CreateIdentity { identity } => (Value::Null, v(identity)),
        Operation::DeleteIdentity { identity } => (v(identity), Value::Null),
        Operation::UpdateIdentity { before, after }
        | Operation::ReplaceIdentity { before, after } => (v(before), v(after)),
        Operation::CreateKey { key, .. } => (Value::Null, json!({ "name": key })),
        Operation::RotateKey { key, old, .. } => (v(old), json!({ "name": key })),
        Operation::DeleteKey { key, .. } => (v(key), Value::Null),
        Operation::DeactivateKey { key, .. } => (
            v(key),
            v(&ObservedKey {
                status: nhi_provider_sdk::KeyStatus::Inactive,
                ..key.clone()
            }),
        ),
        Operation::RevokeSessions { issued_before, .. } => {
            (Value::Null, json!({ "issued_before": issued_before }))
        }
        Operation::CreateBinding { binding, .. } => (Value::Null, v(binding)),
        Operation::DeleteBinding { binding, .. } => (v(binding), Value::Null),
        Operation::UpdateBinding { before, after, .. } => (v(before), v(after)),
    }
}

mod erased {
    pub(crate) trait Ser {
        fn to_value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}
