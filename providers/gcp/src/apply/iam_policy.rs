//! The project's IAM policy, changed by read-modify-write at member level with the
//! policy's etag: a concurrent writer makes `setIamPolicy` fail with `ABORTED`,
//! and the same member-level change is applied again to a fresh read, a bounded
//! number of times. Members, roles and conditions nhi does not manage are written
//! back exactly as read.

use std::time::Duration;

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_iam_v1::model::{Binding as PolicyBinding, Policy};
use google_cloud_type::model::Expr;
use nhi_provider_sdk::{Binding, ProviderError};

use crate::error::{api_error, is_conflict, is_unseen_member};
use crate::mapping;
use crate::propagation::{Wait, not_visible};
use crate::read::{self, POLICY_VERSION};
use crate::target::Target;

/// Read-modify-write rounds of the project policy before giving up.
const POLICY_TRIES: u32 = 5;
/// Pause before another round after losing an etag race (doubles each round).
const POLICY_FIRST_WAIT: Duration = Duration::from_millis(50);

/// Reads the project policy, lets `change` edit it and writes it back with the
/// etag it was read with, unless `change` says it changed nothing. `unseen` is
/// how long to keep trying while Google refuses the member of an account it
/// does not show yet; those rounds do not count against [`POLICY_TRIES`].
pub(super) async fn read_modify_write(
    target: &Target<'_>,
    mut unseen: Wait,
    mut change: impl FnMut(&mut Policy) -> Result<bool, ProviderError>,
) -> Result<(), ProviderError> {
    let mut wait = POLICY_FIRST_WAIT;
    let mut round = 1;
    while round <= POLICY_TRIES {
        let mut policy =
            read::policy(target.clients, target.settings, target.reads, target.calls).await?;
        if !change(&mut policy)? {
            return Ok(());
        }
        policy.version = POLICY_VERSION;
        target.writes.take().await;
        target.calls.add();
        match target
            .clients
            .projects
            .set_iam_policy()
            .set_resource(target.settings.project_resource())
            .set_policy(policy)
            // With the etag, a repeated write that already took effect gets 409
            // and the next round finds nothing left to change.
            .with_idempotency(true)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            // A member Google does not see yet (an account created a moment
            // ago): read again and re-apply the same change once it may.
            Err(e) if is_unseen_member(&e) && unseen.pause().await => {}
            Err(e) if is_unseen_member(&e) && unseen.created.is_some() => {
                return Err(not_visible(unseen.created.as_deref().unwrap_or_default()));
            }
            // A lost etag race: read again and re-apply the same change.
            Err(e) if is_conflict(&e) && round < POLICY_TRIES => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                round += 1;
            }
            Err(e) => {
                return Err(api_error(
                    "projects.setIamPolicy",
                    &format!("project `{}`", target.settings.project),
                    &e,
                ));
            }
        }
    }
    Err(ProviderError::Other(format!(
        "the IAM policy of project `{}` kept changing under nhi: gave up after {POLICY_TRIES} \
         read-modify-write rounds",
        target.settings.project
    )))
}

/// Whether a policy binding is the one `binding` (whose condition is
/// `condition`) stands for: same role and the same condition, compared exactly.
fn matches(
    policy_binding: &PolicyBinding,
    binding: &Binding,
    condition: Option<&mapping::Condition<'_>>,
) -> bool {
    if policy_binding.role != binding.role {
        return false;
    }
    match (&policy_binding.condition, condition) {
        (None, None) => true,
        (Some(have), Some(want)) => {
            have.title == want.title
                && have.expression == want.expression
                && have.description == want.description
        }
        _ => false,
    }
}

