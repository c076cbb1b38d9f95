//! `nhi plan --target` and `--replace`: which addresses a request may name, and
//! which changes a partial plan keeps (what is named and what it must have
//! first). Planning skips all of it when neither flag is given.

use std::collections::{BTreeSet, HashSet};

use nhi_provider_sdk::{Address, Operation};

use super::keys::key_addresses;
use super::{Action, Diff, Reason, Scope};
use crate::config::{Config, did_you_mean, quote};

/// What `nhi plan` was asked beyond the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `--target`: plan only these objects and what they depend on; empty: all.
    pub targets: BTreeSet<Address>,
    /// `--replace`: keys to rotate and identities to replace.
    pub replace: BTreeSet<Address>,
}

impl Request {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.replace.is_empty()
    }
}

/// What the selection kept out of the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selected {
    /// Changes the configuration calls for that the plan does not hold.
    pub left_out: u64,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SelectError {
    #[error("`--target {address}` names nothing in the configuration or in live state")]
    #[diagnostic(code(nhi::plan::unknown_target), help("{help}"))]
    UnknownTarget { address: String, help: String },
    #[error("`--replace {address}` names no live key or identity")]
    #[diagnostic(code(nhi::plan::unknown_replace), help("{help}"))]
    UnknownReplace { address: String, help: String },
    #[error("`--replace {address}` cannot be replaced: {detail}")]
    #[diagnostic(
        code(nhi::plan::cannot_replace),
        help(
            "`--replace` takes a live key or identity the configuration declares, whose plan would otherwise keep it"
        )
    )]
    CannotReplace { address: String, detail: String },
}

const ADDRESS_HELP: &str = "addresses are those `nhi plan` shows: `<type>.<provider>/identity/<name>`, followed by `/key/<name>` or `/binding/<role>`";

