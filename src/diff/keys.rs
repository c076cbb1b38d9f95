//! Keys: how live keys are addressed, and which are created, rotated (within the
//! identity's key slots) or deleted.

use nhi_provider_sdk::{Address, KeyStatus, ObservedIdentity, ObservedKey, Operation};

use super::{Builder, Phase, Reason};
use crate::config::{DesiredIdentity, DesiredKey};

/// Addresses of an identity's live keys: `key/<name>` for the newest key of each
/// name, `key/<name>#<id>` for older keys of the same name, `key/<id>` for keys
/// without a name. The diff and apply's stale check both address keys this way.
pub fn key_addresses<'a>(
    identity: &Address,
    keys: &'a [ObservedKey],
) -> Vec<(Address, &'a ObservedKey)> {
    let mut sorted: Vec<&ObservedKey> = keys.iter().collect();
    // Newest first within each name; unnamed keys sort first and are addressed by id.
    sorted.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(b.created.cmp(&a.created))
            .then(a.id.cmp(&b.id))
    });
    let mut out = Vec::with_capacity(sorted.len());
    let mut previous: Option<&str> = None;
    for key in sorted {
        let address = match key.name.as_deref() {
            None => identity.key(&key.id),
            Some(name) if previous == Some(name) => identity.key_instance(name, &key.id),
            Some(name) => identity.key(name),
        };
        previous = key.name.as_deref();
        out.push((address, key));
    }
    out
}

impl Builder<'_> {
    pub(super) fn keys(
        &mut self,
        address: &Address,
        want: &DesiredIdentity,
        have: &ObservedIdentity,
        slots: Option<usize>,
    ) {
        let name = &want.identity.name;
        let mut rotations = Vec::new();
        let mut deleted = 0;
        for (key_address, key) in key_addresses(address, &have.keys) {
            let declared = key
                .name
                .as_deref()
                .and_then(|n| want.keys.iter().find(|k| k.name == n));
            let Some(spec) = declared else {
                self.delete_key(
                    &key_address,
                    name,
                    key,
                    Reason::Drift,
                    Some("not declared in the configuration".into()),
                );
                deleted += 1;
                continue;
            };
            if key_address != address.key(&spec.name) {
                // An older key under a declared name: only the newest one is current.
                self.delete_key(
                    &key_address,
                    name,
                    key,
                    Reason::Drift,
                    Some(format!("a second live key named `{}`", spec.name)),
                );
                deleted += 1;
                continue;
            }
            if self.key_expired(spec) {
                let detail = spec.expires.map(|d| format!("expired on {d}"));
                self.delete_key(&key_address, name, key, Reason::Expired, detail);
                deleted += 1;
                continue;
            }
            let age = self.now.duration_since(key.created);
            let due = spec.rotate_after.filter(|limit| age >= limit.as_duration());
            let (reason, detail) = if self.replace_requested(&key_address) {
                (Reason::ReplaceRequested, "replace requested".to_owned())
            } else if key.status == KeyStatus::Inactive {
                (Reason::Drift, "the live key is inactive".to_owned())
            } else if let Some(limit) = due {
                (
                    Reason::RotationDue,
                    format!(
                        "key is {} days old; rotate_after is {limit}",
                        age.as_secs() / 86_400
                    ),
                )
            } else {
                continue;
            };
            rotations.push((key_address, key, spec, reason, detail));
        }
        let missing: Vec<&DesiredKey> = want
            .keys
            .iter()
            .filter(|spec| {
                !self.key_expired(spec)
                    && !have
                        .keys
                        .iter()
                        .any(|k| k.name.as_deref() == Some(spec.name.as_str()))
            })
            .collect();
        // A rotation needs a free slot for the new key while the old one lives.
        let in_use = have.keys.len() - deleted + missing.len();
        let free = slots.map_or(usize::MAX, |s| s.saturating_sub(in_use));
        for (key_address, key, spec, reason, detail) in rotations {
            self.touch(&key_address, Some(key.fingerprint()));
            if free == 0 {
                let detail = format!(
                    "{detail}; every key slot is in use ({} at most), so the old key is deleted before its replacement is created",
                    slots.unwrap_or_default()
                );
                self.delete_key(&key_address, name, key, reason, Some(detail.clone()));
                self.create_key(address, name, spec, reason);
                if let Some(last) = self.planned.last_mut() {
                    last.1.detail = Some(detail);
                }
                continue;
            }
            self.push(
                Phase::PutParts,
                key_address,
                reason,
                Some(detail),
                Operation::RotateKey {
                    identity: name.clone(),
                    key: spec.name.clone(),
                    old: key.clone(),
                },
            );
            if let Some(last) = self.planned.last_mut() {
                last.1.sink = Some(spec.sink.clone());
            }
        }
        for spec in missing {
            self.create_key(address, name, spec, Reason::New);
        }
    }

    pub(super) fn key_expired(&self, key: &DesiredKey) -> bool {
        key.expires.is_some_and(|d| d < self.today)
    }

    pub(super) fn create_key(
        &mut self,
        address: &Address,
        identity: &str,
        key: &DesiredKey,
        reason: Reason,
    ) {
        let key_address = address.key(&key.name);
        self.touch(&key_address, None);
        self.push(
            Phase::PutParts,
            key_address,
            reason,
            None,
            Operation::CreateKey {
                identity: identity.to_owned(),
                key: key.name.clone(),
            },
        );
        if let Some(last) = self.planned.last_mut() {
            last.1.sink = Some(key.sink.clone());
        }
    }

    pub(super) fn delete_key(
        &mut self,
        key_address: &Address,
        identity: &str,
        key: &ObservedKey,
        reason: Reason,
        detail: Option<String>,
    ) {
        self.touch(key_address, Some(key.fingerprint()));
        self.push(
            Phase::RemoveParts,
            key_address.clone(),
            reason,
            detail,
            Operation::DeleteKey {
                identity: identity.to_owned(),
                key: key.clone(),
            },
        );
    }
}
