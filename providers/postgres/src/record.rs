//! The record nhi keeps in a role's comment (`COMMENT ON ROLE`): owner,
//! description, tags, and which password (by key id) is the key of which name.
//! Anyone with `CREATEROLE` can rewrite a comment, so reading it trusts nothing:
//! a comment that is not exactly this record reads as no record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most of a comment that is parsed; a longer one reads as no record.
const MAX_RECORD_BYTES: usize = 16 * 1024;

/// The comment's whole text: `{"nhi": {…}}`, versioned inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    nhi: Record,
}

/// What a role's comment says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    /// Always 1; another value reads as no record.
    pub(crate) v: u32,
    pub(crate) owner: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tags: BTreeMap<String, String>,
    /// The password nhi last set, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<KeyRecord>,
}

/// The password nhi set: its key id (a digest of its verifier, never of the
/// password), when, and, once its secret was delivered, its configured name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyRecord {
    pub(crate) id: String,
    pub(crate) created: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
}

impl Record {
    pub(crate) fn new(identity: &nhi_provider_sdk::Identity) -> Self {
        Self {
            v: 1,
            owner: identity.owner.clone(),
            description: identity.description.clone(),
            tags: identity
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            key: None,
        }
    }

    /// The record in a comment; `None` for no comment or anything else.
    pub(crate) fn parse(comment: Option<&str>) -> Option<Self> {
        let comment = comment?;
        if comment.len() > MAX_RECORD_BYTES {
            return None;
        }
        let envelope: Envelope = serde_json::from_str(comment).ok()?;
        let record = envelope.nhi;
        (record.v == 1).then_some(record)
    }

    /// The comment text.
    pub(crate) fn to_comment(&self) -> String {
        serde_json::to_string(&Envelope { nhi: self.clone() })
            .expect("invariant: a record serialises")
    }

    /// Whether the comment text of this record fits where nhi keeps it.
    pub(crate) fn check_size(&self) -> Result<(), String> {
        let mut probe = self.clone();
        probe.key = Some(KeyRecord {
            id: "scram-0000000000000000".into(),
            created: jiff::Timestamp::UNIX_EPOCH,
            name: Some("k".repeat(64)),
        });
        let len = probe.to_comment().len();
        if len > MAX_RECORD_BYTES {
            return Err(format!(
                "owner, description and tags take {len} bytes in the role's comment; \
                 at most {MAX_RECORD_BYTES} fit"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_anything_else_reads_as_none() {
        let record = Record {
            v: 1,
            owner: "team@example.com".into(),
            description: "it's \"quoted\"".into(),
            tags: BTreeMap::from([("env".into(), "prod".into())]),
            key: Some(KeyRecord {
                id: "scram-0123456789abcdef".into(),
                created: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
                name: Some("primary".into()),
            }),
        };
        let text = record.to_comment();
        assert_eq!(Record::parse(Some(&text)), Some(record));
        let long = format!(
            r#"{{"nhi":{{"v":1,"owner":"{}"}}}}"#,
            "a".repeat(MAX_RECORD_BYTES)
        );
        for hostile in [
            "",
            "hand-written comment",
            r#"{"nhi":{"v":2,"owner":"x"}}"#,
            r#"{"nhi":{"v":1,"owner":"x","admin":true}}"#,
            r#"{"nhi":{"v":1,"owner":"x"},"other":1}"#,
            r#"{"nhi":{"v":1,"owner":"x","key":{"id":"k","created":"yesterday"}}}"#,
            r#"{"nhi":{"v":1}}"#,
            &long,
        ] {
            assert_eq!(Record::parse(Some(hostile)), None, "{hostile}");
        }
        assert_eq!(Record::parse(None), None);
    }
}
