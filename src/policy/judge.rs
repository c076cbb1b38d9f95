//! The judge: every built-in rule over the changes of a plan and the estate as
//! it will be after apply, with enforcement and exceptions from the policy
//! record. Pure and deterministic: the same inputs give the same findings, in
//! plan and in apply alike.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashSet};

use nhi_provider_sdk::{Address, KeyStatus, ObservedKey, ObservedState, Operation};

use super::catalogue::{
    self, KEY_MAX_AGE, KEY_NEVER_USED, KEY_NO_ROTATION, KEY_UNUSED, OWNER_MISSING, SHADOW_IDENTITY,
    TWO_ACTIVE_KEYS, USER_MANAGED_KEY,
};
use super::privilege::{Concern, binding_concerns, identity_concerns};
use super::project::{Projected, project};
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
            | Operation::DeleteBinding { .. } => {}
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

struct Out<'a> {
    policy: &'a PolicyRecord,
    today: jiff::civil::Date,
    subject: Subject,
    findings: Vec<Finding>,
}

impl Out<'_> {
    fn push(&mut self, address: &Address, concern: Concern) {
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

/// A contact address: a mailbox (`team@example.com`) or a web page (`https://…`).
pub(crate) fn is_contact(owner: &str) -> bool {
    if let Some(rest) = owner.strip_prefix("https://") {
        return !rest.is_empty() && !rest.contains(char::is_whitespace);
    }
    let Some((local, domain)) = owner.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn owner_concern(owner: &str, out: &mut Vec<Concern>) {
    if owner.trim().is_empty() {
        out.push(Concern::new(OWNER_MISSING, "has no owner".into()));
    } else if !is_contact(owner) {
        out.push(Concern::new(
            OWNER_MISSING,
            format!(
                "owner `{}` is not a contact address (a mailbox or an https:// page)",
                owner.escape_debug()
            ),
        ));
    }
}

fn minted_key_concern(type_name: &str, out: &mut Vec<Concern>) {
    if type_name == "gcp" {
        out.push(Concern::new(
            USER_MANAGED_KEY,
            "mints a user-managed service-account key".into(),
        ));
    }
}

fn judge_identity(
    input: &Judging<'_>,
    scope: &ScopeInput<'_>,
    unmanaged: &HashSet<String>,
    projected: &Projected<'_>,
    out: &mut Out<'_>,
) {
    let identity = &projected.identity;
    // Built on the first finding: most identities have none.
    let address = OnceCell::new();
    let at = || address.get_or_init(|| scope.prefix.identity(&identity.name));
    let mut concerns = Vec::new();
    owner_concern(&identity.owner, &mut concerns);
    identity_concerns(scope.type_name, identity, &mut concerns);
    let active = projected
        .keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active);
    let active_count = active.clone().count();
    if active_count > 1 {
        concerns.push(Concern::new(
            TWO_ACTIVE_KEYS,
            format!("holds {active_count} active keys"),
        ));
    }
    if (!projected.keys.is_empty() || !projected.bindings.is_empty())
        && !unmanaged.is_empty()
        && unmanaged.contains(identity.name.as_str())
    {
        concerns.push(Concern::new(
            SHADOW_IDENTITY,
            format!(
                "no configuration declares it, yet it holds {} and {}",
                count(projected.keys.len(), "key"),
                count(projected.bindings.len(), "binding")
            ),
        ));
    }
    for concern in concerns.drain(..) {
        out.push(at(), concern);
    }
    let context = KeyContext {
        policy: input.policy,
        now: input.now,
        type_name: scope.type_name,
        reports_key_use: scope.reports_key_use,
    };
    for key in active {
        judge_key(&context, key, &mut concerns);
        if concerns.is_empty() {
            continue;
        }
        let key_address = match &key.name {
            Some(name) => at().key(name),
            None => at().key(&key.id),
        };
        for concern in concerns.drain(..) {
            out.push(&key_address, concern);
        }
    }
    for binding in projected.bindings.iter() {
        binding_concerns(scope.type_name, &identity.kind, binding, &mut concerns);
        if concerns.is_empty() {
            continue;
        }
        let binding_address = at().binding(&binding.role, &binding.resource);
        for concern in concerns.drain(..) {
            out.push(&binding_address, concern);
        }
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Where a key is judged: the policy, the clock, and what its provider reports.
struct KeyContext<'a> {
    policy: &'a PolicyRecord,
    now: jiff::Timestamp,
    type_name: &'a str,
    reports_key_use: bool,
}

fn judge_key(context: &KeyContext<'_>, key: &ObservedKey, out: &mut Vec<Concern>) {
    let now = context.now;
    let days = |since: jiff::Timestamp| now.duration_since(since).as_secs() / 86_400;
    let max_age = context.policy.key_max_age;
    if now.duration_since(key.created) > max_age.as_duration() {
        out.push(Concern::new(
            KEY_MAX_AGE,
            format!(
                "key is {} days old, over the maximum of {max_age}",
                days(key.created)
            ),
        ));
    }
    let unused = context.policy.unused_after;
    match key.last_used {
        Some(used) if now.duration_since(used) >= unused.as_duration() => {
            out.push(Concern::new(
                KEY_UNUSED,
                format!(
                    "key last used {} days ago (unused after {unused})",
                    days(used)
                ),
            ));
        }
        None if context.reports_key_use
            && !key.id.is_empty()
            && now.duration_since(key.created) >= unused.as_duration() =>
        {
            out.push(Concern::new(
                KEY_NEVER_USED,
                format!(
                    "key never used in the {} days since it was created",
                    days(key.created)
                ),
            ));
        }
        _ => {}
    }
    if context.type_name == "gcp" && !key.id.is_empty() {
        out.push(Concern::new(
            USER_MANAGED_KEY,
            "user-managed service-account key".into(),
        ));
    }
}

/// Rules on declared settings: a key with neither `rotate_after` nor `expires`.
fn judge_declared(config: &Config, out: &mut Out<'_>) {
    for desired in &config.identities {
        // An expired identity is deleted, not kept with its keys.
        let expired = desired.expires.is_some_and(|d| d < out.today);
        if expired
            || desired
                .keys
                .iter()
                .all(|k| k.rotate_after.is_some() || k.expires.is_some())
        {
            continue;
        }
        let Some(block) = config.providers.iter().find(|b| b.name == desired.provider) else {
            continue;
        };
        let address =
            Address::provider(&block.type_name, &block.name).identity(&desired.identity.name);
        for key in desired
            .keys
            .iter()
            .filter(|k| k.rotate_after.is_none() && k.expires.is_none())
        {
            out.push(
                &address.key(&key.name),
                Concern::new(
                    KEY_NO_ROTATION,
                    "key has neither `rotate_after` nor `expires`".into(),
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{Binding, Identity, ObservedIdentity, Tags};

    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn key(id: &str, created: &str, last_used: Option<&str>) -> ObservedKey {
        ObservedKey {
            id: id.into(),
            name: Some(format!("k-{id}")),
            created: created.parse().unwrap(),
            status: KeyStatus::Active,
            last_used: last_used.map(|t| t.parse().unwrap()),
        }
    }

    fn identity(
        name: &str,
        owner: &str,
        keys: Vec<ObservedKey>,
        bindings: &[&str],
    ) -> ObservedIdentity {
        ObservedIdentity {
            identity: Identity {
                name: name.into(),
                kind: "service_account".into(),
                owner: owner.into(),
                description: String::new(),
                tags: Tags::default(),
                attributes: std::collections::BTreeMap::new(),
            },
            keys,
            bindings: bindings
                .iter()
                .map(|role| Binding {
                    role: (*role).into(),
                    resource: "*".into(),
                    policy: None,
                })
                .collect(),
        }
    }

    /// `(rule, address suffix)` of every finding on one live identity, judged
    /// with no changes; `unmanaged` says whether no configuration declares it.
    fn judged(
        live: ObservedIdentity,
        unmanaged: bool,
        policy: &PolicyRecord,
    ) -> Vec<(String, String)> {
        let observed = ObservedState {
            identities: vec![live],
        };
        let prefix = Address::provider("local", "demo");
        let scopes = [ScopeInput {
            prefix: prefix.clone(),
            type_name: "local",
            reports_key_use: true,
            observed: &observed,
        }];
        let unmanaged: BTreeSet<Address> = if unmanaged {
            [prefix.identity(&observed.identities[0].identity.name)].into()
        } else {
            BTreeSet::new()
        };
        judge(&Judging {
            now: now(),
            policy,
            scopes: &scopes,
            changes: &[],
            unmanaged: &unmanaged,
            config: None,
        })
        .into_iter()
        .map(|f| {
            let suffix = f
                .address
                .as_str()
                .trim_start_matches("local.demo/identity/")
                .to_owned();
            (f.rule, suffix)
        })
        .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn each_hygiene_rule_fires_on_what_it_names_and_nothing_else() {
        type Case = (&'static str, ObservedIdentity, bool, Vec<(String, String)>);
        let fresh = "2026-11-01T00:00:00Z";
        let used = Some("2026-11-30T00:00:00Z");
        let policy = PolicyRecord::default();
        let cases: Vec<Case> = vec![
            (
                "a clean identity",
                identity(
                    "ok",
                    "team@example.com",
                    vec![key("A", fresh, used)],
                    &["reader"],
                ),
                false,
                vec![],
            ),
            (
                "an owner that is no contact",
                identity("x", "platform-team", vec![], &[]),
                false,
                pairs(&[("owner-missing", "x")]),
            ),
            (
                "an empty owner",
                identity("x", "", vec![], &[]),
                false,
                pairs(&[("owner-missing", "x")]),
            ),
            (
                "an https owner page",
                identity("x", "https://wiki.example.com/team", vec![], &[]),
                false,
                vec![],
            ),
            (
                "a key over 90 days",
                identity(
                    "x",
                    "t@example.com",
                    vec![key("A", "2026-08-01T00:00:00Z", used)],
                    &[],
                ),
                false,
                pairs(&[("key-max-age", "x/key/k-A")]),
            ),
            (
                "a key unused for 45 days",
                identity(
                    "x",
                    "t@example.com",
                    vec![key("A", fresh, Some("2026-10-01T00:00:00Z"))],
                    &[],
                ),
                false,
                pairs(&[("key-unused", "x/key/k-A")]),
            ),
            (
                "a key used 44 days ago",
                identity(
                    "x",
                    "t@example.com",
                    vec![key("A", fresh, Some("2026-10-18T00:00:00Z"))],
                    &[],
                ),
                false,
                vec![],
            ),
            (
                "a key never used for 45 days",
                identity(
                    "x",
                    "t@example.com",
                    vec![key("A", "2026-10-01T00:00:00Z", None)],
                    &[],
                ),
                false,
                pairs(&[("key-never-used", "x/key/k-A")]),
            ),
            (
                "a new key never used yet",
                identity("x", "t@example.com", vec![key("A", fresh, None)], &[]),
                false,
                vec![],
            ),
            (
                "two active keys",
                identity(
                    "x",
                    "t@example.com",
                    vec![key("A", fresh, used), key("B", fresh, used)],
                    &[],
                ),
                false,
                pairs(&[("two-active-keys", "x")]),
            ),
            (
                "an unmanaged identity holding a grant",
                identity("x", "t@example.com", vec![], &["reader"]),
                true,
                pairs(&[("shadow-identity", "x")]),
            ),
            (
                "an unmanaged identity holding nothing",
                identity("x", "t@example.com", vec![], &[]),
                true,
                vec![],
            ),
            (
                "a local admin grant",
                identity("x", "t@example.com", vec![], &["admin"]),
                false,
                pairs(&[("admin-privilege", "x/binding/admin")]),
            ),
        ];
        for (name, live, unmanaged, expected) in cases {
            assert_eq!(judged(live, unmanaged, &policy), expected, "{name}");
        }
    }

    #[test]
    fn an_inactive_key_is_not_judged_for_age_or_use() {
        let mut old = key("A", "2020-01-01T00:00:00Z", None);
        old.status = KeyStatus::Inactive;
        let live = identity("x", "t@example.com", vec![old], &[]);
        assert_eq!(judged(live, false, &PolicyRecord::default()), vec![]);
    }

    #[test]
    fn thresholds_enforcement_and_exceptions_come_from_the_policy() {
        let policy = PolicyRecord {
            key_max_age: "400d".parse().unwrap(),
            enforcement: [("default".to_owned(), crate::policy::Enforcement::Soft)].into(),
            exceptions: vec![crate::policy::Exception {
                rule: "owner-missing".into(),
                address: Address::raw("local.demo/identity/x"),
                justification: "migrating".into(),
                expires: jiff::civil::date(2026, 12, 1),
            }],
            ..PolicyRecord::default()
        };
        let live = identity(
            "x",
            "nobody",
            vec![key(
                "A",
                "2026-01-01T00:00:00Z",
                Some("2026-11-30T00:00:00Z"),
            )],
            &[],
        );
        let observed = ObservedState {
            identities: vec![live],
        };
        let scopes = [ScopeInput {
            prefix: Address::provider("local", "demo"),
            type_name: "local",
            reports_key_use: true,
            observed: &observed,
        }];
        let findings = judge(&Judging {
            now: now(),
            policy: &policy,
            scopes: &scopes,
            changes: &[],
            unmanaged: &BTreeSet::new(),
            config: None,
        });
        assert_eq!(findings.len(), 1, "the key is under 400 days: {findings:?}");
        assert_eq!(findings[0].rule, "owner-missing");
        assert_eq!(findings[0].enforcement, crate::policy::Enforcement::Soft);
        assert!(
            findings[0].exception.is_some(),
            "the exception holds on its last day"
        );
        assert!(!findings[0].counts());
    }
}
