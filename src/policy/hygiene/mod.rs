//! The hygiene rules: owners, keys (age, use, rotation, how many are active),
//! shadow identities, and user-managed GCP keys; each identity of the estate
//! after apply is judged here, its grants by `privilege`.

use std::cell::OnceCell;
use std::collections::HashSet;

use nhi_provider_sdk::{Address, KeyStatus, ObservedKey};

use super::PolicyRecord;
use super::catalogue::{
    KEY_LEAKED, KEY_MAX_AGE, KEY_NEVER_USED, KEY_NO_ROTATION, KEY_UNUSED, OWNER_MISSING,
    SHADOW_IDENTITY, TWO_ACTIVE_KEYS, USER_MANAGED_KEY,
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
    // A leaked key counts even when disabled (Google disables exposed keys):
    // enabling it again is one call away.
    for key in projected
        .keys
        .iter()
        .filter(|k| k.status != KeyStatus::Active)
    {
        if let Some(leaked) = &key.leaked {
            let key_address = match &key.name {
                Some(name) => at().key(name),
                None => at().key(&key.id),
            };
            out.push(&key_address, Concern::new(KEY_LEAKED, leaked.clone()));
        }
    }
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
    if let Some(leaked) = &key.leaked {
        out.push(Concern::new(KEY_LEAKED, leaked.clone()));
    }
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
mod tests;
