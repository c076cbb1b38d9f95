//! Reading a project: service accounts page by page, their user-managed keys
//! concurrently (bounded and paced), and the project's IAM policy once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use google_cloud_gax::paginator::Paginator as _;
use google_cloud_iam_admin_v1::model::list_service_account_keys_request::KeyType;
use google_cloud_iam_v1::model::{GetPolicyOptions, Policy};
use nhi_provider_sdk::{
    Binding, KeyStatus, ObservedIdentity, ObservedKey, ObservedState, ProviderError,
};
use tokio::sync::Semaphore;

use crate::clients::Clients;
use crate::error::api_error;
use crate::mapping::{self, Record};
use crate::pace::Pace;
use crate::settings::Settings;

/// The largest page `serviceAccounts.list` serves.
const PAGE_SIZE: i32 = 100;
/// The policy version that shows conditional bindings as they are.
pub(crate) const POLICY_VERSION: i32 = 3;

/// API calls made, for `--verbose`.
#[derive(Debug, Default)]
pub(crate) struct Calls(AtomicU64);

impl Calls {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One managed service account as read.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) identity: nhi_provider_sdk::Identity,
    pub(crate) record: Record,
    /// `projects/<project>/serviceAccounts/<email>`.
    pub(crate) resource: String,
    pub(crate) email: String,
}

/// Lists the project's service accounts whose email is in the project's
/// `iam.gserviceaccount.com` domain; Google-created accounts and service agents
/// are never in scope.
pub(crate) async fn accounts(
    clients: &Clients,
    settings: &Settings,
    pace: &Pace,
    calls: &Calls,
) -> Result<Vec<Account>, ProviderError> {
    let domain = settings.email_domain();
    let mut pages = clients
        .iam
        .list_service_accounts()
        .set_name(settings.project_resource())
        .set_page_size(PAGE_SIZE)
        .by_page();
    let mut out = Vec::new();
    loop {
        pace.take().await;
        let Some(page) = pages.next().await else {
            break;
        };
        calls.add();
        let page = page.map_err(|e| {
            api_error(
                "serviceAccounts.list",
                &format!("project `{}`", settings.project),
                &e,
            )
        })?;
        for account in page.accounts {
            let Some((identity, record)) = mapping::identity(
                &account.email,
                &domain,
                &account.display_name,
                &account.description,
                account.disabled,
            ) else {
                continue;
            };
            out.push(Account {
                resource: settings.account_resource(&identity.name),
                email: account.email,
                identity,
                record,
            });
        }
    }
    out.sort_by(|a, b| a.identity.name.cmp(&b.identity.name));
    if let Some(twice) = out
        .windows(2)
        .find(|w| w[0].identity.name == w[1].identity.name)
    {
        return Err(ProviderError::Corrupt(format!(
            "service account `{}` was listed twice",
            twice[0].identity.name
        )));
    }
    Ok(out)
}

/// The user-managed keys of one service account, named from nhi's record.
pub(crate) async fn keys(
    clients: &Clients,
    account: &Account,
    pace: &Pace,
    calls: &Calls,
) -> Result<Vec<ObservedKey>, ProviderError> {
    pace.take().await;
    calls.add();
    let response = clients
        .iam
        .list_service_account_keys()
        .set_name(&account.resource)
        .set_key_types([KeyType::UserManaged])
        .send()
        .await
        .map_err(|e| {
            api_error(
                "serviceAccounts.keys.list",
                &format!("service account `{}`", account.identity.name),
                &e,
            )
        })?;
    let mut keys = Vec::with_capacity(response.keys.len());
    for key in response.keys {
        // The filter is the server's; a system-managed key is never ours to touch.
        if key.key_type != KeyType::UserManaged {
            continue;
        }
        let id = mapping::key_id(&key.name)?.to_owned();
        let created = key
            .valid_after_time
            .and_then(|t| jiff::Timestamp::new(t.seconds(), t.nanos()).ok())
            .ok_or_else(|| {
                ProviderError::Corrupt(format!(
                    "key `{id}` of `{}` has no valid creation time",
                    account.identity.name
                ))
            })?;
        keys.push(ObservedKey {
            name: account.record.keys.get(&id).cloned(),
            id,
            created,
            status: if key.disabled {
                KeyStatus::Inactive
            } else {
                KeyStatus::Active
            },
            last_used: None,
        });
    }
    Ok(keys)
}

