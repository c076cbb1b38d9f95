//! Carrying out one operation. Every write is paced within the write quota.
//! Bindings change the project's IAM policy by read-modify-write at member level
//! with the policy's etag: a concurrent writer makes `setIamPolicy` fail with
//! `ABORTED`, and the same member-level change is applied again to a fresh read,
//! a bounded number of times. Members, roles and conditions nhi does not manage
//! are written back exactly as read.

use std::time::Duration;

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_iam_admin_v1::model::ServiceAccount;
use google_cloud_iam_v1::model::{Binding as PolicyBinding, Policy};
use google_cloud_type::model::Expr;
use google_cloud_wkt::FieldMask;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, Binding, Identity, ObservedKey, Operation, ProviderError,
    SecretMaterial, Sink,
};
use zeroize::Zeroizing;

use nhi_provider_sdk::settle::{gone_is_ok, settle};

use crate::clients::Clients;
use crate::error::{api_error, is_conflict, is_unseen_member};
use crate::mapping::{self, Record};
use crate::pace::Pace;
use crate::read::{self, Calls, POLICY_VERSION};
use crate::secrets;
use crate::settings::Settings;

/// Read-modify-write rounds of the project policy before giving up.
const POLICY_TRIES: u32 = 5;
/// Pause before another round after losing an etag race (doubles each round).
const POLICY_FIRST_WAIT: Duration = Duration::from_millis(50);

pub(crate) struct Ctx<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) settings: &'a Settings,
    pub(crate) reads: &'a Pace,
    pub(crate) writes: &'a Pace,
    pub(crate) calls: &'a Calls,
}

pub(crate) async fn apply(
    ctx: &Ctx<'_>,
    request: ApplyRequest,
) -> Result<ApplyResponse, ProviderError> {
    let secret_id = match &request.sink {
        None => None,
        Some(sink) if sink.is_local() => None,
        Some(Sink::GcpSecretManager { secret_id }) => Some(secret_id.as_str()),
        Some(sink) => {
            return Err(ProviderError::Other(format!(
                "the gcp provider cannot deliver key material to {sink:?}; use a file or \
                 `gcp_secret_manager` sink"
            )));
        }
    };
    match request.operation {
        Operation::CreateIdentity { identity } => {
            create_identity(ctx, &identity).await?;
            Ok(ApplyResponse::default())
        }
        Operation::UpdateIdentity { after, .. } => {
            update_identity(ctx, &after).await?;
            Ok(ApplyResponse::default())
        }
        Operation::ReplaceIdentity { after, .. } => Err(ProviderError::Other(format!(
            "service account `{}` cannot change kind: the gcp provider has one kind, `{}`",
            after.name,
            mapping::KIND
        ))),
        Operation::DeleteIdentity { identity } => {
            delete_identity(ctx, &identity.name).await?;
            Ok(ApplyResponse::default())
        }
        Operation::CreateKey { identity, key } => create_key(ctx, &identity, &key, secret_id).await,
        Operation::RotateKey { identity, key, old } => {
            let minted = create_key(ctx, &identity, &key, secret_id).await?;
            match delete_key(ctx, &identity, &old).await {
                Ok(()) => Ok(minted),
                Err(err) => Err(after_failed_rotation(
                    ctx, &identity, minted, secret_id, &old.id, err,
                )
                .await),
            }
        }
        Operation::DeleteKey { identity, key } => {
            delete_key(ctx, &identity, &key).await?;
            Ok(ApplyResponse::default())
        }
        Operation::CreateBinding { identity, binding } => {
            change_member(ctx, &identity, None, Some(&binding)).await?;
            Ok(ApplyResponse::default())
        }
        Operation::UpdateBinding {
            identity,
            before,
            after,
        } => {
            change_member(ctx, &identity, Some(&before), Some(&after)).await?;
            Ok(ApplyResponse::default())
        }
        Operation::DeleteBinding { identity, binding } => {
            change_member(ctx, &identity, Some(&binding), None).await?;
            Ok(ApplyResponse::default())
        }
    }
}

