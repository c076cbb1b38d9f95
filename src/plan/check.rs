//! Consistency checks of a decoded plan body. A plan is hostile input: every
//! rendering is derived from the operations, so the recorded addresses, actions,
//! risks, sinks and summary must agree with them exactly.

use nhi_provider_sdk::{Address, Operation};

use super::PlanError;
use super::body::{
    BODY_FORMAT_VERSION, PLUGIN_FORMAT_VERSION, PlanBody, SELECTION_FORMAT_VERSION, Summary,
};
use crate::diff::{Action, Change, Reason, Risk};

pub(crate) fn check(body: &PlanBody) -> Result<(), PlanError> {
    let fail = |detail: String| Err(PlanError::Inconsistent { detail });
    if ![
        BODY_FORMAT_VERSION,
        SELECTION_FORMAT_VERSION,
        PLUGIN_FORMAT_VERSION,
    ]
    .contains(&body.format_version)
    {
        return Err(PlanError::UnsupportedFormat {
            found: format!("body {}", body.format_version),
            supported: format!(
                "{BODY_FORMAT_VERSION}, {SELECTION_FORMAT_VERSION} or {PLUGIN_FORMAT_VERSION}"
            ),
        });
    }
    if body.format_version != body.required_format() {
        return fail(
            if body.format_version == PLUGIN_FORMAT_VERSION
                || body.required_format() == PLUGIN_FORMAT_VERSION
            {
                format!(
                    "body format {PLUGIN_FORMAT_VERSION} is exactly for plans with a scope served by a plugin"
                )
            } else {
                format!(
                    "body format {SELECTION_FORMAT_VERSION} is exactly for plans made with `--target` or `--replace`"
                )
            },
        );
    }
    for scope in &body.scopes {
        let is_plugin = scope.provider.starts_with("plugin.");
        let pinned = scope
            .settings
            .get("plugin")
            .and_then(|p| p.get("sha256"))
            .and_then(|d| d.as_str());
        match (&scope.plugin, is_plugin) {
            (None, false) => {}
            (Some(record), true)
                if pinned.is_some_and(|d| {
                    d == record.digest.to_string()
                        || format!("sha256:{d}") == record.digest.to_string()
                }) => {}
            _ => {
                return fail(format!(
                    "scope `{}` must record the plugin its settings pin, and only a `plugin` scope records one",
                    scope.provider
                ));
            }
        }
    }
    if body.expires_at <= body.created_at {
        return fail("the plan expires before it was created".into());
    }
    for (i, scope) in body.scopes.iter().enumerate() {
        if body.scopes[..i]
            .iter()
            .any(|s| s.provider == scope.provider)
        {
            return fail(format!("scope `{}` is recorded twice", scope.provider));
        }
        let Some((type_name, name)) = scope.provider.split_once('.') else {
            return fail(format!("scope `{}` is not `<type>.<name>`", scope.provider));
        };
        if type_name.is_empty() || name.is_empty() || name.contains(['.', '/']) {
            return fail(format!("scope `{}` is not `<type>.<name>`", scope.provider));
        }
    }
    for (index, change) in body.changes.iter().enumerate() {
        if let Err(detail) =
            check_change(body, change).and_then(|()| check_before(body, index, change))
        {
            return fail(format!(
                "change {} (`{}`): {detail}",
                index + 1,
                change.address
            ));
        }
    }
    if !body.touched.windows(2).all(|w| w[0].address < w[1].address) {
        return fail("touched objects are not sorted and unique".into());
    }
    if !body.unmanaged.windows(2).all(|w| w[0] < w[1]) {
        return fail("unmanaged identities are not sorted and unique".into());
    }
    // nhi escapes every unsafe character of an address it builds; one that holds
    // one was not built by nhi, and would reach a terminal in apply's messages.
    let hostile = body
        .touched
        .iter()
        .map(|t| &t.address)
        .chain(&body.unmanaged)
        .find(|a| nhi_provider_sdk::text::first_unsafe(a.as_str()).is_some());
    if let Some(address) = hostile {
        return fail(format!(
            "the address `{}` holds a control character",
            address.as_str().escape_debug()
        ));
    }
    let summary = Summary::of(&body.changes, body.unmanaged.len());
    if summary != body.summary {
        return fail("the summary does not match the changes".into());
    }
    check_parents(body).or_else(fail)?;
    check_selection(body).or_else(fail)?;
    check_findings(body).or_else(fail)
}

/// A key or binding of an identity that did not exist at planning comes after
/// the identity's creation: what a partial plan must keep of its target's
/// dependencies, and what every plan nhi builds holds.
fn check_parents(body: &PlanBody) -> Result<(), String> {
    let mut created = std::collections::HashSet::new();
    for (index, change) in body.changes.iter().enumerate() {
        let identity = change.address.identity_of();
        if identity == change.address {
            if change.action == Action::Create {
                created.insert(identity);
            }
            continue;
        }
        let absent = body
            .touched
            .binary_search_by(|t| t.address.cmp(&identity))
            .is_ok_and(|i| body.touched[i].fingerprint.is_none());
        if absent && !created.contains(&identity) {
            return Err(format!(
                "change {} (`{}`): its identity does not exist and the plan does not create it first",
                index + 1,
                change.address
            ));
        }
    }
    Ok(())
}

