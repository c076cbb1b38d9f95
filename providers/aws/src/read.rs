//! Reading the scope in few calls: `GetAccountAuthorizationDetails` pages for
//! users, roles, tags, policies and group memberships; `ListRoles` pages for role descriptions (which
//! the former omits); one `ListAccessKeys` per user in scope, run concurrently;
//! and the credential report for key last use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_iam::Client;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::{
    AccessKeyMetadata, AttachedPolicy, EntityType, PolicyDetail, ReportStateType, StatusType, Tag,
};
use jiff::Timestamp;
use nhi_provider_sdk::{
    Binding, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, ProviderError,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::credential_report::CredentialReport;
use crate::error::api_error;
use crate::mapping::{GROUP_PREFIX, INLINE_PREFIX, KEY_TAG_PREFIX, Kind, RawIdentity};
use crate::paginate::{all_pages, next_marker};
use crate::policy;
use crate::settings::Settings;

/// The largest page IAM hands out.
const PAGE_SIZE: i32 = 1000;
/// Tries of `GenerateCredentialReport` while AWS is still producing the report.
const REPORT_TRIES: u32 = 5;

/// What a read found: the state, each identity's kind for later applies, and
/// the key-name tags of each user that name keys that no longer exist.
pub(crate) struct Snapshot {
    pub(crate) state: ObservedState,
    pub(crate) kinds: HashMap<String, Kind>,
    pub(crate) stale_key_tags: StaleKeyTags,
}

/// By user name, the tags `nhi:key:<id>` whose key `<id>` the read did not find
/// (deleted out of band): IAM keeps them until untagged, and they count against
/// the user's 50 tags. The next key minted or deleted for the user removes them.
pub(crate) type StaleKeyTags = HashMap<String, Vec<String>>;

/// An identity in scope with its bindings, before its keys are listed.
struct Found {
    raw: RawIdentity,
    bindings: Vec<Binding>,
}

pub(crate) async fn read(iam: &Client, settings: &Settings) -> Result<Snapshot, ProviderError> {
    let mut found = authorization_details(iam, settings).await?;
    if found.iter().any(|f| f.raw.kind == Kind::Role) {
        let descriptions = role_descriptions(iam, settings).await?;
        for f in found.iter_mut().filter(|f| f.raw.kind == Kind::Role) {
            f.raw.description = descriptions.get(&f.raw.name).cloned().flatten();
        }
    }
    let users: Vec<String> = found
        .iter()
        .filter(|f| f.raw.kind == Kind::User)
        .map(|f| f.raw.name.clone())
        .collect();
    let (keys, report) = if users.is_empty() {
        (Ok(HashMap::new()), None)
    } else {
        tokio::join!(
            access_keys(iam, users, settings.concurrency),
            credential_report(iam)
        )
    };
    let mut keys = keys?;
    assemble(found, &mut keys, report.as_ref(), settings)
}

/// Builds the observed state from what the calls returned.
fn assemble(
    found: Vec<Found>,
    keys: &mut HashMap<String, Vec<AccessKeyMetadata>>,
    report: Option<&CredentialReport>,
    settings: &Settings,
) -> Result<Snapshot, ProviderError> {
    let managed_tag = settings.managed_tag.as_deref();
    let mut kinds = HashMap::new();
    let mut stale_key_tags = StaleKeyTags::new();
    let mut identities = Vec::with_capacity(found.len());
    for Found { raw, mut bindings } in found {
        if let Some(other) = kinds.insert(raw.name.clone(), raw.kind) {
            return Err(ProviderError::Corrupt(format!(
                "a {} and a {} are both named `{}` under `{}`; nhi names identities uniquely",
                other.as_str(),
                raw.kind.as_str(),
                raw.name,
                settings.path_prefix
            )));
        }
        let identity = raw.identity(managed_tag)?;
        let names = raw.key_names();
        let mut observed_keys = Vec::new();
        for key in keys.remove(&raw.name).unwrap_or_default() {
            let id = key.access_key_id().unwrap_or_default().to_owned();
            let created = timestamp(key.create_date()).ok_or_else(|| {
                ProviderError::Corrupt(format!("access key `{id}` has no creation date"))
            })?;
            observed_keys.push(ObservedKey {
                name: names.get(id.as_str()).map(|n| (*n).to_owned()),
                created,
                status: match key.status() {
                    Some(StatusType::Active) => KeyStatus::Active,
                    _ => KeyStatus::Inactive,
                },
                last_used: report.and_then(|r| r.last_used(&raw.name, created)),
                id,
                expires: None,
                leaked: None,
            });
        }
        let stale: Vec<String> = names
            .keys()
            .filter(|id| !observed_keys.iter().any(|k| k.id == **id))
            .map(|id| format!("{KEY_TAG_PREFIX}{id}"))
            .collect();
        if raw.kind == Kind::User && !stale.is_empty() {
            stale_key_tags.insert(raw.name.clone(), stale);
        }
        observed_keys.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        bindings.sort_by(|a, b| (&a.role, &a.resource).cmp(&(&b.role, &b.resource)));
        identities.push(ObservedIdentity {
            identity,
            keys: observed_keys,
            bindings,
        });
    }
    identities.sort_by(|a, b| a.identity.name.cmp(&b.identity.name));
    Ok(Snapshot {
        state: ObservedState { identities },
        kinds,
        stale_key_tags,
    })
}

/// Users and roles in scope, with tags, boundaries, trust and inline policies and
/// attachments, from every page of `GetAccountAuthorizationDetails`.
async fn authorization_details(
    iam: &Client,
    settings: &Settings,
) -> Result<Vec<Found>, ProviderError> {
    const ACTION: &str = "iam:GetAccountAuthorizationDetails";
    let pages = all_pages(ACTION, |marker| async move {
        let page = iam
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::Role)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(ACTION, "the account", &err))?;
        let next = next_marker(ACTION, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await?;
    let mut found = Vec::new();
    for page in &pages {
        for user in page.user_detail_list() {
            let raw = RawIdentity {
                kind: Kind::User,
                name: required(user.user_name(), "a user without a name")?,
                path: user.path().unwrap_or("/").to_owned(),
                tags: tags(user.tags()),
                description: None,
                trust_policy: None,
                permissions_boundary: user
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_owned),
            };
            if raw.in_scope(settings) {
                let mut bindings = bindings(
                    &raw,
                    user.attached_managed_policies(),
                    user.user_policy_list(),
                )?;
                bindings.extend(user.group_list().iter().map(|group| Binding {
                    role: format!("{GROUP_PREFIX}{group}"),
                    resource: "*".to_owned(),
                    policy: None,
                }));
                found.push(Found { raw, bindings });
            }
        }
        for role in page.role_detail_list() {
            let raw = RawIdentity {
                kind: Kind::Role,
                name: required(role.role_name(), "a role without a name")?,
                path: role.path().unwrap_or("/").to_owned(),
                tags: tags(role.tags()),
                description: None,
                trust_policy: role.assume_role_policy_document().map(str::to_owned),
                permissions_boundary: role
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_owned),
            };
            if raw.in_scope(settings) {
                let bindings = bindings(
                    &raw,
                    role.attached_managed_policies(),
                    role.role_policy_list(),
                )?;
                found.push(Found { raw, bindings });
            }
        }
    }
    Ok(found)
}