fn object(name: &str) -> String {
    format!("service account `{name}`")
}

async fn create_identity(ctx: &Ctx<'_>, identity: &Identity) -> Result<(), ProviderError> {
    let record = Record {
        owner: identity.owner.clone(),
        keys: std::collections::BTreeMap::new(),
    };
    let description = mapping::compose_description(&identity.description, &record)
        .map_err(ProviderError::Other)?;
    ctx.writes.take().await;
    ctx.calls.add();
    ctx.clients
        .iam
        .create_service_account()
        .set_name(ctx.settings.project_resource())
        .set_account_id(&identity.name)
        .set_service_account(
            ServiceAccount::new()
                .set_display_name(mapping::display_name(identity))
                .set_description(description),
        )
        .send()
        .await
        .map_err(|e| api_error("serviceAccounts.create", &object(&identity.name), &e))?;
    if mapping::disabled(identity) {
        set_disabled(ctx, &identity.name, true).await?;
    }
    Ok(())
}

/// The live service account, for its record (key names) and state.
async fn get_account(ctx: &Ctx<'_>, name: &str) -> Result<ServiceAccount, ProviderError> {
    settle(|| async {
        ctx.reads.take().await;
        ctx.calls.add();
        ctx.clients
            .iam
            .get_service_account()
            .set_name(ctx.settings.account_resource(name))
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.get", &object(name), &e))
    })
    .await
}

/// Writes display name and description (with nhi's record).
async fn patch_account(
    ctx: &Ctx<'_>,
    name: &str,
    display_name: &str,
    description: String,
) -> Result<(), ProviderError> {
    ctx.writes.take().await;
    ctx.calls.add();
    ctx.clients
        .iam
        .patch_service_account()
        .set_service_account(
            ServiceAccount::new()
                .set_name(ctx.settings.account_resource(name))
                .set_display_name(display_name)
                .set_description(description),
        )
        .set_update_mask(FieldMask::default().set_paths(["display_name", "description"]))
        .with_idempotency(true)
        .send()
        .await
        .map_err(|e| api_error("serviceAccounts.patch", &object(name), &e))?;
    Ok(())
}

async fn update_identity(ctx: &Ctx<'_>, after: &Identity) -> Result<(), ProviderError> {
    let live = get_account(ctx, &after.name).await?;
    let (text, record) = mapping::split_description(&live.description);
    let display_name = mapping::display_name(after);
    // Only what differs is written: retiring an account nhi never described
    // (an unmanaged one) leaves its description as it is.
    let owner_matches = record
        .as_ref()
        .map_or(after.owner.is_empty(), |r| r.owner == after.owner);
    if text != after.description || !owner_matches || display_name != live.display_name {
        let record = Record {
            owner: after.owner.clone(),
            keys: record.unwrap_or_default().keys,
        };
        let description = mapping::compose_description(&after.description, &record)
            .map_err(ProviderError::Other)?;
        patch_account(ctx, &after.name, display_name, description).await?;
    }
    if mapping::disabled(after) != live.disabled {
        set_disabled(ctx, &after.name, mapping::disabled(after)).await?;
    }
    Ok(())
}

async fn set_disabled(ctx: &Ctx<'_>, name: &str, disabled: bool) -> Result<(), ProviderError> {
    settle(|| switch(ctx, name, disabled)).await
}

async fn switch(ctx: &Ctx<'_>, name: &str, disabled: bool) -> Result<(), ProviderError> {
    ctx.writes.take().await;
    ctx.calls.add();
    let resource = ctx.settings.account_resource(name);
    if disabled {
        ctx.clients
            .iam
            .disable_service_account()
            .set_name(resource)
            .with_idempotency(true)
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.disable", &object(name), &e))
    } else {
        ctx.clients
            .iam
            .enable_service_account()
            .set_name(resource)
            .with_idempotency(true)
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.enable", &object(name), &e))
    }
}