/// What `--target` and `--replace` asked for must be what the changes show: a
/// partial plan holds only what its targets select, and a change is a
/// requested replacement exactly where the plan records the request.
fn check_selection(body: &PlanBody) -> Result<(), String> {
    let empty = Vec::new();
    let (targets, replace) = body
        .selection
        .as_ref()
        .map_or((&empty, &empty), |s| (&s.targets, &s.replace));
    for (name, addresses) in [("targets", targets), ("replacements", replace)] {
        if !addresses.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("the requested {name} are not sorted and unique"));
        }
        for address in addresses {
            if nhi_provider_sdk::text::first_unsafe(address.as_str()).is_some() {
                return Err(format!(
                    "the address `{}` holds a control character",
                    address.as_str().escape_debug()
                ));
            }
            if body.scope_of(address).is_none() {
                return Err(format!(
                    "the requested `{address}`: its provider is not among the plan's scopes"
                ));
            }
        }
    }
    let requested = |address: &Address| {
        replace.binary_search(address).is_ok()
            || replace.binary_search(&address.identity_of()).is_ok()
    };
    for (index, change) in body.changes.iter().enumerate() {
        if change.reason == crate::diff::Reason::ReplaceRequested && !requested(&change.address) {
            return Err(format!(
                "change {} (`{}`) is a requested replacement the plan does not record as requested",
                index + 1,
                change.address
            ));
        }
    }
    // A set, so that a hostile body with many requests costs no more than its size.
    let replaced: std::collections::HashSet<&Address> = body
        .changes
        .iter()
        .filter(|c| c.reason == crate::diff::Reason::ReplaceRequested)
        .map(|c| &c.address)
        .collect();
    for address in replace {
        if !replaced.contains(address) {
            return Err(format!(
                "the replacement of `{address}` is recorded as requested but not planned"
            ));
        }
    }
    if !targets.is_empty() {
        let wanted = targets.iter().chain(replace).collect();
        let kept = crate::diff::selected(&body.changes, &wanted);
        if let Some(i) = kept.iter().position(|k| !k) {
            return Err(format!(
                "change {} (`{}`) is not selected by the plan's targets",
                i + 1,
                body.changes[i].address
            ));
        }
    }
    Ok(())
}

/// The findings must be those the plan's own policy gives: the findings on its
/// changes exactly as re-derived from them, every finding with the enforcement
/// and the exception the policy record gives it, and none that would have
/// stopped the plan from being written.
fn check_findings(body: &PlanBody) -> Result<(), String> {
    use crate::policy::{Enforcement, Subject};
    let findings = &body.findings;
    if !findings.windows(2).all(|w| w[0].key() < w[1].key()) {
        return Err("the findings are not sorted and unique".into());
    }
    let today = body.created_at.to_zoned(jiff::tz::TimeZone::UTC).date();
    for f in findings {
        let at = || {
            format!(
                "finding `{}` on `{}`",
                f.rule.escape_debug(),
                f.address.as_str().escape_debug()
            )
        };
        if nhi_provider_sdk::text::first_unsafe(f.address.as_str()).is_some()
            || f.rule.contains(char::is_control)
        {
            return Err(format!("{} holds a control character", at()));
        }
        if body.scope_of(&f.address).is_none() {
            return Err(format!(
                "{}: its provider is not among the plan's scopes",
                at()
            ));
        }
        let builtin = crate::policy::find_rule(&f.rule).is_some();
        let rego = f.rule.starts_with("rego:") && body.policy.rego.is_some();
        if !builtin && !rego {
            return Err(format!("{}: no such rule", at()));
        }
        if builtin && f.enforcement != body.policy.builtin_enforcement(&f.rule) {
            return Err(format!("{}: its enforcement is not the policy's", at()));
        }
        if f.exception != body.policy.exception(&f.rule, &f.address, today) {
            return Err(format!("{}: its exception is not the policy's", at()));
        }
        if f.counts() && f.enforcement == Enforcement::Hard {
            return Err(format!(
                "{}: a hard finding stops a plan from being written",
                at()
            ));
        }
    }
    let type_of = |prefix: &str| {
        body.scopes
            .iter()
            .find(|s| s.provider == prefix)
            .and_then(|s| s.provider.split_once('.'))
            .map(|(type_name, _)| type_name)
    };
    let derived =
        crate::policy::judge_changes(&body.changes, &type_of, &body.policy, body.created_at);
    let recorded: Vec<_> = findings
        .iter()
        .filter(|f| f.subject != Subject::State)
        .collect();
    if derived.len() != recorded.len() || derived.iter().zip(&recorded).any(|(d, r)| d != *r) {
        let missing = derived.iter().find(|d| !recorded.contains(d));
        return Err(match missing {
            Some(d) => format!(
                "the finding `{}` on `{}` that its changes give is not recorded as they give it",
                d.rule, d.address
            ),
            None => "it records findings on changes that its changes do not give".into(),
        });
    }
    Ok(())
}

