//! The diff engine: desired state × observed state → ordered changes. Pure: no I/O,
//! and the clock is an argument, so rotation and expiry are testable.
//!
//! [`diff()`] walks each scope's identities (`identities`), then their keys
//! (`keys`) and bindings (`bindings`); every change records the fingerprints of
//! what it touches, which apply compares with [`fingerprints()`] of live state.

mod bindings;
mod change;
mod fingerprints;
mod identities;
mod keys;
mod narrowing;
mod recognise;
mod risk;
mod select;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use nhi_provider_sdk::{Address, Digest, ObservedIdentity, ObservedState, Operation};

pub use change::{Action, Change, Reason};
pub use fingerprints::fingerprints;
pub use keys::key_addresses;
pub use recognise::{MintedKeys, NO_PLANTED, Planted, recognise};
pub use risk::Risk;
pub use select::{Request, SelectError, Selected, check_request, select, selected};

use crate::config::{Config, DesiredIdentity, ProviderBlock};

/// What a diff finds in one or more scopes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// In execution order: key and binding deletes, identity deletes and replaces,
    /// identity creates and updates, key and binding creates, updates and
    /// rotations, then the deletes of live keys a new key replaces (created
    /// first, so nothing using the old key breaks); by address within each phase.
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
    /// Live keys the provider's record names but the receipt log does not
    /// ([`recognise`]): reported as drift with the name they claim.
    pub planted: &'a Planted,
}

/// Compares the configuration with what each scope holds. `scopes` must hold one
/// entry per provider block that `config` declares.
pub fn diff(config: &Config, scopes: &[Scope<'_>], now: jiff::Timestamp) -> Diff {
    static NOTHING: BTreeSet<Address> = BTreeSet::new();
    diff_replacing(config, scopes, now, &NOTHING)
}

/// [`diff()`], with the keys and identities at `replace` (`nhi plan --replace`,
/// checked by [`check_request`]) rotated or replaced although nothing else calls
/// for it.
pub fn diff_replacing(
    config: &Config,
    scopes: &[Scope<'_>],
    now: jiff::Timestamp,
    replace: &BTreeSet<Address>,
) -> Diff {
    let mut out = Builder {
        now,
        today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
        planned: Vec::new(),
        diff: Diff::default(),
        parent: Parent::New,
        retire: None,
        planted: &NO_PLANTED,
        replace,
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

/// Execution phases; see [`Diff::changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    RemoveParts,
    RemoveIdentities,
    PutIdentities,
    PutParts,
    /// Deletes that wait for a replacement to exist: a live key that a declared
    /// key with no live match replaces, an adopted key after its rotation.
    RetireParts,
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
    /// The planted keys of the scope being compared.
    planted: &'a Planted,
    /// Keys and identities to rotate or replace on request (`--replace`).
    replace: &'a BTreeSet<Address>,
}

impl Builder<'_> {
    /// Whether `--replace` names this key or identity.
    fn replace_requested(&self, address: &Address) -> bool {
        !self.replace.is_empty() && self.replace.contains(address)
    }
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
        self.planted = scope.planted;
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