/// Every address a request names must name something: a target anything the
/// configuration declares or a scope holds, a replacement a live key or
/// identity the configuration declares (in a scope whose provider can replace
/// identities: `replaces` answers for a scope's prefix).
pub fn check_request(
    config: &Config,
    scopes: &[Scope<'_>],
    request: &Request,
    replaces: &dyn Fn(&str) -> bool,
) -> Result<(), SelectError> {
    for target in &request.targets {
        if !names_something(config, scopes, target) {
            // Every address is listed only for a suggestion, once planning fails.
            return Err(SelectError::UnknownTarget {
                address: shown(target),
                help: suggest(target, &known_addresses(config, scopes)),
            });
        }
    }
    if request.replace.is_empty() {
        return Ok(());
    }
    let (live, declared) = replaceable(config, scopes);
    for address in &request.replace {
        if !live.contains(address) {
            let help = match suggest_among(address, &live) {
                Some(close) => format!("did you mean {}?", quote(&close)),
                None => "`--replace` takes the address of a live key (`.../key/<name>`) or identity, as `nhi plan` shows it".into(),
            };
            return Err(SelectError::UnknownReplace {
                address: shown(address),
                help,
            });
        }
        let cannot = |detail: &str| SelectError::CannotReplace {
            address: shown(address),
            detail: detail.to_owned(),
        };
        if !declared.contains(address) {
            return Err(cannot(
                "the configuration does not declare it, so nothing would take its place",
            ));
        }
        let identity = *address == address.identity_of();
        if identity && !replaces(address.provider_prefix()) {
            return Err(cannot(&format!(
                "the provider of `{}` cannot replace an identity",
                address.provider_prefix()
            )));
        }
    }
    Ok(())
}

/// Keeps the changes a request selects, and checks that every requested
/// replacement is planned. Without targets every change is kept.
pub fn select(diff: &mut Diff, request: &Request) -> Result<Selected, SelectError> {
    for address in &request.replace {
        let planned = diff
            .changes
            .iter()
            .any(|c| c.address == *address && c.reason == Reason::ReplaceRequested);
        if !planned {
            let detail = match diff.changes.iter().find(|c| c.address == *address) {
                Some(c) => format!("the plan already has it {} ({})", c.action.verb(), c.reason),
                None => "it is expired or not current, and the plan leaves it as it is".into(),
            };
            return Err(SelectError::CannotReplace {
                address: shown(address),
                detail,
            });
        }
    }
    if request.targets.is_empty() {
        return Ok(Selected::default());
    }
    let wanted: BTreeSet<&Address> = request.targets.iter().chain(&request.replace).collect();
    let keep = selected(&diff.changes, &wanted);
    let before = diff.changes.len();
    let mut kept_changes = Vec::with_capacity(keep.iter().filter(|k| **k).count());
    for (change, keep) in std::mem::take(&mut diff.changes).into_iter().zip(keep) {
        if keep {
            kept_changes.push(change);
        }
    }
    diff.changes = kept_changes;
    let mut touched: HashSet<Address> = HashSet::new();
    for change in &diff.changes {
        let identity = change.address.identity_of();
        if matches!(
            change.operation,
            Operation::DeleteIdentity { .. } | Operation::ReplaceIdentity { .. }
        ) {
            touched.insert(identity.holdings());
        }
        touched.insert(identity);
        touched.insert(change.address.clone());
    }
    diff.touched.retain(|address, _| touched.contains(address));
    Ok(Selected {
        left_out: (before - diff.changes.len()) as u64,
    })
}

/// Which changes `wanted` selects: everything under a wanted identity; a wanted
/// key or binding; and what a wanted key or binding needs first (its
/// identity's creation, or its identity's whole replacement, which removes and
/// recreates what the identity holds).
pub fn selected(changes: &[super::Change], wanted: &BTreeSet<&Address>) -> Vec<bool> {
    // Identities' own changes by address: a plan checked on decode may name
    // many targets.
    let identity_changes: std::collections::HashMap<&Address, Action> = changes
        .iter()
        .filter(|c| {
            matches!(
                c.operation,
                Operation::CreateIdentity { .. }
                    | Operation::UpdateIdentity { .. }
                    | Operation::ReplaceIdentity { .. }
                    | Operation::DeleteIdentity { .. }
            )
        })
        .map(|c| (&c.address, c.action))
        .collect();
    let identity_change = |identity: &Address| identity_changes.get(identity).copied();
    let mut whole: HashSet<Address> = HashSet::new();
    let mut created: HashSet<Address> = HashSet::new();
    for address in wanted {
        let identity = address.identity_of();
        if **address == identity {
            whole.insert(identity);
            continue;
        }
        match identity_change(&identity) {
            Some(Action::Replace) => {
                whole.insert(identity);
            }
            Some(Action::Create) => {
                created.insert(identity);
            }
            _ => {}
        }
    }
    changes
        .iter()
        .map(|c| {
            wanted.contains(&c.address)
                || created.contains(&c.address)
                || (!whole.is_empty() && whole.contains(&c.address.identity_of()))
        })
        .collect()
}

/// Whether the configuration or a scope names `target`: found by its identity,
/// so that a large estate is not listed for a few targets.
fn names_something(config: &Config, scopes: &[Scope<'_>], target: &Address) -> bool {
    let identity = target.identity_of();
    let Some(name) = identity.identity_name() else {
        return false;
    };
    let Some(scope) = scopes.iter().find(|s| {
        Address::provider(&s.block.type_name, &s.block.name).as_str() == target.provider_prefix()
    }) else {
        return false;
    };
    let want = config
        .identities
        .iter()
        .find(|d| d.provider == scope.block.name && d.identity.name == name);
    let have = scope
        .observed
        .identities
        .iter()
        .find(|o| o.identity.name == name);
    if *target == identity {
        return want.is_some() || have.is_some();
    }
    let declared = want.is_some_and(|w| {
        w.keys.iter().any(|k| identity.key(&k.name) == *target)
            || w.bindings
                .iter()
                .any(|b| identity.binding(&b.role, &b.resource) == *target)
    });
    declared
        || have.is_some_and(|h| {
            key_addresses(&identity, &h.keys)
                .iter()
                .any(|(a, _)| a == target)
                || h.bindings
                    .iter()
                    .any(|b| identity.binding(&b.role, &b.resource) == *target)
        })
}

/// Every address the configuration or a scope names.
fn known_addresses(config: &Config, scopes: &[Scope<'_>]) -> HashSet<Address> {
    let mut known = HashSet::new();
    for scope in scopes {
        let prefix = Address::provider(&scope.block.type_name, &scope.block.name);
        for want in config
            .identities
            .iter()
            .filter(|d| d.provider == scope.block.name)
        {
            let identity = prefix.identity(&want.identity.name);
            known.extend(want.keys.iter().map(|k| identity.key(&k.name)));
            known.extend(
                want.bindings
                    .iter()
                    .map(|b| identity.binding(&b.role, &b.resource)),
            );
            known.insert(identity);
        }
        for have in &scope.observed.identities {
            let identity = prefix.identity(&have.identity.name);
            known.extend(
                key_addresses(&identity, &have.keys)
                    .into_iter()
                    .map(|(a, _)| a),
            );
            known.extend(
                have.bindings
                    .iter()
                    .map(|b| identity.binding(&b.role, &b.resource)),
            );
            known.insert(identity);
        }
    }
    known
}

/// Live keys and identities, and those of them the configuration declares.
fn replaceable(config: &Config, scopes: &[Scope<'_>]) -> (HashSet<Address>, HashSet<Address>) {
    let mut live = HashSet::new();
    let mut declared = HashSet::new();
    for scope in scopes {
        let prefix = Address::provider(&scope.block.type_name, &scope.block.name);
        let wants: std::collections::HashMap<&str, &crate::config::DesiredIdentity> = config
            .identities
            .iter()
            .filter(|d| d.provider == scope.block.name)
            .map(|d| (d.identity.name.as_str(), d))
            .collect();
        for have in &scope.observed.identities {
            let identity = prefix.identity(&have.identity.name);
            let want = wants.get(have.identity.name.as_str());
            for (address, _) in key_addresses(&identity, &have.keys) {
                let is_declared =
                    want.is_some_and(|w| w.keys.iter().any(|k| identity.key(&k.name) == address));
                if is_declared {
                    declared.insert(address.clone());
                }
                live.insert(address);
            }
            if want.is_some() {
                declared.insert(identity.clone());
            }
            live.insert(identity);
        }
    }
    (live, declared)
}

/// A did-you-mean for an address that names nothing, or what addresses look like.
fn suggest(address: &Address, known: &HashSet<Address>) -> String {
    match suggest_among(address, known) {
        Some(close) => format!("did you mean {}?", quote(&close)),
        None => ADDRESS_HELP.to_owned(),
    }
}

/// The closest known address, compared part by part so that long addresses
/// and large estates stay cheap: the provider, then the identity's name, then
/// what follows it.
fn suggest_among(address: &Address, known: &HashSet<Address>) -> Option<String> {
    let text = address.as_str();
    let identity = address.identity_of();
    let rest = &text[identity.as_str().len().min(text.len())..];
    let prefix = address.provider_prefix();
    let mut prefixes: Vec<&str> = known.iter().map(Address::provider_prefix).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    if !prefixes.contains(&prefix) {
        let close = did_you_mean(prefix, prefixes.iter().copied())?;
        return Some(format!("{close}{}", &text[prefix.len()..]));
    }
    if known.contains(&identity) {
        let mut tails: Vec<&str> = known
            .iter()
            .filter(|k| k.identity_of() == identity && **k != identity)
            .map(|k| &k.as_str()[identity.as_str().len()..])
            .collect();
        tails.sort_unstable();
        let tail = did_you_mean(rest, tails.iter().copied())?;
        return Some(format!("{identity}{tail}"));
    }
    let head = format!("{prefix}/identity/");
    let name = identity.as_str().strip_prefix(&head)?;
    let mut names: Vec<&str> = known
        .iter()
        .filter(|k| k.identity_of() == **k)
        .filter_map(|k| k.as_str().strip_prefix(&head))
        .collect();
    names.sort_unstable();
    let close = did_you_mean(name, names.iter().copied())?;
    Some(format!("{head}{close}{rest}"))
}

/// An address as an error shows it: escaped where it holds what a terminal
/// would act on.
fn shown(address: &Address) -> String {
    address.as_str().escape_debug().to_string()
}