/// Role descriptions under the path prefix, by role name.
async fn role_descriptions(
    iam: &Client,
    settings: &Settings,
) -> Result<HashMap<String, Option<String>>, ProviderError> {
    const ACTION: &str = "iam:ListRoles";
    let pages = all_pages(ACTION, |marker| async move {
        let page = iam
            .list_roles()
            .path_prefix(&settings.path_prefix)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(ACTION, &format!("path `{}`", settings.path_prefix), &err))?;
        let next = next_marker(ACTION, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await?;
    Ok(pages
        .iter()
        .flat_map(aws_sdk_iam::operation::list_roles::ListRolesOutput::roles)
        .map(|role| {
            (
                role.role_name().to_owned(),
                role.description().map(str::to_owned),
            )
        })
        .collect())
}

/// Access keys of every user, listed concurrently with at most `concurrency`
/// calls in flight.
async fn access_keys(
    iam: &Client,
    users: Vec<String>,
    concurrency: usize,
) -> Result<HashMap<String, Vec<AccessKeyMetadata>>, ProviderError> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for user in users {
        let (iam, permits) = (iam.clone(), Arc::clone(&permits));
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("invariant: the semaphore is never closed");
            let keys = list_access_keys(&iam, &user).await?;
            Ok::<_, ProviderError>((user, keys))
        });
    }
    let mut keys = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => {
                let (user, user_keys) = result?;
                keys.insert(user, user_keys);
            }
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => {
                return Err(ProviderError::Other(format!(
                    "listing access keys stopped: {err}"
                )));
            }
        }
    }
    Ok(keys)
}

