//! The diff engine: desired state × observed state → ordered changes. Pure: no I/O,
//! and the clock is an argument, so rotation and expiry are testable.

mod change;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, HashMap};

use nhi_provider_sdk::{
    Address, Binding, Digest, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, Operation,
};

pub use change::{Action, Change, Reason, Risk};

use crate::config::{Config, DesiredIdentity, DesiredKey, ProviderBlock};

/// What a diff finds in one or more scopes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// In execution order: key and binding deletes, identity deletes and replaces,
    /// identity creates and updates, then key and binding creates, updates and
    /// rotations; by address within each phase.
    pub changes: Vec<Change>,
    /// Live identities in scope that the configuration does not declare and that
    /// are not pruned: reported as drift, left alone.
    pub unmanaged: Vec<Address>,
    /// Every object a change touches (and the identity above it), with the
    /// fingerprint it had when observed, or `None` where it must not exist.
    pub touched: BTreeMap<Address, Option<Digest>>,
}

/// Live state of one provider block, as read for the diff.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub block: &'a ProviderBlock,
    pub observed: &'a ObservedState,
    /// The most keys an identity may hold at once in this scope, if limited.
    pub key_slots: Option<usize>,
    /// The attribute and value that retire an identity before it may be deleted
    /// (see `ProviderType::retire_first`): a deletion sets it first, and only an
    /// identity that already has it is deleted.
    pub retire: Option<(String, serde_json::Value)>,
}

/// Compares the configuration with what each scope holds. `scopes` must hold one
/// entry per provider block that `config` declares.
pub fn diff(config: &Config, scopes: &[Scope<'_>], now: jiff::Timestamp) -> Diff {
    let mut out = Builder {
        now,
        today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
        planned: Vec::new(),
        diff: Diff::default(),
        parent: Parent::New,
        retire: None,
    };
    for scope in scopes {
        let desired: Vec<&DesiredIdentity> = config
            .identities
            .iter()
            .filter(|d| d.provider == scope.block.name)
            .collect();
        out.scope(scope, &desired);
    }
    let mut planned = std::mem::take(&mut out.planned);
    planned.sort_by(|a, b| (a.0, &a.1.address).cmp(&(b.0, &b.1.address)));
    out.diff.changes = planned.into_iter().map(|(_, c)| c).collect();
    out.diff.unmanaged.sort();
    out.diff
}

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
            Some(name) if previous == Some(name) => identity.key(&format!("{name}#{}", key.id)),
            Some(name) => identity.key(name),
        };
        previous = key.name.as_deref();
        out.push((address, key));
    }
    out
}

/// Fingerprints of the live objects of the named identities in one scope, by
/// address: what apply compares with a plan's touched objects.
pub fn fingerprints<S: std::hash::BuildHasher>(
    prefix: &Address,
    observed: &ObservedState,
    identities: &std::collections::HashSet<&str, S>,
) -> HashMap<Address, Digest> {
    let mut out = HashMap::new();
    for have in observed
        .identities
        .iter()
        .filter(|i| identities.contains(i.identity.name.as_str()))
    {
        let address = prefix.identity(&have.identity.name);
        for (key_address, key) in key_addresses(&address, &have.keys) {
            out.insert(key_address, key.fingerprint());
        }
        for binding in &have.bindings {
            out.insert(
                address.binding(&binding.role, &binding.resource),
                nhi_provider_sdk::fingerprint(binding),
            );
        }
        out.insert(address, nhi_provider_sdk::fingerprint(&have.identity));
    }
    out
}

/// Execution phases; see [`Diff::changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    RemoveParts,
    RemoveIdentities,
    PutIdentities,
    PutParts,
}

struct Builder<'a> {
    now: jiff::Timestamp,
    today: jiff::civil::Date,
    planned: Vec<(Phase, Change)>,
    diff: Diff,
    /// Fingerprint of the live identity whose parts are being compared (`None`
    /// while it is new): a change to a part also depends on it.
    parent: Parent<'a>,
    /// The retiring attribute of the scope being compared.
    retire: Option<(String, serde_json::Value)>,
}

/// The identity above the parts being compared, fingerprinted on first use: most
/// identities have no change, and hashing every one of them is a tenth of a diff.
#[derive(Clone, Copy)]
enum Parent<'a> {
    /// New: the identity does not exist yet.
    New,
    Live(&'a nhi_provider_sdk::Identity),
    Fingerprinted(Digest),
}

