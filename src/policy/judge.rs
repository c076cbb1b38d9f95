//! The judge: every built-in rule over the changes of a plan and the estate as
//! it will be after apply, with enforcement and exceptions from the policy
//! record. Pure and deterministic: the same inputs give the same findings, in
//! plan and in apply alike.

use std::collections::{BTreeSet, HashSet};

use nhi_provider_sdk::{Address, Operation};

use super::catalogue;
use super::hygiene::{
    KeyContext, judge_declared, judge_identity, judge_key, minted_key_concern, owner_concern,
};
use super::input::Out;
pub use super::input::{Judging, ScopeInput};
use super::privilege::{binding_concerns, identity_concerns};
use super::project::project;
use super::{Finding, PolicyRecord, Subject};
use crate::config::Config;
use crate::diff::Change;

/// Every built-in finding on a plan body's changes and the estate they lead to,
/// from each scope's live state. `config` is the configuration the plan came
/// from; without it, rules on declared settings are skipped. The unmanaged
/// identities are those the body reports, unless `rediscover` asks for every
/// identity of `scopes` that `config` does not declare (apply: the live state
/// may hold identities made since planning).
pub fn judge_body(
    body: &crate::plan::PlanBody,
    scopes: &[ScopeInput<'_>],
    config: Option<&Config>,
    rediscover: bool,
) -> Vec<Finding> {
    let unmanaged = match config {
        Some(config) if rediscover => undeclared(config, scopes),
        _ => body.unmanaged.iter().cloned().collect(),
    };
    judge(&Judging {
        now: body.created_at,
        policy: &body.policy,
        scopes,
        changes: &body.changes,
        unmanaged: &unmanaged,
        config,
    })
}

/// The live identities of `scopes` that `config` does not declare.
fn undeclared(config: &Config, scopes: &[ScopeInput<'_>]) -> BTreeSet<Address> {
    let declared: std::collections::HashSet<(&str, &str)> = config
        .identities
        .iter()
        .map(|d| (d.provider.as_str(), d.identity.name.as_str()))
        .collect();
    let mut out = BTreeSet::new();
    for scope in scopes {
        let block = scope
            .prefix
            .as_str()
            .split_once('.')
            .map_or("", |(_, name)| name);
        for live in &scope.observed.identities {
            if !declared.contains(&(block, live.identity.name.as_str())) {
                out.insert(scope.prefix.identity(&live.identity.name));
            }
        }
    }
    out
}

/// Every built-in finding, sorted and unique.
pub fn judge<'a>(input: &'a Judging<'a>) -> Vec<Finding> {
    let mut findings = judge_changes(
        input.changes,
        &|prefix| {
            input
                .scopes
                .iter()
                .find(|s| s.prefix.as_str() == prefix)
                .map(|s| s.type_name)
        },
        input.policy,
        input.now,
    );
    let from_changes: BTreeSet<(Address, &'static str)> = findings
        .iter()
        .filter(|f| f.subject == Subject::Change)
        .filter_map(|f| Some((f.address.clone(), catalogue::find(&f.rule)?.id)))
        .collect();
    let mut out = Out {
        policy: input.policy,
        today: today(input.now),
        subject: Subject::State,
        findings: Vec::new(),
    };
    for scope in input.scopes {
        // By name, so that no address is built for an identity that has nothing
        // to report.
        let unmanaged: HashSet<String> = input
            .unmanaged
            .iter()
            .filter(|a| a.provider_prefix() == scope.prefix.as_str())
            .filter_map(Address::identity_name)
            .collect();
        project(
            scope.prefix.as_str(),
            scope.observed,
            input.changes,
            input.now,
            &mut |identity| judge_identity(input, scope, &unmanaged, identity, &mut out),
        );
    }
    if let Some(config) = input.config {
        judge_declared(config, &mut out);
    }
    findings.extend(
        out.findings
            .into_iter()
            .filter(|f| !from_changes.contains(&(f.address.clone(), rule_id(&f.rule)))),
    );
    findings.sort_by(|a, b| a.key().cmp(&b.key()));
    findings.dedup_by(|a, b| a.key() == b.key());
    findings
}

fn rule_id(rule: &str) -> &'static str {
    catalogue::find(rule).map_or("", |r| r.id)
}

/// The findings on objects the plan's changes create or update, judged from the
/// operations alone (`type_of` gives a scope prefix's provider type). Every decode
/// of a plan re-derives these.
pub fn judge_changes<'t>(
    changes: &[Change],
    type_of: &dyn Fn(&str) -> Option<&'t str>,
    policy: &PolicyRecord,
    now: jiff::Timestamp,
) -> Vec<Finding> {
    let mut out = Out {
        policy,
        today: today(now),
        subject: Subject::Change,
        findings: Vec::new(),
    };
    let mut concerns = Vec::new();
    for change in changes {
        let prefix = change.address.provider_prefix();
        let Some(type_name) = type_of(prefix) else {
            continue;
        };
        match &change.operation {
            Operation::CreateIdentity { identity: after }
            | Operation::UpdateIdentity { after, .. }
            | Operation::ReplaceIdentity { after, .. } => {
                owner_concern(&after.owner, &mut concerns);
                identity_concerns(type_name, after, &mut concerns);
            }
            Operation::CreateBinding { binding, .. }
            | Operation::UpdateBinding { after: binding, .. } => {
                // The kind decides some grants' reach (an AWS role or user).
                binding_concerns(type_name, "", binding, &mut concerns);
            }
            Operation::CreateKey { .. } | Operation::RotateKey { .. } => {
                minted_key_concern(type_name, &mut concerns);
            }
            Operation::DeleteIdentity { .. }
            | Operation::DeleteKey { .. }
            | Operation::DeleteBinding { .. }
            | Operation::DeactivateKey { .. }
            | Operation::RevokeSessions { .. } => {}
        }
        for concern in concerns.drain(..) {
            out.push(&change.address, concern);
        }
        // What the change removes: the findings the plan resolves.
        let context = KeyContext {
            policy,
            now,
            type_name,
            reports_key_use: false,
        };
        match &change.operation {
            Operation::DeleteIdentity { identity }
            | Operation::ReplaceIdentity {
                before: identity, ..
            } => {
                identity_concerns(type_name, identity, &mut concerns);
            }
            Operation::DeleteBinding { binding, .. }
            | Operation::UpdateBinding {
                before: binding, ..
            } => binding_concerns(type_name, "", binding, &mut concerns),
            Operation::DeleteKey { key, .. } | Operation::RotateKey { old: key, .. } => {
                judge_key(&context, key, &mut concerns);
            }
            _ => {}
        }
        out.subject = Subject::Resolved;
        for concern in concerns.drain(..) {
            out.push(&change.address, concern);
        }
        out.subject = Subject::Change;
    }
    // A concern of the object before an update that it still has after is not
    // resolved.
    let open: BTreeSet<(Address, String, String)> = out
        .findings
        .iter()
        .filter(|f| f.subject == Subject::Change)
        .map(|f| (f.address.clone(), f.rule.clone(), f.message.clone()))
        .collect();
    out.findings.retain(|f| {
        f.subject != Subject::Resolved
            || !open.contains(&(f.address.clone(), f.rule.clone(), f.message.clone()))
    });
    out.findings.sort_by(|a, b| a.key().cmp(&b.key()));
    out.findings.dedup_by(|a, b| a.key() == b.key());
    out.findings
}

fn today(now: jiff::Timestamp) -> jiff::civil::Date {
    now.to_zoned(jiff::tz::TimeZone::UTC).date()
}
