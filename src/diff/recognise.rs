//! Which live key is which declared key: the receipt log's record of the keys
//! nhi minted outranks the provider's record (an AWS tag, a line in a Google
//! service account's description, a name in the local estate), which anyone
//! allowed to write tags or descriptions can forge. [`recognise`] rewrites the
//! key names of a scope's live state before the diff reads it, so the diff,
//! the plan's fingerprints and apply's stale check all see the same keys.
//! Pure: the log is read elsewhere (`crate::minted`).

use std::collections::{BTreeMap, HashMap};

use nhi_provider_sdk::{Address, ObservedState};

/// The keys nhi minted, from the signed receipts of a verified receipt log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MintedKeys {
    /// Per provider prefix and identity name: key id → the key name it was
    /// minted as. Looked up by name, so recognising a large scope allocates
    /// nothing per identity.
    by_scope: HashMap<String, HashMap<String, HashMap<String, String>>>,
    /// When the first signed receipt of the log began. A key the provider
    /// names that is older than this predates the log and keeps its name; a
    /// newer one must be in the log. `None`: the log vouches for nothing yet,
    /// so nothing is recognised (the provider's record is all there is).
    since: Option<jiff::Timestamp>,
}

impl MintedKeys {
    /// Records that a signed receipt minted key `id` at `key_address`
    /// (`…/key/<name>`); other addresses are ignored.
    pub fn record(&mut self, key_address: &Address, id: &str) {
        let (Some(identity), Some(name)) = (key_address.identity_name(), key_address.key_name())
        else {
            return;
        };
        self.by_scope
            .entry(key_address.provider_prefix().to_owned())
            .or_default()
            .entry(identity)
            .or_default()
            .insert(id.to_owned(), name);
    }

    /// The log's first signed receipt began at `at`; only the earliest counts.
    pub fn vouch_from(&mut self, at: jiff::Timestamp) {
        self.since = Some(self.since.map_or(at, |s| s.min(at)));
    }

    /// Whether the log vouches for keys at all: without a signed receipt the
    /// provider's record is unverified.
    pub fn verifies(&self) -> bool {
        self.since.is_some()
    }
}

/// Live keys the provider's record names, but nhi never minted: per identity
/// name and key id, the name the record claims. The diff reports them as
/// drift with that claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planted(BTreeMap<(String, String), String>);

/// No planted keys (a scope read without a receipt log).
pub static NO_PLANTED: Planted = Planted(BTreeMap::new());