/// Binds what an operation believes about the live object to the fingerprint
/// apply checks: the object an update, rotation or delete acts on must be the one
/// whose fingerprint was recorded, and a create must target an absent object
/// (or one an earlier change removes).
fn check_before(body: &PlanBody, index: usize, change: &Change) -> Result<(), String> {
    let recorded = body
        .touched
        .binary_search_by(|t| t.address.cmp(&change.address))
        .ok()
        .and_then(|i| body.touched[i].fingerprint);
    let before = match &change.operation {
        Operation::UpdateIdentity { before, .. } | Operation::ReplaceIdentity { before, .. } => {
            Some(nhi_provider_sdk::fingerprint(before))
        }
        Operation::DeleteIdentity { identity } => Some(nhi_provider_sdk::fingerprint(identity)),
        Operation::RotateKey { old: key, .. }
        | Operation::DeleteKey { key, .. }
        | Operation::DeactivateKey { key, .. } => Some(key.fingerprint()),
        Operation::UpdateBinding {
            before: binding, ..
        }
        | Operation::DeleteBinding { binding, .. } => Some(nhi_provider_sdk::fingerprint(binding)),
        Operation::CreateIdentity { .. }
        | Operation::CreateKey { .. }
        | Operation::CreateBinding { .. }
        | Operation::RevokeSessions { .. } => None,
    };
    match before {
        Some(before) if recorded != Some(before) => {
            Err("the object it acts on is not the one whose fingerprint was recorded".into())
        }
        Some(_) => Ok(()),
        None if recorded.is_none() => Ok(()),
        None => {
            let removed_earlier = body.changes[..index].iter().any(|c| {
                c.address == change.address
                    && matches!(
                        c.action,
                        crate::diff::Action::Delete | crate::diff::Action::Replace
                    )
            });
            if removed_earlier {
                Ok(())
            } else {
                Err("it creates an object that was recorded as existing".into())
            }
        }
    }
}

fn check_change(body: &PlanBody, change: &Change) -> Result<(), String> {
    let op = &change.operation;
    let Some(scope) = body.scope_of(&change.address) else {
        return Err("its provider is not among the plan's scopes".into());
    };
    if Action::of(op) != change.action {
        return Err(format!(
            "action `{:?}` does not match the operation",
            change.action
        ));
    }
    if Risk::of(op) != change.risk {
        return Err(format!(
            "risk `{}` does not match the operation (`{}`)",
            change.risk,
            Risk::of(op)
        ));
    }
    if op.creates_key() != change.sink.is_some() {
        return Err("a sink must be named exactly for changes that mint key material".into());
    }
    let identity = Address::raw(&scope.provider).identity(op.identity_name());
    let expected: Vec<Address> = match op {
        Operation::CreateIdentity { .. } | Operation::DeleteIdentity { .. } => {
            vec![identity.clone()]
        }
        Operation::UpdateIdentity { before, after }
        | Operation::ReplaceIdentity { before, after } => {
            if before.name != after.name {
                return Err("an update cannot rename an identity".into());
            }
            vec![identity.clone()]
        }
        Operation::CreateKey { key, .. } | Operation::RotateKey { key, .. } => {
            vec![identity.key(key)]
        }
        // A plan deactivates a key only because its declared status says so.
        Operation::DeactivateKey { .. } if change.reason != Reason::Status => {
            return Err("a plan deactivates a key only for its declared `status`".into());
        }
        Operation::DeleteKey { key, .. } | Operation::DeactivateKey { key, .. } => {
            let mut names = vec![identity.key(&key.id)];
            if let Some(name) = &key.name {
                names.push(identity.key(name));
                names.push(identity.key_instance(name, &key.id));
            }
            names
        }
        Operation::CreateBinding { binding, .. } | Operation::DeleteBinding { binding, .. } => {
            vec![identity.binding(&binding.role, &binding.resource)]
        }
        Operation::UpdateBinding { before, after, .. } => {
            if !before.same_object(after) {
                return Err("an update cannot change which binding it acts on".into());
            }
            vec![identity.binding(&after.role, &after.resource)]
        }
        // Only `nhi revoke` asks for this, never a plan.
        Operation::RevokeSessions { .. } => {
            return Err("a plan cannot hold an operation of `nhi revoke`".into());
        }
    };
    if !expected.contains(&change.address) {
        return Err("the address does not name the object the operation acts on".into());
    }
    let touched = |a: &Address| body.touched.binary_search_by(|t| t.address.cmp(a)).is_ok();
    if !touched(&change.address) || !touched(&identity) {
        return Err("the object is missing from the touched fingerprints".into());
    }
    let deletes = matches!(
        op,
        Operation::DeleteIdentity { .. } | Operation::ReplaceIdentity { .. }
    );
    if deletes && !touched(&identity.holdings()) {
        return Err("what the identity holds is missing from the touched fingerprints".into());
    }
    Ok(())
}
