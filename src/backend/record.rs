//! The lock object's contents: who holds a shared lock, for which plan, and
//! until when. Read back from the bucket, so hostile input.

use nhi_provider_sdk::Digest;
use serde::{Deserialize, Serialize};

/// What a lock object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRecord {
    /// Always 1.
    pub format_version: u32,
    /// The holder's session: one apply, revocation or unlock holds all its
    /// locks under one id, which `nhi unlock --lock-id` names.
    pub lock_id: String,
    /// Who holds it (the applier's principal or user).
    pub holder: String,
    /// The digest of the plan being applied; absent for a revocation or an
    /// unlock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Digest>,
    pub acquired: jiff::Timestamp,
    /// The lock is the holder's until then, unless renewed.
    pub lease_until: jiff::Timestamp,
    /// Set by the holder when it lets go: the lock is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<jiff::Timestamp>,
}

impl LockRecord {
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let record: Self =
            serde_json::from_slice(bytes).map_err(|e| format!("not a lock record: {e}"))?;
        if record.format_version != 1 {
            return Err(format!(
                "lock record format {} is not one this nhi reads",
                record.format_version
            ));
        }
        let printable = |s: &str| s.len() <= 512 && !s.chars().any(char::is_control);
        if !printable(&record.lock_id) || !printable(&record.holder) {
            return Err("a lock record whose names could steer a terminal".into());
        }
        Ok(record)
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("invariant: lock records serialise")
    }

    pub(super) fn plan_shown(&self) -> String {
        self.plan
            .map_or_else(|| "no plan".to_owned(), |p| format!("plan `{p}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::LockRecord;

    #[test]
    fn lock_records_are_hostile_input() {
        let good = r#"{"format_version":1,"lock_id":"00aa","holder":"carol@example.com","acquired":"2026-01-01T00:00:00Z","lease_until":"2026-01-01T00:01:00Z"}"#;
        let record = LockRecord::decode(good.as_bytes()).unwrap();
        assert_eq!(record.holder, "carol@example.com");
        assert_eq!(LockRecord::decode(&record.encode()).unwrap(), record);
        let cases = [
            (
                good.replace("\"format_version\":1", "\"format_version\":2"),
                "lock record format 2 is not one this nhi reads",
            ),
            (
                good.replace("carol@example.com", "carol\\u001b[2J"),
                "a lock record whose names could steer a terminal",
            ),
            (
                good.replace('}', ",\"extra\":1}"),
                "not a lock record: unknown field `extra`",
            ),
        ];
        for (text, want) in cases {
            let err = LockRecord::decode(text.as_bytes()).unwrap_err();
            assert!(err.starts_with(want), "{text}: {err}");
        }
    }
}