impl Planted {
    /// The name the provider's record claims for key `id` of `identity`, when
    /// nhi never minted that key.
    pub fn claim(&self, identity: &str, id: &str) -> Option<&str> {
        if self.0.is_empty() {
            return None;
        }
        self.0
            .get(&(identity.to_owned(), id.to_owned()))
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(identity, key id, claimed name)`, by identity and id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.0
            .iter()
            .map(|((identity, id), name)| (identity.as_str(), id.as_str(), name.as_str()))
    }
}

/// Gives each live key of the scope at `prefix` the name nhi minted it as: a
/// key in the log gets its logged name whatever the provider's record says
/// (a record dropped or garbled by a console edit loses nothing); a key the
/// record names but the log does not, created after the log's first signed
/// receipt, loses the name and is returned as planted. Keys older than the log
/// keep the provider's name, and keys nobody names stay unnamed.
pub fn recognise(prefix: &Address, state: &mut ObservedState, minted: &MintedKeys) -> Planted {
    let mut planted = Planted::default();
    let Some(since) = minted.since else {
        return planted;
    };
    let scope = minted.by_scope.get(prefix.provider_prefix());
    for identity in &mut state.identities {
        if identity.keys.is_empty() {
            continue;
        }
        let logged = scope.and_then(|s| s.get(identity.identity.name.as_str()));
        for key in &mut identity.keys {
            if let Some(name) = logged.and_then(|l| l.get(&key.id)) {
                if key.name.as_deref() != Some(name.as_str()) {
                    key.name = Some(name.clone());
                }
                continue;
            }
            if key.created < since {
                continue;
            }
            if let Some(claimed) = key.name.take() {
                planted
                    .0
                    .insert((identity.identity.name.clone(), key.id.clone()), claimed);
            }
        }
    }
    planted
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{Identity, KeyStatus, ObservedIdentity, ObservedKey, Tags};

    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn key(id: &str, name: Option<&str>, created: &str) -> ObservedKey {
        ObservedKey {
            id: id.into(),
            name: name.map(Into::into),
            created: at(created),
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        }
    }

    fn state(keys: Vec<ObservedKey>) -> ObservedState {
        ObservedState {
            identities: vec![ObservedIdentity {
                identity: Identity {
                    name: "ci".into(),
                    kind: "user".into(),
                    owner: "o".into(),
                    description: String::new(),
                    tags: Tags::new(),
                    attributes: std::collections::BTreeMap::new(),
                },
                keys,
                bindings: Vec::new(),
            }],
        }
    }

    fn names(state: &ObservedState) -> Vec<(String, Option<String>)> {
        state.identities[0]
            .keys
            .iter()
            .map(|k| (k.id.clone(), k.name.clone()))
            .collect()
    }

    fn prefix() -> Address {
        Address::provider("aws", "prod")
    }

    /// A log whose first signed receipt began on 2026-06-01 and minted `minted`
    /// as `primary` of `ci`.
    fn log(minted: &[&str]) -> MintedKeys {
        let mut log = MintedKeys::default();
        log.vouch_from(at("2026-06-01T00:00:00Z"));
        for id in minted {
            log.record(&prefix().identity("ci").key("primary"), id);
        }
        log
    }

    #[test]
    fn recognition_follows_the_log_not_the_provider_record() {
        let old = "2026-01-01T00:00:00Z";
        let new = "2026-07-01T00:00:00Z";
        let newer = "2026-08-01T00:00:00Z";
        // (what the provider's record says, keys the log minted, what nhi sees, planted)
        #[allow(clippy::type_complexity)]
        let cases: &[(
            &str,
            Vec<ObservedKey>,
            &[&str],
            &[(&str, Option<&str>)],
            &[&str],
        )] = &[
            (
                "a planted key named primary by a forged record is unnamed",
                vec![
                    key("MINTED", Some("primary"), new),
                    key("PLANTED", Some("primary"), newer),
                ],
                &["MINTED"],
                &[("MINTED", Some("primary")), ("PLANTED", None)],
                &["PLANTED"],
            ),
            (
                "the record maps only the planted key to primary",
                vec![
                    key("MINTED", None, new),
                    key("PLANTED", Some("primary"), newer),
                ],
                &["MINTED"],
                &[("MINTED", Some("primary")), ("PLANTED", None)],
                &["PLANTED"],
            ),
            (
                "a record dropped by a console edit loses no name",
                vec![key("MINTED", None, new)],
                &["MINTED"],
                &[("MINTED", Some("primary"))],
                &[],
            ),
            (
                "a minted key renamed by its record keeps the minted name",
                vec![key("MINTED", Some("secondary"), new)],
                &["MINTED"],
                &[("MINTED", Some("primary"))],
                &[],
            ),
            (
                "a key older than the log keeps the provider's name",
                vec![key("OLD", Some("primary"), old)],
                &[],
                &[("OLD", Some("primary"))],
                &[],
            ),
            (
                "an unnamed key nhi never minted stays unnamed",
                vec![key("STRAY", None, newer)],
                &[],
                &[("STRAY", None)],
                &[],
            ),
        ];
        for (what, keys, minted, want, want_planted) in cases {
            let mut live = state(keys.clone());
            let planted = recognise(&prefix(), &mut live, &log(minted));
            let want: Vec<(String, Option<String>)> = want
                .iter()
                .map(|(id, name)| ((*id).to_owned(), name.map(ToOwned::to_owned)))
                .collect();
            assert_eq!(names(&live), want, "{what}");
            let found: Vec<&str> = planted.iter().map(|(_, id, _)| id).collect();
            assert_eq!(found, *want_planted, "{what}");
            for id in *want_planted {
                assert_eq!(planted.claim("ci", id), Some("primary"), "{what}");
            }
        }
    }

    #[test]
    fn a_log_without_a_signed_receipt_recognises_nothing() {
        let mut live = state(vec![key(
            "PLANTED",
            Some("primary"),
            "2026-08-01T00:00:00Z",
        )]);
        let before = live.clone();
        let mut unsigned = MintedKeys::default();
        unsigned.record(&prefix().identity("ci").key("primary"), "OTHER");
        assert!(!unsigned.verifies());
        assert!(recognise(&prefix(), &mut live, &unsigned).is_empty());
        assert_eq!(live, before);
    }

    #[test]
    fn keys_of_another_identity_or_scope_are_not_vouched_for() {
        let mut log = log(&[]);
        log.record(&prefix().identity("other").key("primary"), "PLANTED");
        log.record(
            &Address::provider("aws", "dev")
                .identity("ci")
                .key("primary"),
            "PLANTED",
        );
        let mut live = state(vec![key(
            "PLANTED",
            Some("primary"),
            "2026-08-01T00:00:00Z",
        )]);
        let planted = recognise(&prefix(), &mut live, &log);
        assert_eq!(planted.claim("ci", "PLANTED"), Some("primary"));
        assert_eq!(names(&live), [("PLANTED".to_owned(), None)]);
    }
}
