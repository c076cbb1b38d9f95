//! The node tree mapped to the raw types, as serde-saphyr would deserialize them:
//! any value whose meaning could differ between the two readers is declined.

use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::super::raw::{RawBinding, RawIdentity, RawKey, RawProvider};
use super::node::{Node, is_special_word};
use super::{Decline, InSubset, spanned};

pub(super) fn whole_number(text: &str) -> InSubset<i64> {
    let digits_ok = !text.is_empty()
        && text.len() <= 9
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !digits_ok {
        return Err(Decline);
    }
    text.parse().map_err(|_| Decline)
}

pub(super) fn seq(node: Node<'_>) -> InSubset<Vec<Node<'_>>> {
    match node {
        Node::Seq(items) => Ok(items),
        _ => Err(Decline),
    }
}

fn map(node: Node<'_>) -> InSubset<Vec<(&str, Node<'_>)>> {
    match node {
        Node::Map(entries) => Ok(entries),
        _ => Err(Decline),
    }
}

/// A scalar where the raw types want a string. Plain `null` and `~` are null to
/// serde-saphyr; every other plain scalar is its text.
fn string(node: &Node<'_>) -> InSubset<String> {
    match *node {
        Node::Plain(text) if !matches!(text, "null" | "Null" | "NULL" | "~") => Ok(text.to_owned()),
        Node::Quoted(text) => Ok(text.to_owned()),
        _ => Err(Decline),
    }
}

fn spanned_string(node: &Node<'_>) -> InSubset<Option<Spanned<String>>> {
    string(node).map(|s| Some(spanned(s)))
}

/// A JSON value. Plain scalars are accepted only where serde-saphyr reads them as
/// strings for certain: starting with a letter, and not a boolean or null word.
fn json_value(node: Node<'_>) -> InSubset<Value> {
    Ok(match node {
        Node::Plain(text) => {
            let letter = text.as_bytes()[0].is_ascii_alphabetic();
            if !letter || is_special_word(text) {
                return Err(Decline);
            }
            Value::String(text.to_owned())
        }
        Node::Quoted(text) => Value::String(text.to_owned()),
        Node::Seq(items) => {
            Value::Array(items.into_iter().map(json_value).collect::<InSubset<_>>()?)
        }
        Node::Map(entries) => Value::Object(json_object(entries)?),
    })
}

fn json_object(entries: Vec<(&str, Node<'_>)>) -> InSubset<Map<String, Value>> {
    entries
        .into_iter()
        .map(|(k, v)| Ok((k.to_owned(), json_value(v)?)))
        .collect()
}

pub(super) fn raw_provider(node: Node<'_>) -> InSubset<RawProvider> {
    let mut raw = RawProvider {
        name: None,
        type_name: None,
        prune: None,
        settings: None,
    };
    for (key, value) in map(node)? {
        match key {
            "name" => raw.name = spanned_string(&value)?,
            "type" => raw.type_name = spanned_string(&value)?,
            "prune" => {
                let prune = match value {
                    Node::Plain("true") => true,
                    Node::Plain("false") => false,
                    _ => return Err(Decline),
                };
                raw.prune = Some(spanned(prune));
            }
            "settings" => raw.settings = Some(spanned(json_object(map(value)?)?)),
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

pub(super) fn raw_identity(node: Node<'_>) -> InSubset<RawIdentity> {
    let mut raw = RawIdentity {
        name: None,
        provider: None,
        kind: None,
        owner: None,
        description: String::new(),
        tags: nhi_provider_sdk::Tags::new(),
        attributes: None,
        expires: None,
        keys: Vec::new(),
        bindings: Vec::new(),
    };
    for (key, value) in map(node)? {
        match key {
            "name" => raw.name = spanned_string(&value)?,
            "provider" => raw.provider = spanned_string(&value)?,
            "kind" => raw.kind = spanned_string(&value)?,
            "owner" => raw.owner = spanned_string(&value)?,
            "description" => raw.description = string(&value)?,
            "tags" => {
                raw.tags = map(value)?
                    .into_iter()
                    .map(|(k, v)| Ok((k.to_owned(), string(&v)?)))
                    .collect::<InSubset<_>>()?;
            }
            "attributes" => raw.attributes = Some(spanned(json_value(value)?)),
            "expires" => raw.expires = spanned_string(&value)?,
            "keys" => {
                raw.keys = seq(value)?
                    .into_iter()
                    .map(|k| raw_key(k).map(spanned))
                    .collect::<InSubset<_>>()?;
            }
            "bindings" => {
                raw.bindings = seq(value)?
                    .into_iter()
                    .map(|b| raw_binding(b).map(spanned))
                    .collect::<InSubset<_>>()?;
            }
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

fn raw_key(node: Node<'_>) -> InSubset<RawKey> {
    let mut raw = RawKey {
        name: None,
        adopt: None,
        rotate_after: None,
        retire_after: None,
        status: None,
        expires: None,
        sink: None,
    };
    for (key, value) in map(node)? {
        match key {
            "name" => raw.name = spanned_string(&value)?,
            "adopt" => raw.adopt = spanned_string(&value)?,
            "rotate_after" => raw.rotate_after = spanned_string(&value)?,
            "retire_after" => raw.retire_after = spanned_string(&value)?,
            "status" => raw.status = spanned_string(&value)?,
            "expires" => raw.expires = spanned_string(&value)?,
            "sink" => raw.sink = Some(spanned(json_value(value)?)),
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

fn raw_binding(node: Node<'_>) -> InSubset<RawBinding> {
    let mut raw = RawBinding {
        role: None,
        resource: None,
        policy: None,
    };
    for (key, value) in map(node)? {
        match key {
            "role" => raw.role = spanned_string(&value)?,
            "resource" => raw.resource = spanned_string(&value)?,
            "policy" => raw.policy = Some(spanned(json_value(value)?)),
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_whole_numbers_written_plainly() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1", Some(1)),
            ("0", Some(0)),
            ("123456789", Some(123_456_789)),
            ("01", None),
            ("1234567890", None),
            ("-1", None),
            ("1.0", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(whole_number(text).ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn scalars_are_strings_only_where_serde_saphyr_agrees() {
        let strings: &[(Node<'_>, Option<&str>)] = &[
            (Node::Plain("abc"), Some("abc")),
            (Node::Plain("1"), Some("1")),
            (Node::Quoted("null"), Some("null")),
            (Node::Plain("null"), None),
            (Node::Plain("~"), None),
            (Node::Seq(vec![]), None),
        ];
        for (node, want) in strings {
            assert_eq!(string(node).ok().as_deref(), *want, "{node:?}");
        }
        let values: Vec<(Node<'_>, Option<Value>)> = vec![
            (Node::Plain("abc"), Some(Value::from("abc"))),
            (Node::Quoted("1"), Some(Value::from("1"))),
            (Node::Plain("1"), None),
            (Node::Plain("true"), None),
            (Node::Plain("No"), None),
            (Node::Plain(".5"), None),
            (
                Node::Map(vec![("a", Node::Seq(vec![Node::Plain("b")]))]),
                Some(serde_json::json!({"a": ["b"]})),
            ),
        ];
        for (node, want) in values {
            let shown = format!("{node:?}");
            assert_eq!(json_value(node).ok(), want, "{shown}");
        }
    }
}