/// Removes the members Google left behind for earlier accounts with this email
/// (`deleted:serviceAccount:<email>?uid=<id>`). Google rewrites a deleted
/// account's members to that form and keeps them, counting toward the policy's
/// 1,500 principals, until someone removes them; they revert to the account only
/// if that very account (that uid) is undeleted
/// (<https://cloud.google.com/iam/docs/service-accounts-delete-undelete>,
/// <https://cloud.google.com/iam/docs/reference/rest/v1/Policy#Binding>).
pub(super) fn remove_deleted_members(policy: &mut Policy, email: &str) -> bool {
    let gone = format!("deleted:serviceAccount:{email}?uid=");
    let mut changed = false;
    for policy_binding in &mut policy.bindings {
        let before = policy_binding.members.len();
        policy_binding.members.retain(|m| !m.starts_with(&gone));
        changed |= policy_binding.members.len() != before;
    }
    policy.bindings.retain(|b| !b.members.is_empty());
    changed
}

/// Removes `member` from every policy binding of `role`, conditional or not.
pub(super) fn remove_role_member(policy: &mut Policy, member: &str, role: &str) -> bool {
    let mut changed = false;
    for policy_binding in policy.bindings.iter_mut().filter(|b| b.role == role) {
        let before = policy_binding.members.len();
        policy_binding.members.retain(|m| m != member);
        changed |= policy_binding.members.len() != before;
    }
    policy.bindings.retain(|b| !b.members.is_empty());
    changed
}

/// Removes `member` from every policy binding `binding` stands for (one, or
/// each of several conditions of one title).
pub(super) fn remove_member(
    policy: &mut Policy,
    member: &str,
    binding: &Binding,
) -> Result<bool, ProviderError> {
    let conditions = mapping::conditions(binding).map_err(ProviderError::Other)?;
    let mut changed = false;
    for policy_binding in &mut policy.bindings {
        let matched = if conditions.is_empty() {
            matches(policy_binding, binding, None)
        } else {
            conditions
                .iter()
                .any(|c| matches(policy_binding, binding, Some(c)))
        };
        if matched {
            let before = policy_binding.members.len();
            policy_binding.members.retain(|m| m != member);
            changed |= policy_binding.members.len() != before;
        }
    }
    // A binding left without members is dropped, as Google does itself.
    policy.bindings.retain(|b| !b.members.is_empty());
    Ok(changed)
}