impl Parent<'_> {
    fn fingerprint(&mut self) -> Option<Digest> {
        match *self {
            Parent::New => None,
            Parent::Live(identity) => {
                let digest = nhi_provider_sdk::fingerprint(identity);
                *self = Parent::Fingerprinted(digest);
                Some(digest)
            }
            Parent::Fingerprinted(digest) => Some(digest),
        }
    }
}

impl<'a> Builder<'a> {
    fn scope(&mut self, scope: &Scope<'a>, desired: &[&'a DesiredIdentity]) {
        let prefix = Address::provider(&scope.block.type_name, &scope.block.name);
        self.retire.clone_from(&scope.retire);
        let observed: HashMap<&str, &ObservedIdentity> = scope
            .observed
            .identities
            .iter()
            .map(|o| (o.identity.name.as_str(), o))
            .collect();
        for want in desired {
            let address = prefix.identity(&want.identity.name);
            let have = observed.get(want.identity.name.as_str()).copied();
            self.identity(&address, want, have, scope.key_slots);
        }
        let declared: std::collections::HashSet<&str> =
            desired.iter().map(|d| d.identity.name.as_str()).collect();
        for have in &scope.observed.identities {
            if declared.contains(have.identity.name.as_str()) {
                continue;
            }
            let address = prefix.identity(&have.identity.name);
            self.parent = Parent::Live(&have.identity);
            if scope.block.prune {
                self.remove_all(&address, have, Reason::Unmanaged);
            } else {
                self.diff.unmanaged.push(address);
            }
        }
    }

    fn identity(
        &mut self,
        address: &Address,
        want: &DesiredIdentity,
        have: Option<&'a ObservedIdentity>,
        slots: Option<usize>,
    ) {
        let expired = want.expires.is_some_and(|d| d < self.today);
        self.parent = have.map_or(Parent::New, |h| Parent::Live(&h.identity));
        match have {
            None if expired => {}
            None => {
                self.touch(address, None);
                self.push(
                    Phase::PutIdentities,
                    address.clone(),
                    Reason::New,
                    None,
                    Operation::CreateIdentity {
                        identity: want.identity.clone(),
                    },
                );
                for key in &want.keys {
                    if !self.key_expired(key) {
                        self.create_key(address, &want.identity.name, key, Reason::New);
                    }
                }
                for binding in &want.bindings {
                    self.create_binding(address, &want.identity.name, binding, Reason::New);
                }
            }
            Some(have) if expired => {
                let detail = want.expires.map(|d| format!("expired on {d}"));
                self.remove_all_with(address, have, Reason::Expired, detail);
            }
            Some(have) if have.identity.kind != want.identity.kind => {
                self.remove_parts(address, have, Reason::Drift);
                self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
                self.push(
                    Phase::RemoveIdentities,
                    address.clone(),
                    Reason::Drift,
                    Some(format!(
                        "kind changes from `{}` to `{}`",
                        have.identity.kind, want.identity.kind
                    )),
                    Operation::ReplaceIdentity {
                        before: have.identity.clone(),
                        after: want.identity.clone(),
                    },
                );
                for key in &want.keys {
                    if !self.key_expired(key) {
                        self.create_key(address, &want.identity.name, key, Reason::New);
                    }
                }
                for binding in &want.bindings {
                    self.create_binding(address, &want.identity.name, binding, Reason::New);
                }
            }
            Some(have) => {
                if have.identity != want.identity {
                    self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
                    self.push(
                        Phase::PutIdentities,
                        address.clone(),
                        Reason::Drift,
                        None,
                        Operation::UpdateIdentity {
                            before: have.identity.clone(),
                            after: want.identity.clone(),
                        },
                    );
                }
                self.keys(address, want, have, slots);
                self.bindings(address, want, have);
            }
        }
    }

    fn keys(
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
            let (reason, detail) = if key.status == KeyStatus::Inactive {
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

    fn bindings(&mut self, address: &Address, want: &DesiredIdentity, have: &ObservedIdentity) {
        let name = &want.identity.name;
        for binding in &want.bindings {
            match have.bindings.iter().find(|b| b.same_object(binding)) {
                None => self.create_binding(address, name, binding, Reason::New),
                Some(live) if live.policy != binding.policy => {
                    let binding_address = address.binding(&binding.role, &binding.resource);
                    self.touch(&binding_address, Some(nhi_provider_sdk::fingerprint(live)));
                    self.push(
                        Phase::PutParts,
                        binding_address,
                        Reason::Drift,
                        Some("the inline policy differs from the configuration".into()),
                        Operation::UpdateBinding {
                            identity: name.clone(),
                            before: live.clone(),
                            after: binding.clone(),
                        },
                    );
                }
                Some(_) => {}
            }
        }
        for live in &have.bindings {
            if !want.bindings.iter().any(|b| b.same_object(live)) {
                self.delete_binding(
                    address,
                    name,
                    live,
                    Reason::Drift,
                    Some("not declared in the configuration".into()),
                );
            }
        }
    }

    fn key_expired(&self, key: &DesiredKey) -> bool {
        key.expires.is_some_and(|d| d < self.today)
    }

    fn create_key(&mut self, address: &Address, identity: &str, key: &DesiredKey, reason: Reason) {
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

    fn create_binding(
        &mut self,
        address: &Address,
        identity: &str,
        binding: &Binding,
        reason: Reason,
    ) {
        let binding_address = address.binding(&binding.role, &binding.resource);
        self.touch(&binding_address, None);
        self.push(
            Phase::PutParts,
            binding_address,
            reason,
            None,
            Operation::CreateBinding {
                identity: identity.to_owned(),
                binding: binding.clone(),
            },
        );
    }

    fn delete_key(
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

    fn delete_binding(
        &mut self,
        address: &Address,
        identity: &str,
        binding: &Binding,
        reason: Reason,
        detail: Option<String>,
    ) {
        let binding_address = address.binding(&binding.role, &binding.resource);
        self.touch(
            &binding_address,
            Some(nhi_provider_sdk::fingerprint(binding)),
        );
        self.push(
            Phase::RemoveParts,
            binding_address,
            reason,
            detail,
            Operation::DeleteBinding {
                identity: identity.to_owned(),
                binding: binding.clone(),
            },
        );
    }

    /// Deletes the keys and bindings an identity holds.
    fn remove_parts(&mut self, address: &Address, have: &ObservedIdentity, reason: Reason) {
        let name = &have.identity.name;
        for (key_address, key) in key_addresses(address, &have.keys) {
            self.delete_key(&key_address, name, key, reason, None);
        }
        for binding in &have.bindings {
            self.delete_binding(address, name, binding, reason, None);
        }
    }

    fn remove_all(&mut self, address: &Address, have: &ObservedIdentity, reason: Reason) {
        self.remove_all_with(
            address,
            have,
            reason,
            Some("in scope but not declared, and the provider block prunes".into()),
        );
    }

    fn remove_all_with(
        &mut self,
        address: &Address,
        have: &ObservedIdentity,
        reason: Reason,
        detail: Option<String>,
    ) {
        if let Some((name, value)) = &self.retire
            && have.identity.attributes.get(name) != Some(value)
        {
            let mut after = have.identity.clone();
            after.attributes.insert(name.clone(), value.clone());
            let detail = format!(
                "{}; retired first (`{name}: {value}`), deleted by a later plan",
                detail.as_deref().unwrap_or("to be deleted")
            );
            self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
            self.push(
                Phase::PutIdentities,
                address.clone(),
                reason,
                Some(detail),
                Operation::UpdateIdentity {
                    before: have.identity.clone(),
                    after,
                },
            );
            return;
        }
        self.remove_parts(address, have, reason);
        self.touch(address, Some(nhi_provider_sdk::fingerprint(&have.identity)));
        self.push(
            Phase::RemoveIdentities,
            address.clone(),
            reason,
            detail,
            Operation::DeleteIdentity {
                identity: have.identity.clone(),
            },
        );
    }

    fn touch(&mut self, address: &Address, fingerprint: Option<Digest>) {
        self.diff
            .touched
            .entry(address.clone())
            .or_insert(fingerprint);
        // A change below an identity also depends on the identity itself being as observed.
        let parent = address.identity_of();
        if parent != *address
            && let std::collections::btree_map::Entry::Vacant(slot) =
                self.diff.touched.entry(parent)
        {
            slot.insert(self.parent.fingerprint());
        }
    }

    fn push(
        &mut self,
        phase: Phase,
        address: Address,
        reason: Reason,
        detail: Option<String>,
        operation: Operation,
    ) {
        let (action, risk) = (Action::of(&operation), Risk::of(&operation));
        self.planned.push((
            phase,
            Change {
                address,
                action,
                reason,
                risk,
                detail,
                operation,
                sink: None,
            },
        ));
    }
}