async fn list_access_keys(
    iam: &Client,
    user: &str,
) -> Result<Vec<AccessKeyMetadata>, ProviderError> {
    const ACTION: &str = "iam:ListAccessKeys";
    let object = format!("user `{user}`");
    let pages = all_pages(ACTION, |marker| {
        let object = &object;
        async move {
            let page = iam
                .list_access_keys()
                .user_name(user)
                .set_marker(marker)
                .send()
                .await
                .map_err(|err| api_error(ACTION, object, &err))?;
            let next = next_marker(ACTION, page.is_truncated(), page.marker())?;
            Ok((page, next))
        }
    })
    .await?;
    Ok(pages
        .iter()
        .flat_map(|page| page.access_key_metadata().iter().cloned())
        .collect())
}

/// The account's credential report, or `None` when it cannot be had: last use is
/// informative, never a reason to fail a read.
async fn credential_report(iam: &Client) -> Option<CredentialReport> {
    let mut wait = Duration::from_millis(100);
    for attempt in 1..=REPORT_TRIES {
        let state = iam.generate_credential_report().send().await.ok()?;
        if state.state() == Some(&ReportStateType::Complete) || attempt == REPORT_TRIES {
            break;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    let report = iam.get_credential_report().send().await.ok()?;
    let text = std::str::from_utf8(report.content()?.as_ref()).ok()?;
    CredentialReport::parse(text).ok()
}

fn bindings(
    raw: &RawIdentity,
    attached: &[AttachedPolicy],
    inline: &[PolicyDetail],
) -> Result<Vec<Binding>, ProviderError> {
    let mut bindings: Vec<Binding> = attached
        .iter()
        .filter_map(AttachedPolicy::policy_arn)
        .map(|arn| Binding {
            role: arn.to_owned(),
            resource: "*".to_owned(),
            policy: None,
        })
        .collect();
    for detail in inline {
        let name = detail.policy_name().unwrap_or_default();
        let document = policy::decode_document(detail.policy_document().unwrap_or_default())
            .map_err(|err| {
                ProviderError::Corrupt(format!(
                    "inline policy `{name}` of {} `{}`: {err}",
                    raw.kind.as_str(),
                    raw.name
                ))
            })?;
        bindings.push(Binding {
            role: format!("{INLINE_PREFIX}{name}"),
            resource: "*".to_owned(),
            policy: Some(document.into()),
        });
    }
    Ok(bindings)
}

pub(crate) fn tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn required(value: Option<&str>, what: &str) -> Result<String, ProviderError> {
    value
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Corrupt(format!("IAM returned {what}")))
}

pub(crate) fn timestamp(date: Option<&DateTime>) -> Option<Timestamp> {
    let date = date?;
    Timestamp::new(date.secs(), i32::try_from(date.subsec_nanos()).ok()?).ok()
}
