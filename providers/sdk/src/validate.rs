//! Offline validation: what a provider type is asked about declared identities
//! before any live state is read. One request carries any number of identities,
//! borrowed from the configuration, and one response lists every problem, so a
//! provider behind a pipe can answer a whole configuration at once.

use std::collections::BTreeMap;

use crate::{Binding, Tags};

/// Declared identities to check, all of one provider block.
#[derive(Debug, Clone, Copy)]
pub struct ValidateRequest<'a> {
    pub identities: &'a [DeclaredIdentity<'a>],
}

/// One declared identity, as far as the configuration's own checks got. A field
/// is `None` where those checks already failed (the engine reports that); check
/// what is there.
#[derive(Debug, Clone, Copy)]
pub struct DeclaredIdentity<'a> {
    /// One of the type's `kinds()`; `None` when the declared kind is unknown.
    pub kind: Option<&'a str>,
    pub name: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub description: &'a str,
    pub tags: &'a Tags,
    /// The identity's `attributes:` as written (an empty mapping when absent).
    pub attributes: Option<&'a BTreeMap<String, serde_json::Value>>,
    /// Names of the keys that parsed, in order.
    pub key_names: &'a [&'a str],
    /// Bindings that parsed, in order, their policies normalised by
    /// `ProviderType::normalize_policy`.
    pub bindings: &'a [Binding],
}

/// Every problem found, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateResponse {
    pub problems: Vec<ValidationProblem>,
}

/// One problem: which identity (index into the request), which part of it, and
/// why, in a phrase the engine shows under the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationProblem {
    pub identity: usize,
    pub part: DeclaredPart,
    pub reason: String,
}

/// The part of a declared identity a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredPart {
    /// The name is not one the cloud accepts for the kind.
    Name,
    /// The attributes are not valid for the kind.
    Attributes,
    /// Binding `n` (index into `bindings`) cannot exist in the cloud.
    Binding(usize),
    /// The tags are not accepted (reserved keys, value syntax, limits).
    Tags,
    /// The owner and description cannot be stored where the provider keeps them.
    Description,
}

impl ValidateResponse {
    /// Adds a problem when `check` failed.
    pub fn check(&mut self, identity: usize, part: DeclaredPart, check: Result<(), String>) {
        if let Err(reason) = check {
            self.problems.push(ValidationProblem {
                identity,
                part,
                reason,
            });
        }
    }
}