async fn delete_identity(ctx: &Ctx<'_>, name: &str) -> Result<(), ProviderError> {
    ctx.writes.take().await;
    ctx.calls.add();
    let deleted = ctx
        .clients
        .iam
        .delete_service_account()
        .set_name(ctx.settings.account_resource(name))
        .send()
        .await
        .map(drop)
        .map_err(|e| api_error("serviceAccounts.delete", &object(name), &e));
    gone_is_ok(deleted)
}

/// Rewrites nhi's record of key names on the service account.
async fn record_keys(
    ctx: &Ctx<'_>,
    name: &str,
    change: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
) -> Result<(), ProviderError> {
    let live = get_account(ctx, name).await?;
    let (text, record) = mapping::split_description(&live.description);
    let mut record = record.unwrap_or_default();
    let before = record.keys.clone();
    change(&mut record.keys);
    if record.keys == before {
        return Ok(());
    }
    let description = mapping::compose_description(&text, &record).map_err(ProviderError::Other)?;
    patch_account(ctx, name, &live.display_name, description).await
}

/// Creates a key and records its name. Its private key file goes to Secret
/// Manager when `secret_id` is set, else back to the engine for a local sink; it
/// goes nowhere else.
async fn create_key(
    ctx: &Ctx<'_>,
    identity: &str,
    key: &str,
    secret_id: Option<&str>,
) -> Result<ApplyResponse, ProviderError> {
    // A 404 here means the account is not visible yet, and nothing was created.
    let created = settle(|| async {
        ctx.writes.take().await;
        ctx.calls.add();
        ctx.clients
            .iam
            .create_service_account_key()
            .set_name(ctx.settings.account_resource(identity))
            .send()
            .await
            .map_err(|e| api_error("serviceAccounts.keys.create", &object(identity), &e))
    })
    .await?;
    let id = mapping::key_id(&created.name)?.to_owned();
    // The private key file is JSON (the client has already decoded the base64).
    let secret = Zeroizing::new(
        String::from_utf8(created.private_key_data.to_vec()).map_err(|_| {
            ProviderError::Corrupt(format!(
                "the new key `{id}` of `{identity}` is not a JSON key file"
            ))
        })?,
    );
    drop(created);
    if secret.is_empty() {
        return Err(ProviderError::Corrupt(format!(
            "Google returned no private key data for the new key `{id}` of `{identity}`"
        )));
    }
    let delivered = match secret_id {
        Some(secret_id) => secrets::deliver(ctx, secret_id, secret.as_bytes()).await,
        None => Ok(()),
    };
    let recorded = match delivered {
        Ok(()) => {
            record_keys(ctx, identity, |keys| {
                keys.insert(id.clone(), key.to_owned());
            })
            .await
        }
        Err(err) => Err(err),
    };
    if let Err(err) = recorded {
        // A key nobody received, or one without a record (an unnamed key): take it
        // back rather than leave a credential behind.
        let _ = delete_key_by_id(ctx, identity, &id).await;
        return Err(err);
    }
    Ok(ApplyResponse {
        secret: secret_id.is_none().then(|| SecretMaterial {
            key_id: id.clone(),
            secret,
        }),
        new_key_id: Some(id),
    })
}

async fn delete_key_by_id(ctx: &Ctx<'_>, identity: &str, id: &str) -> Result<(), ProviderError> {
    ctx.writes.take().await;
    ctx.calls.add();
    ctx.clients
        .iam
        .delete_service_account_key()
        .set_name(format!(
            "{}/keys/{id}",
            ctx.settings.account_resource(identity)
        ))
        .send()
        .await
        .map_err(|e| {
            api_error(
                "serviceAccounts.keys.delete",
                &format!("key `{id}` of service account `{identity}`"),
                &e,
            )
        })?;
    Ok(())
}