pub(super) fn add_member(
    policy: &mut Policy,
    member: &str,
    binding: &Binding,
) -> Result<bool, ProviderError> {
    let condition = mapping::condition(binding).map_err(ProviderError::Other)?;
    for policy_binding in &mut policy.bindings {
        if matches(policy_binding, binding, condition.as_ref()) {
            if policy_binding.members.iter().any(|m| m == member) {
                return Ok(false);
            }
            policy_binding.members.push(member.to_owned());
            return Ok(true);
        }
    }
    let condition = condition.map(|c| {
        Expr::new()
            .set_title(c.title)
            .set_expression(c.expression)
            .set_description(c.description)
    });
    policy.bindings.push(
        PolicyBinding::new()
            .set_role(&binding.role)
            .set_members([member])
            .set_or_clear_condition(condition),
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn binding(role: &str, resource: &str, policy: Option<nhi_provider_sdk::Policy>) -> Binding {
        Binding {
            role: role.into(),
            resource: resource.into(),
            policy,
        }
    }

    fn policy() -> Policy {
        Policy::new().set_bindings([
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["user:alice@example.com", "serviceAccount:a@p"]),
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:a@p"])
                .set_condition(
                    Expr::new()
                        .set_title("office-hours")
                        .set_expression("request.time.getHours() < 18"),
                ),
            PolicyBinding::new()
                .set_role("roles/editor")
                .set_members(["group:ops@example.com"]),
        ])
    }

    #[test]
    fn members_move_without_touching_anyone_else() {
        let mut p = policy();
        // Removing the unconditional grant leaves the conditional one and alice.
        assert!(
            remove_member(
                &mut p,
                "serviceAccount:a@p",
                &binding("roles/viewer", "*", None)
            )
            .unwrap()
        );
        assert_eq!(p.bindings[0].members, ["user:alice@example.com"]);
        assert_eq!(p.bindings[1].members, ["serviceAccount:a@p"]);
        // Removing what is not there changes nothing.
        assert!(
            !remove_member(
                &mut p,
                "serviceAccount:a@p",
                &binding("roles/viewer", "*", None)
            )
            .unwrap()
        );
        // Adding to an existing binding appends; adding again is a no-op.
        assert!(
            add_member(
                &mut p,
                "serviceAccount:a@p",
                &binding("roles/editor", "*", None)
            )
            .unwrap()
        );
        assert_eq!(
            p.bindings[2].members,
            ["group:ops@example.com", "serviceAccount:a@p"]
        );
        assert!(
            !add_member(
                &mut p,
                "serviceAccount:a@p",
                &binding("roles/editor", "*", None)
            )
            .unwrap()
        );
        // A new role gets a binding of its own, at the end.
        assert!(
            add_member(
                &mut p,
                "serviceAccount:b@p",
                &binding("roles/owner", "*", None)
            )
            .unwrap()
        );
        assert_eq!(p.bindings[3].role, "roles/owner");
    }

    #[test]
    fn a_binding_read_as_several_conditions_of_one_title_is_removed_from_each() {
        let mut p = policy();
        p.bindings.push(
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:a@p", "user:bob@example.com"])
                .set_condition(Expr::new().set_title("office-hours").set_expression("true")),
        );
        let merged = Binding {
            role: "roles/viewer".into(),
            resource: "condition:office-hours".into(),
            policy: Some(
                json!({"conditions": [
                    {"expression": "request.time.getHours() < 18"},
                    {"expression": "true"}
                ]})
                .into(),
            ),
        };
        assert!(remove_member(&mut p, "serviceAccount:a@p", &merged).unwrap());
        assert!(
            p.bindings
                .iter()
                .filter(|b| b.condition.is_some())
                .all(|b| b.members == ["user:bob@example.com"]),
            "{p:?}"
        );
        // The unconditional grant is another binding, and stays.
        assert!(
            p.bindings[0]
                .members
                .iter()
                .any(|m| m == "serviceAccount:a@p")
        );
        // A configured binding never takes the read-only form.
        assert!(mapping::condition(&merged).is_err());
    }

    #[test]
    fn members_left_by_deleted_accounts_of_one_email_are_removed() {
        let mut p = policy();
        p.bindings[0]
            .members
            .push("deleted:serviceAccount:a@p?uid=123".into());
        p.bindings.push(
            PolicyBinding::new()
                .set_role("roles/owner")
                .set_members(["deleted:serviceAccount:a@p?uid=456"]),
        );
        p.bindings[2]
            .members
            .push("deleted:serviceAccount:ab@p?uid=789".into());
        assert!(remove_deleted_members(&mut p, "a@p"));
        assert_eq!(
            p.bindings[0].members,
            ["user:alice@example.com", "serviceAccount:a@p"]
        );
        assert_eq!(p.bindings.len(), 3, "the emptied binding is dropped");
        assert_eq!(
            p.bindings[2].members,
            [
                "group:ops@example.com",
                "deleted:serviceAccount:ab@p?uid=789"
            ],
            "another email's leftovers stay"
        );
        assert!(!remove_deleted_members(&mut p, "a@p"));
    }

    #[test]
    fn conditions_are_compared_exactly_and_emptied_bindings_dropped() {
        let mut p = policy();
        let other_expression = binding(
            "roles/viewer",
            "condition:office-hours",
            Some(json!({"expression": "true"}).into()),
        );
        assert!(!remove_member(&mut p, "serviceAccount:a@p", &other_expression).unwrap());
        let exact = binding(
            "roles/viewer",
            "condition:office-hours",
            Some(json!({"expression": "request.time.getHours() < 18"}).into()),
        );
        assert!(remove_member(&mut p, "serviceAccount:a@p", &exact).unwrap());
        assert_eq!(
            p.bindings.len(),
            2,
            "the emptied conditional binding is dropped"
        );
        assert!(p.bindings.iter().all(|b| b.condition.is_none()));
        assert!(add_member(&mut p, "serviceAccount:a@p", &exact).unwrap());
        let added = p.bindings.last().unwrap();
        assert_eq!(added.condition.as_ref().unwrap().title, "office-hours");
    }
}