/// The project's IAM policy at version 3 (conditions shown as they are).
pub(crate) async fn policy(
    clients: &Clients,
    settings: &Settings,
    pace: &Pace,
    calls: &Calls,
) -> Result<Policy, ProviderError> {
    pace.take().await;
    calls.add();
    clients
        .projects
        .get_iam_policy()
        .set_resource(settings.project_resource())
        .set_options(GetPolicyOptions::new().set_requested_policy_version(POLICY_VERSION))
        .send()
        .await
        .map_err(|e| {
            api_error(
                "projects.getIamPolicy",
                &format!("project `{}`", settings.project),
                &e,
            )
        })
}

/// The bindings of `member` in `policy`, at member level: one per policy binding
/// that holds the member. Sorted; `Err` when two policy bindings map to the same
/// role and condition title (nhi could not tell them apart).
pub(crate) fn member_bindings(
    policy: &Policy,
    member: &str,
    account: &str,
) -> Result<Vec<Binding>, ProviderError> {
    let mut out: Vec<Binding> = policy
        .bindings
        .iter()
        .filter(|b| b.members.iter().any(|m| m == member))
        .map(|b| {
            mapping::observed_binding(
                &b.role,
                b.condition.as_ref().map(|c| {
                    (
                        c.title.as_str(),
                        c.expression.as_str(),
                        c.description.as_str(),
                    )
                }),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.role, &a.resource).cmp(&(&b.role, &b.resource)));
    if let Some(twice) = out.windows(2).find(|w| w[0].same_object(&w[1])) {
        return Err(ProviderError::Corrupt(format!(
            "service account `{account}` holds `{}` on `{}` twice (two conditions with one \
             title); give the conditions distinct titles",
            twice[0].role, twice[0].resource
        )));
    }
    Ok(out)
}

/// The whole scope: every managed service account with its keys and bindings.
pub(crate) async fn read(
    clients: &Clients,
    settings: &Settings,
    pace: &Arc<Pace>,
    calls: &Arc<Calls>,
) -> Result<(ObservedState, BTreeMap<String, Record>), ProviderError> {
    let (accounts, policy) = tokio::try_join!(
        accounts(clients, settings, pace, calls),
        policy(clients, settings, pace, calls)
    )?;
    let limit = Arc::new(Semaphore::new(settings.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, account) in accounts.iter().enumerate() {
        let (clients, account, pace, calls, limit) = (
            clients.clone(),
            account.clone(),
            Arc::clone(pace),
            Arc::clone(calls),
            Arc::clone(&limit),
        );
        tasks.spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .map_err(|_| ProviderError::Other("read cancelled".into()))?;
            keys(&clients, &account, &pace, &calls)
                .await
                .map(|keys| (index, keys))
        });
    }
    let mut keys_of: Vec<Vec<ObservedKey>> = vec![Vec::new(); accounts.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, keys) =
            joined.map_err(|e| ProviderError::Other(format!("a key listing failed: {e}")))??;
        keys_of[index] = keys;
    }
    let mut records = BTreeMap::new();
    let mut identities = Vec::with_capacity(accounts.len());
    for (account, keys) in accounts.into_iter().zip(keys_of) {
        let bindings = member_bindings(
            &policy,
            &format!("serviceAccount:{}", account.email),
            &account.identity.name,
        )?;
        records.insert(account.identity.name.clone(), account.record);
        identities.push(ObservedIdentity {
            identity: account.identity,
            keys,
            bindings,
        });
    }
    Ok((ObservedState { identities }, records))
}
