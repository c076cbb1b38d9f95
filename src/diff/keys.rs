//! Keys: how live keys are addressed, which declared key each live key is (by
//! name, or by the id a declared key adopts), and which are created, rotated
//! (within the identity's key slots), deactivated or deleted, and when a key
//! rotated with a grace period (`retire_after`) is deleted.

use nhi_provider_sdk::{Address, Age, KeyStatus, ObservedIdentity, ObservedKey, Operation};

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
    // Of two keys created in the same instant the active one is current: the
    // old key of a rotation kept inactive for its grace period is not.
    sorted.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(b.created.cmp(&a.created))
            .then(a.status.cmp(&b.status))
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

/// A key of the declared identity: one that carries its name, or one whose id a
/// declared key adopts (`adopt:`) when no live key carries that key's name.
fn declared_as<'w>(
    want: &'w DesiredIdentity,
    have: &ObservedIdentity,
    key: &ObservedKey,
) -> Option<(&'w DesiredKey, bool)> {
    if let Some(name) = key.name.as_deref()
        && let Some(spec) = want.keys.iter().find(|k| k.name == name)
    {
        return Some((spec, false));
    }
    want.keys
        .iter()
        .find(|spec| {
            spec.adopt.as_deref() == Some(key.id.as_str())
                && !have
                    .keys
                    .iter()
                    .any(|k| k.name.as_deref() == Some(spec.name.as_str()))
        })
        .map(|spec| (spec, true))
}