/// The error of a rotation whose new key exists but whose old key could not be
/// deleted. A key file the engine would never deliver is useless, so a new key
/// bound for a local sink is deleted again; one already in Secret Manager stays,
/// and the error says where it is.
async fn after_failed_rotation(
    ctx: &Ctx<'_>,
    identity: &str,
    minted: ApplyResponse,
    secret_id: Option<&str>,
    old: &str,
    err: ProviderError,
) -> ProviderError {
    let new = minted.new_key_id.unwrap_or_default();
    if let Some(secret_id) = secret_id {
        return ProviderError::Other(format!(
            "the new key `{new}` of service account `{identity}` is in secret `{secret_id}`, \
             but the old key `{old}` could not be deleted: {err}"
        ));
    }
    drop(minted.secret);
    let _ = delete_key_by_id(ctx, identity, &new).await;
    let _ = record_keys(ctx, identity, |keys| {
        keys.remove(&new);
    })
    .await;
    err
}

async fn delete_key(ctx: &Ctx<'_>, identity: &str, key: &ObservedKey) -> Result<(), ProviderError> {
    gone_is_ok(delete_key_by_id(ctx, identity, &key.id).await)?;
    record_keys(ctx, identity, |keys| {
        keys.remove(&key.id);
    })
    .await
}

/// Moves `identity`'s member from the policy binding of `remove` to that of
/// `add` (either may be absent), by read-modify-write with the etag.
async fn change_member(
    ctx: &Ctx<'_>,
    identity: &str,
    remove: Option<&Binding>,
    add: Option<&Binding>,
) -> Result<(), ProviderError> {
    let member = format!("serviceAccount:{}", ctx.settings.email(identity));
    let mut wait = POLICY_FIRST_WAIT;
    for round in 1..=POLICY_TRIES {
        let mut policy = read::policy(ctx.clients, ctx.settings, ctx.reads, ctx.calls).await?;
        let mut changed = false;
        if let Some(binding) = remove {
            changed |= remove_member(&mut policy, &member, binding)?;
        }
        if let Some(binding) = add {
            changed |= add_member(&mut policy, &member, binding)?;
        }
        if !changed {
            return Ok(());
        }
        policy.version = POLICY_VERSION;
        ctx.writes.take().await;
        ctx.calls.add();
        match ctx
            .clients
            .projects
            .set_iam_policy()
            .set_resource(ctx.settings.project_resource())
            .set_policy(policy)
            // With the etag, a repeated write that already took effect gets 409
            // and the next round finds nothing left to change.
            .with_idempotency(true)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            // A lost etag race, or a member Google does not see yet (an account
            // created a moment ago): read again and re-apply the same change.
            Err(e) if (is_conflict(&e) || is_unseen_member(&e)) && round < POLICY_TRIES => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                return Err(api_error(
                    "projects.setIamPolicy",
                    &format!("project `{}`", ctx.settings.project),
                    &e,
                ));
            }
        }
    }
    Err(ProviderError::Other(format!(
        "the IAM policy of project `{}` kept changing under nhi: gave up after {POLICY_TRIES} \
         read-modify-write rounds",
        ctx.settings.project
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

fn remove_member(
    policy: &mut Policy,
    member: &str,
    binding: &Binding,
) -> Result<bool, ProviderError> {
    let condition = mapping::condition(binding).map_err(ProviderError::Other)?;
    let mut changed = false;
    for policy_binding in &mut policy.bindings {
        if matches(policy_binding, binding, condition.as_ref()) {
            let before = policy_binding.members.len();
            policy_binding.members.retain(|m| m != member);
            changed |= policy_binding.members.len() != before;
        }
    }
    // A binding left without members is dropped, as Google does itself.
    policy.bindings.retain(|b| !b.members.is_empty());
    Ok(changed)
}

fn add_member(policy: &mut Policy, member: &str, binding: &Binding) -> Result<bool, ProviderError> {
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
