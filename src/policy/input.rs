//! What the judge reads, and the collector its rules write findings into.

use std::collections::BTreeSet;

use nhi_provider_sdk::{Address, ObservedState};

use super::catalogue;
use super::privilege::Concern;
use super::{Finding, PolicyRecord, Subject};
use crate::config::Config;
use crate::diff::Change;

/// One scope as judged.
pub struct ScopeInput<'a> {
    /// `<type>.<name>`.
    pub prefix: Address,
    pub type_name: &'a str,
    /// Whether the provider reports when keys were last used (key-never-used
    /// needs it).
    pub reports_key_use: bool,
    pub observed: &'a ObservedState,
}

/// Everything the judge reads.
pub struct Judging<'a> {
    /// The plan's clock.
    pub now: jiff::Timestamp,
    pub policy: &'a PolicyRecord,
    pub scopes: &'a [ScopeInput<'a>],
    pub changes: &'a [Change],
    /// Live identities no configuration declares (reported or pruned).
    pub unmanaged: &'a BTreeSet<Address>,
    /// The desired state, for rules on declared settings; `None` skips them
    /// (apply with `--ignore-config`).
    pub config: Option<&'a Config>,
}

/// Findings as rules report them, with the enforcement and exception the
/// policy record gives each.
pub(super) struct Out<'a> {
    pub policy: &'a PolicyRecord,
    pub today: jiff::civil::Date,
    pub subject: Subject,
    pub findings: Vec<Finding>,
}

impl Out<'_> {
    pub(super) fn push(&mut self, address: &Address, concern: Concern) {
        let rule = catalogue::find(concern.rule).expect("invariant: built-in rules are catalogued");
        self.findings.push(Finding {
            address: address.clone(),
            rule: rule.id.to_owned(),
            severity: concern.severity.unwrap_or(rule.severity),
            enforcement: self.policy.builtin_enforcement(rule.id),
            subject: self.subject,
            exception: self.policy.exception(rule.id, address, self.today),
            message: concern.message,
        });
    }
}
