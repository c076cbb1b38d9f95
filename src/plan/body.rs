//! The plan body: everything a plan says, in the order and shape that is hashed
//! and signed. Every field documents its contract.

use nhi_provider_sdk::{Address, Digest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diff::{Action, Change};
use crate::policy::{Finding, PolicyRecord};

/// The layout version of [`PlanBody`]; bumped on any incompatible change.
pub const BODY_FORMAT_VERSION: u32 = 3;

/// The layout version of a body with a [`SelectionRecord`] (a plan made with
/// `--target` or `--replace`). Every other body keeps [`BODY_FORMAT_VERSION`],
/// byte for byte as before; a build that knows only that one refuses these as
/// of an unsupported format, never as a full plan.
pub const SELECTION_FORMAT_VERSION: u32 = 4;

/// The layout version of a body with a scope served by a plugin (a
/// [`ScopeRecord::plugin`]), with or without a selection. Older builds refuse
/// such a plan as of an unsupported format.
pub const PLUGIN_FORMAT_VERSION: u32 = 5;

/// What was planned, against what, by whom and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// [`PLUGIN_FORMAT_VERSION`] exactly when a scope records a plugin, else
    /// [`SELECTION_FORMAT_VERSION`] exactly when `selection` is present, else
    /// [`BODY_FORMAT_VERSION`]; other values are refused.
    pub format_version: u32,
    /// The `nhi` version that planned; informational.
    pub tool_version: String,
    /// When planning read live state (the injected clock).
    pub created_at: jiff::Timestamp,
    /// After this instant apply refuses the plan; the applier's trust policy may
    /// shorten, never lengthen, the validity.
    pub expires_at: jiff::Timestamp,
    /// Who planned, as given by `--author` or the environment; the author's
    /// signature, not this field, is what trust relies on.
    pub author: String,
    /// The configuration the plan came from.
    pub config: ConfigRecord,
    /// One record per provider block, in configuration order.
    pub scopes: Vec<ScopeRecord>,
    /// The changes, in execution order.
    pub changes: Vec<Change>,
    /// Every object a change touches (and the identity above it) with its
    /// fingerprint at planning time, or `null` where it must not exist. Sorted by
    /// address. Apply refuses the plan as stale if any differs.
    pub touched: Vec<Touched>,
    /// Live identities in scope that the configuration does not declare and that
    /// are not pruned; reported only. Sorted.
    pub unmanaged: Vec<Address>,
    /// Counts of `changes` by action; must agree with them.
    pub summary: Summary,
    /// The policy the plan was judged by: thresholds, enforcement, exceptions
    /// and the Rego bundle's digest, from the configuration's `policy:` section.
    pub policy: PolicyRecord,
    /// What the governance gate found in the changes and in the estate they lead
    /// to (see [`crate::policy::Finding`] for the contract). Every decode
    /// re-derives the findings on changes; apply re-derives the rest and refuses
    /// a plan that lacks one it finds.
    pub findings: Vec<Finding>,
    /// What `nhi plan --target` and `--replace` asked for; absent from a plan
    /// made without them. With targets the plan is partial: it holds only the
    /// changes for what is named and what that depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionRecord {
    /// `--target`, sorted and unique; empty: the plan is not partial. Every
    /// change is under a target, or is the creation or replacement of the
    /// identity a targeted key or binding needs first.
    pub targets: Vec<Address>,
    /// `--replace`, sorted and unique: keys rotated and identities replaced on
    /// request. Each has a change at its address with reason
    /// `replace_requested`, and only these (and what a replaced identity holds)
    /// have that reason.
    pub replace: Vec<Address>,
    /// How many changes the configuration called for at planning that the
    /// targets left out; informational (live state changes), never checked.
    pub left_out: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigRecord {
    /// The configuration file's name relative to the directory nhi ran in.
    pub path: String,
    /// The configuration's directory, absolute with links resolved. Relative paths
    /// (provider settings, file sinks) resolve against it in plan and apply alike,
    /// wherever apply runs from; apply reads the configuration from here.
    pub dir: String,
    /// `sha256:` of the file's exact bytes.
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeRecord {
    /// `<type>.<name>`, the prefix of every address in this scope.
    pub provider: String,
    /// The provider's own description of what it manages exhaustively.
    pub scope: String,
    /// The provider block's settings (never credentials): apply connects with
    /// exactly these, so reviewers approve which estate or account is changed.
    pub settings: serde_json::Value,
    /// Whether unmanaged identities are deleted.
    pub prune: bool,
    /// Fingerprint of everything observed in the scope; evidence of what the plan
    /// was computed against (apply compares only touched objects).
    pub observed_digest: Digest,
    /// Number of identities observed.
    pub observed_identities: u64,
    /// The plugin that served the scope (a `type: plugin` block): its name,
    /// version, executable digest and protocol. Present exactly for plugin
    /// blocks; apply refuses to run any other plugin for the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<nhi_provider_sdk::plugin::PluginRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Touched {
    pub address: Address,
    /// `null`: the object must not exist at apply time.
    pub fingerprint: Option<Digest>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub create: u64,
    pub update: u64,
    pub replace: u64,
    pub rotate: u64,
    pub delete: u64,
    /// Unmanaged identities reported (not changes).
    pub unmanaged: u64,
}

impl Summary {
    pub fn of(changes: &[Change], unmanaged: usize) -> Self {
        let mut s = Self {
            unmanaged: unmanaged as u64,
            ..Self::default()
        };
        for change in changes {
            *match change.action {
                Action::Create => &mut s.create,
                Action::Update => &mut s.update,
                Action::Replace => &mut s.replace,
                Action::Rotate => &mut s.rotate,
                Action::Delete => &mut s.delete,
            } += 1;
        }
        s
    }

    pub fn total(&self) -> u64 {
        self.create + self.update + self.replace + self.rotate + self.delete
    }
}

impl PlanBody {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether the plan holds only the changes for some targets.
    pub fn is_partial(&self) -> bool {
        self.selection
            .as_ref()
            .is_some_and(|s| !s.targets.is_empty())
    }

    /// Records what `--target` and `--replace` asked for, in the body's format
    /// for it.
    pub fn set_selection(&mut self, selection: SelectionRecord) {
        if self.format_version != PLUGIN_FORMAT_VERSION {
            self.format_version = SELECTION_FORMAT_VERSION;
        }
        self.selection = Some(selection);
    }

    /// The format version the body's contents call for.
    pub fn required_format(&self) -> u32 {
        if self.scopes.iter().any(|s| s.plugin.is_some()) {
            PLUGIN_FORMAT_VERSION
        } else if self.selection.is_some() {
            SELECTION_FORMAT_VERSION
        } else {
            BODY_FORMAT_VERSION
        }
    }

    /// The scope record for an address, by its provider prefix.
    pub fn scope_of(&self, address: &Address) -> Option<&ScopeRecord> {
        self.scopes
            .iter()
            .find(|s| s.provider == address.provider_prefix())
    }
}
