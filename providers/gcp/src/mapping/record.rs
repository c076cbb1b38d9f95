//! What nhi must remember about a service account, which has no labels: its
//! record, on the last line of the description:
//! `nhi:{"owner":…,"keys":{<key id>:<key name>}}`. Everything before that line is
//! the configured description. A description without that line has no owner and
//! no named keys (so its keys are drift).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Google's limit on a description, in UTF-8 bytes.
const MAX_DESCRIPTION: usize = 256;
/// Start of the description line that holds nhi's record.
const RECORD_PREFIX: &str = "nhi:";

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