/// The most time before its cloud-set expiry that a key is rotated.
const EXPIRY_MARGIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// The day from which a plan deletes the old key of a rotation at `rotated`.
fn retire_day(rotated: jiff::Timestamp, grace: Age) -> jiff::civil::Date {
    rotated
        .checked_add(grace.as_duration())
        .unwrap_or(rotated)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// An old key of a rotation with a grace period.
enum Retiring {
    /// Within its grace period: kept.
    Waiting,
    /// Past it: deleted, for this reason.
    Due(String),
}

/// A live key planned for deletion, and why.
struct Unwanted<'k> {
    address: Address,
    key: &'k ObservedKey,
    reason: Reason,
    detail: String,
    /// Not declared at all: what a new declared key may replace, deleted after
    /// it is created when the key slots allow both at once.
    undeclared: bool,
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
        let mut unwanted = Vec::new();
        let mut adopted_names = Vec::new();
        // Old keys inactive within their grace period: kept, unless a rotation
        // needs their key slot.
        let mut waiting = Vec::new();
        for (key_address, key) in key_addresses(address, &have.keys) {
            let Some((spec, adopted)) = declared_as(want, have, key) else {
                let (reason, detail) = match (&key.leaked, self.planted.claim(name, &key.id)) {
                    (Some(leaked), _) => (
                        Reason::Leaked,
                        format!("{leaked}; not declared in the configuration"),
                    ),
                    (None, Some(claimed)) => (
                        Reason::Drift,
                        format!(
                            "named `{claimed}` by the provider's record, but nhi never minted it (not in the receipt log)"
                        ),
                    ),
                    (None, None) => (Reason::Drift, "not declared in the configuration".into()),
                };
                unwanted.push(Unwanted {
                    address: key_address,
                    key,
                    reason,
                    detail,
                    undeclared: true,
                });
                continue;
            };
            if adopted {
                adopted_names.push(spec.name.as_str());
            }
            if !adopted && key_address != address.key(&spec.name) {
                // An older key under a declared name: only the newest one is current.
                let (reason, detail) = match self.retiring(spec, have, key) {
                    Some(Retiring::Waiting) => {
                        waiting.push((key_address, key));
                        continue;
                    }
                    Some(Retiring::Due(detail)) => (Reason::RotationDue, detail),
                    None => (
                        Reason::Drift,
                        format!("a second live key named `{}`", spec.name),
                    ),
                };
                unwanted.push(Unwanted {
                    address: key_address,
                    key,
                    reason,
                    detail,
                    undeclared: false,
                });
                continue;
            }
            if self.key_expired(spec) {
                let detail = spec
                    .expires
                    .map(|d| format!("expired on {d}"))
                    .unwrap_or_default();
                unwanted.push(Unwanted {
                    address: key_address,
                    key,
                    reason: Reason::Expired,
                    detail,
                    undeclared: false,
                });
                continue;
            }
            if spec.status == KeyStatus::Inactive {
                // Declared inactive: kept, never rotated, so that it stays as
                // evidence; only a live active key changes.
                if key.status == KeyStatus::Active {
                    self.deactivate_key(&key_address, name, key);
                }
                continue;
            }
            let age = self.now.duration_since(key.created);
            let due = spec.rotate_after.filter(|limit| age >= limit.as_duration());
            let (reason, detail) = if let Some(leaked) = &key.leaked {
                (
                    Reason::Leaked,
                    format!("{leaked}; a new key replaces it whatever its age"),
                )
            } else if self.replace_requested(&key_address) {
                (Reason::ReplaceRequested, "replace requested".to_owned())
            } else if let Some(expires) = key.expires.filter(|t| *t <= self.now) {
                (
                    Reason::Expired,
                    format!(
                        "the cloud expired the key at {expires}; a new key replaces it and the \
                         dead one is deleted"
                    ),
                )
            } else if key.status == KeyStatus::Inactive {
                (
                    Reason::Drift,
                    "the live key is inactive; a new active key replaces it and the inactive \
                     one is deleted (declare `status: inactive` to keep it)"
                        .to_owned(),
                )
            } else if let Some((expires, margin)) = self.expiring(key) {
                (
                    Reason::RotationDue,
                    format!(
                        "the cloud expires the key at {expires}; it is rotated once {margin:#} \
                         or less of its validity remain (a fifth of it, at most 7 days)"
                    ),
                )
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
            rotations.push((key_address, key, spec, adopted, reason, detail));
        }
        let missing: Vec<&DesiredKey> = want
            .keys
            .iter()
            .filter(|spec| {
                // A key declared inactive is never created only to be deactivated.
                spec.status == KeyStatus::Active
                    && !self.key_expired(spec)
                    && !adopted_names.contains(&spec.name.as_str())
                    && !have
                        .keys
                        .iter()
                        .any(|k| k.name.as_deref() == Some(spec.name.as_str()))
            })
            .collect();
        // A declared key with no live match replaces the undeclared live keys:
        // created first, so whatever uses the old key keeps working until the
        // new one is delivered, if the key slots hold both at once.
        let deferrable = if missing.is_empty() {
            0
        } else {
            unwanted.iter().filter(|u| u.undeclared).count()
        };
        let removed_first = unwanted.len() - deferrable;
        let in_use = have.keys.len() - removed_first + missing.len();
        let defer = deferrable > 0 && slots.is_none_or(|s| in_use <= s);
        let created: Vec<String> = missing
            .iter()
            .map(|spec| format!("`{}`", address.key(&spec.name)))
            .collect();
        for u in unwanted {
            let detail = match (u.undeclared && !missing.is_empty(), defer) {
                (true, true) => format!(
                    "{}; deleted after {} is created",
                    u.detail,
                    created.join(", ")
                ),
                (true, false) => format!(
                    "{}; every key slot is in use ({} at most), so it is deleted before {} is created",
                    u.detail,
                    slots.unwrap_or_default(),
                    created.join(", ")
                ),
                _ => u.detail,
            };
            let phase = if u.undeclared && defer {
                Phase::RetireParts
            } else {
                Phase::RemoveParts
            };
            let detail = (!detail.is_empty()).then_some(detail);
            self.delete_key_in(phase, &u.address, name, u.key, u.reason, detail);
        }
        // A rotation needs a free slot for the new key while the old one lives.
        let in_use = if defer {
            in_use
        } else {
            have.keys.len() - removed_first - deferrable + missing.len()
        };
        let mut free = slots.map_or(usize::MAX, |s| s.saturating_sub(in_use));
        let mut waiting = waiting.into_iter();
        for (key_address, key, spec, adopted, reason, detail) in rotations {
            if free == 0
                && let Some((old_address, old)) = waiting.next()
            {
                let early = format!(
                    "inactive since its rotation; deleted before its grace period ends: every \
                     key slot is in use ({} at most) and `{key_address}` is rotated",
                    slots.unwrap_or_default()
                );
                self.delete_key(&old_address, name, old, Reason::RotationDue, Some(early));
                free += 1;
            }
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
            if adopted {
                // The new key carries the name; the adopted one, addressed by
                // its id as apply addresses it, goes once the new one exists.
                let new_address = address.key(&spec.name);
                let retire = format!("{detail}; deleted after `{new_address}` is created");
                self.create_key(address, name, spec, reason);
                if let Some(last) = self.planned.last_mut() {
                    last.1.detail = Some(format!(
                        "{detail}; replaces the adopted key `{}`, deleted after it",
                        key.id
                    ));
                }
                self.delete_key_in(
                    Phase::RetireParts,
                    &key_address,
                    name,
                    key,
                    reason,
                    Some(retire),
                );
                continue;
            }
            // A grace period keeps the old key, deactivated, unless it is the
            // inactive key a new one replaces.
            // A leaked key gets no grace period: deleted once its successor exists.
            let deactivate_old = spec.retire_after.is_some()
                && key.status == KeyStatus::Active
                && reason != Reason::Leaked;
            let detail = match spec.retire_after {
                Some(grace) if deactivate_old => format!(
                    "{detail}; the old key is deactivated, and deleted by the first plan from {} \
                     (retire_after is {grace})",
                    retire_day(self.now, grace)
                ),
                _ => detail,
            };
            self.touch(&key_address, Some(key.fingerprint()));
            self.push(
                Phase::PutParts,
                key_address,
                reason,
                Some(detail),
                Operation::RotateKey {
                    identity: name.clone(),
                    key: spec.name.clone(),
                    old: key.clone(),
                    deactivate_old,
                },
            );
            if let Some(last) = self.planned.last_mut() {
                last.1.sink = Some(spec.sink.clone());
            }
        }
        for spec in missing {
            self.create_key(address, name, spec, Reason::New);
            if deferrable > 0
                && let Some(last) = self.planned.last_mut()
            {
                last.1.detail = Some(if defer {
                    "created before the live key it replaces is deleted".to_owned()
                } else {
                    "created after the live key it replaces is deleted: every key slot is in use"
                        .to_owned()
                });
            }
        }
    }

    /// Whether `key`, an older live key under `spec`'s name, is the inactive old
    /// key of a rotation with a grace period, and whether the grace period is
    /// over: it is once the newest key of the name is `retire_after` old.
    fn retiring(
        &self,
        spec: &DesiredKey,
        have: &ObservedIdentity,
        key: &ObservedKey,
    ) -> Option<Retiring> {
        let grace = spec.retire_after?;
        if key.status != KeyStatus::Inactive {
            return None;
        }
        let newest = have
            .keys
            .iter()
            .filter(|k| k.name.as_deref() == Some(spec.name.as_str()))
            .map(|k| k.created)
            .max()?;
        let age = self.now.duration_since(newest);
        if age < grace.as_duration() {
            return Some(Retiring::Waiting);
        }
        Some(Retiring::Due(format!(
            "inactive since its rotation {} days ago; retire_after is {grace}",
            age.as_secs() / 86_400
        )))
    }

    fn deactivate_key(&mut self, key_address: &Address, identity: &str, key: &ObservedKey) {
        self.touch(key_address, Some(key.fingerprint()));
        self.push(
            Phase::PutParts,
            key_address.clone(),
            Reason::Status,
            Some("declared `status: inactive`; the key is kept".to_owned()),
            Operation::DeactivateKey {
                identity: identity.to_owned(),
                key: key.clone(),
            },
        );
    }

    /// The expiry a live key's cloud set for it and the margin it is rotated
    /// within, when it is that close: a fifth of its validity, at most
    /// [`EXPIRY_MARGIN`]. A fifth, not a fixed time, so that a key valid for
    /// an hour (the least `iam.serviceAccountKeyExpiryHours` allows) is never
    /// due the moment it is created; at most a week, so that a key valid for a
    /// year is not replaced months early.
    fn expiring(&self, key: &ObservedKey) -> Option<(jiff::Timestamp, jiff::SignedDuration)> {
        let expires = key.expires?;
        let validity = expires.duration_since(key.created);
        let margin = validity
            .checked_div(5)
            .unwrap_or_default()
            .min(EXPIRY_MARGIN);
        (expires.duration_since(self.now) <= margin).then_some((expires, margin))
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
        self.delete_key_in(
            Phase::RemoveParts,
            key_address,
            identity,
            key,
            reason,
            detail,
        );
    }

    fn delete_key_in(
        &mut self,
        phase: Phase,
        key_address: &Address,
        identity: &str,
        key: &ObservedKey,
        reason: Reason,
        detail: Option<String>,
    ) {
        self.touch(key_address, Some(key.fingerprint()));
        self.push(
            phase,
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
