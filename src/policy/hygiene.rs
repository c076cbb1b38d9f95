//! The hygiene rules: owners, keys (age, use, rotation, how many are active),
//! shadow identities, and user-managed GCP keys; each identity of the estate
//! after apply is judged here, its grants by `privilege`.

use std::cell::OnceCell;
use std::collections::HashSet;

use nhi_provider_sdk::{Address, KeyStatus, ObservedKey};

use super::PolicyRecord;
use super::catalogue::{
    KEY_MAX_AGE, KEY_NEVER_USED, KEY_NO_ROTATION, KEY_UNUSED, OWNER_MISSING, SHADOW_IDENTITY,
    TWO_ACTIVE_KEYS, USER_MANAGED_KEY,
};
use super::input::{Judging, Out, ScopeInput};
use super::privilege::{Concern, binding_concerns, identity_concerns};
use super::project::Projected;
use crate::config::Config;

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

pub(super) fn owner_concern(owner: &str, out: &mut Vec<Concern>) {
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

pub(super) fn minted_key_concern(type_name: &str, out: &mut Vec<Concern>) {
    if type_name == "gcp" {
        out.push(Concern::new(
            USER_MANAGED_KEY,
            "mints a user-managed service-account key".into(),
        ));
    }
}

pub(super) fn judge_identity(
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
pub(super) struct KeyContext<'a> {
    pub policy: &'a PolicyRecord,
    pub now: jiff::Timestamp,
    pub type_name: &'a str,
    pub reports_key_use: bool,
}

pub(super) fn judge_key(context: &KeyContext<'_>, key: &ObservedKey, out: &mut Vec<Concern>) {
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
pub(super) fn judge_declared(config: &Config, out: &mut Out<'_>) {
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
    use std::collections::BTreeSet;

    use nhi_provider_sdk::{Binding, Identity, ObservedIdentity, ObservedState, Tags};

    use super::*;
    use crate::policy::judge;

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
