//! Accounts deleted outside nhi, as the project policy shows them. Google keeps
//! a deleted service account's grants, its members rewritten to
//! `deleted:serviceAccount:<email>?uid=<unique id>`, until someone removes them;
//! they count toward the policy's 1,500 principals, and they revert to the
//! account only if that very account (that uid) is undeleted, which Google
//! allows for 30 days after the deletion
//! (<https://cloud.google.com/iam/docs/service-accounts-delete-undelete>,
//! <https://cloud.google.com/iam/docs/principal-identifiers#deleted>).

use std::collections::{BTreeMap, BTreeSet};

use google_cloud_iam_v1::model::Policy;
use nhi_provider_sdk::Binding;

use crate::mapping;

/// A binding's `resource` for the leftover grant of a deleted account with
/// this uid (read only: a configuration cannot declare it).
pub(crate) const RESOURCE_PREFIX: &str = "deleted:";

/// The member prefix Google gives a deleted account's grants.
const MEMBER_PREFIX: &str = "deleted:serviceAccount:";

/// Leftover grants in the policy by account id: each deleted account's uid
/// and the roles its members keep, for accounts of the project's domain.
pub(crate) fn leftovers(
    policy: &Policy,
    domain: &str,
) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for binding in &policy.bindings {
        for member in &binding.members {
            let Some((id, uid)) = parse(member, domain) else {
                continue;
            };
            if mapping::check_role(&binding.role).is_err() {
                continue;
            }
            out.entry(id.to_owned())
                .or_default()
                .entry(uid.to_owned())
                .or_default()
                .insert(binding.role.clone());
        }
    }
    out
}

/// `(account id, uid)` of a deleted account's member in `domain`; `None` for
/// any other member or one whose parts Google would not issue.
fn parse<'m>(member: &'m str, domain: &str) -> Option<(&'m str, &'m str)> {
    let rest = member.strip_prefix(MEMBER_PREFIX)?;
    let (email, uid) = rest.split_once("?uid=")?;
    let id = email.strip_suffix(domain)?.strip_suffix('@')?;
    let plausible = mapping::check_account_id(id).is_ok()
        && !mapping::google_created(id)
        && (1..=30).contains(&uid.len())
        && uid.bytes().all(|b| b.is_ascii_digit());
    plausible.then_some((id, uid))
}

/// The leftover grants of earlier accounts under a live account's name, as
/// bindings it does not declare: the plan deletes them, and reviewers see it.
pub(crate) fn as_bindings(by_uid: &BTreeMap<String, BTreeSet<String>>) -> Vec<Binding> {
    by_uid
        .iter()
        .flat_map(|(uid, roles)| {
            roles.iter().map(move |role| Binding {
                role: role.clone(),
                resource: format!("{RESOURCE_PREFIX}{uid}"),
                policy: None,
            })
        })
        .collect()
}

/// The uid a leftover binding's `resource` names, if it is one.
pub(crate) fn uid_of(binding: &Binding) -> Option<&str> {
    binding
        .resource
        .strip_prefix(RESOURCE_PREFIX)
        .filter(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
}

/// The member a leftover binding stands for.
pub(crate) fn member(email: &str, uid: &str) -> String {
    format!("{MEMBER_PREFIX}{email}?uid={uid}")
}

/// What reviewers are told about a declared account that is gone from the
/// listing while the policy still names it as deleted.
pub(crate) fn note(email: &str, by_uid: &BTreeMap<String, BTreeSet<String>>) -> String {
    let accounts: Vec<String> = by_uid
        .iter()
        .map(|(uid, roles)| {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            format!("uid {uid}, still granted {}", roles.join(", "))
        })
        .collect();
    let latest = by_uid.keys().next_back().map_or("", String::as_str);
    format!(
        "`{email}` was deleted outside nhi: the project policy still names it as \
         `deleted:serviceAccount:…` ({}). Google can undelete it within 30 days of the deletion \
         (`gcloud iam service-accounts undelete {latest}`), which brings it back with those \
         grants; this plan instead removes those leftover members and creates a new account \
         under the name, a different member that holds nothing of the old one",
        accounts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use google_cloud_iam_v1::model::Binding as PolicyBinding;

    use super::*;

    #[test]
    fn only_plausible_members_of_the_project_domain_are_leftovers() {
        let d = "p.iam.gserviceaccount.com";
        let policy = Policy::new().set_bindings([
            PolicyBinding::new().set_role("roles/viewer").set_members([
                format!("deleted:serviceAccount:ci-bot1@{d}?uid=123"),
                format!("deleted:serviceAccount:ci-bot1@{d}?uid=456"),
                format!("deleted:serviceAccount:ci-bot1@{d}?uid=12a"),
                format!("deleted:serviceAccount:Bad@{d}?uid=1"),
                "deleted:serviceAccount:x@other.iam.gserviceaccount.com?uid=1".to_owned(),
                format!("serviceAccount:ci-bot1@{d}"),
                "deleted:user:a@example.com?uid=9".to_owned(),
            ]),
            PolicyBinding::new()
                .set_role("roles/editor")
                .set_members([format!("deleted:serviceAccount:ci-bot1@{d}?uid=123")]),
        ]);
        let found = leftovers(&policy, d);
        assert_eq!(found.len(), 1, "{found:?}");
        let by_uid = &found["ci-bot1"];
        assert_eq!(
            by_uid["123"].iter().collect::<Vec<_>>(),
            ["roles/editor", "roles/viewer"]
        );
        assert_eq!(by_uid["456"].len(), 1);
        let bindings = as_bindings(by_uid);
        assert_eq!(bindings.len(), 3);
        assert_eq!(uid_of(&bindings[0]), Some("123"));
        assert!(
            mapping::condition(&bindings[0]).is_err(),
            "a configuration cannot declare one"
        );
    }
}
