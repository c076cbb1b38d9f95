//! Reading a project: service accounts page by page, their user-managed keys
//! concurrently (bounded and paced), and the project's IAM policy once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_gax::paginator::Paginator as _;
use google_cloud_iam_admin_v1::model::ServiceAccountKey;
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
/// `iam.gserviceaccount.com` domain, in the order listed, telling `found` about
/// each one as its page arrives; Google-created accounts and service agents are
/// never in scope.
pub(crate) async fn accounts(
    clients: &Clients,
    settings: &Settings,
    pace: &Pace,
    calls: &Calls,
    found: &mut (dyn FnMut(usize, &Account) + Send),
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
            // Ids end up in request paths and addresses: one Google would not
            // issue means the answer cannot be trusted.
            mapping::check_account_id(&identity.name).map_err(|reason| {
                ProviderError::Corrupt(format!("the listing holds `{}`: {reason}", account.email))
            })?;
            let account = Account {
                resource: settings.account_resource(&identity.name),
                email: account.email,
                identity,
                record,
            };
            found(out.len(), &account);
            out.push(account);
        }
    }
    Ok(out)
}

/// The user-managed keys of one service account, named from nhi's record; a
/// key past its expiry at `now` (the plan's clock) is inactive.
pub(crate) async fn keys(
    clients: &Clients,
    account: &Account,
    pace: &Pace,
    calls: &Calls,
    now: jiff::Timestamp,
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
        // Google's "never" (9999-12-31T23:59:59Z) is past jiff's range: no expiry.
        let expires = key
            .valid_before_time
            .and_then(|t| jiff::Timestamp::new(t.seconds(), t.nanos()).ok());
        keys.push(ObservedKey {
            name: account.record.keys.get(&id).cloned(),
            status: key_status(key.disabled, expires, now),
            leaked: leaked(&key, &id),
            id,
            created,
            last_used: None,
            expires,
        });
    }
    Ok(keys)
}

/// Google's word that a key leaked: the `extendedStatus` it keeps for the key's
/// lifetime (`KEY_EXPOSED`: its private key was found in public, e.g. on GitHub;
/// `KEY_COMPROMISE_DETECTED`: it was used in an attack) and the `disableReason`
/// of a key it disabled for that reason
/// (<https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys>).
/// The client's model has neither field yet; it keeps them as unknown fields,
/// which serialising it writes back, in names or (as the client asks for) numbers.
fn leaked(key: &ServiceAccountKey, id: &str) -> Option<String> {
    const EXPOSED: (&str, i64) = ("SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_EXPOSED", 1);
    const COMPROMISED: (&str, i64) = (
        "SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_COMPROMISE_DETECTED",
        2,
    );
    const DISABLED_EXPOSED: (&str, i64) = ("SERVICE_ACCOUNT_KEY_DISABLE_REASON_EXPOSED", 2);
    const DISABLED_COMPROMISED: (&str, i64) =
        ("SERVICE_ACCOUNT_KEY_DISABLE_REASON_COMPROMISE_DETECTED", 3);
    let is = |value: &serde_json::Value, (name, number): (&str, i64)| {
        value.as_str() == Some(name) || value.as_i64() == Some(number)
    };
    let fields = serde_json::to_value(key).ok()?;
    let mut said = Vec::new();
    for status in fields
        .get("extendedStatus")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(which) = status.get("key") else {
            continue;
        };
        let word = if is(which, EXPOSED) {
            "KEY_EXPOSED"
        } else if is(which, COMPROMISED) {
            "KEY_COMPROMISE_DETECTED"
        } else {
            continue;
        };
        match status.get("value").and_then(serde_json::Value::as_str) {
            Some(value) if !value.is_empty() => said.push(format!("{word}: {}", plain(value))),
            _ => said.push(word.to_owned()),
        }
    }
    if let Some(reason) = fields.get("disableReason") {
        if is(reason, DISABLED_EXPOSED) && !said.iter().any(|s| s.starts_with("KEY_EXPOSED")) {
            said.push("disabled as exposed".to_owned());
        } else if is(reason, DISABLED_COMPROMISED)
            && !said.iter().any(|s| s.starts_with("KEY_COMPROMISE"))
        {
            said.push("disabled as compromised".to_owned());
        }
    }
    (!said.is_empty()).then(|| {
        format!(
            "Google reports key `{id}` leaked ({}): whoever holds it can act as the account",
            said.join("; ")
        )
    })
}

/// Google's free text about a leak, as one short line of printable characters:
/// it ends up in plans and on terminals.
fn plain(text: &str) -> String {
    const MOST: usize = 120;
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .take(MOST)
        .collect();
    if text.chars().count() > MOST {
        out.push('…');
    }
    out
}

/// A key is active while it is enabled and not past its expiry (`validBeforeTime`,
/// set when an organization policy limits key lifetimes): an expired key
/// authenticates nothing, so the plan replaces it like a disabled one.
fn key_status(
    disabled: bool,
    valid_before: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> KeyStatus {
    if disabled || valid_before.is_some_and(|t| t <= now) {
        KeyStatus::Inactive
    } else {
        KeyStatus::Active
    }
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
        // A read, though sent as POST: safe to retry on 503.
        .with_idempotency(true)
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

/// The policy's grants by member, at member level: for each member, one binding
/// per policy binding that holds it (role and condition).
pub(crate) fn bindings_by_member(policy: &Policy) -> HashMap<&str, Vec<Binding>> {
    let mut out: HashMap<&str, Vec<Binding>> = HashMap::new();
    for b in &policy.bindings {
        let condition = b.condition.as_ref().map(|c| {
            (
                c.title.as_str(),
                c.expression.as_str(),
                c.description.as_str(),
            )
        });
        for member in &b.members {
            out.entry(member.as_str())
                .or_default()
                .push(mapping::observed_binding(&b.role, condition));
        }
    }
    out
}

/// One managed account's bindings, sorted. The same grant listed twice is one
/// grant; different conditions of one role and title are one binding listing
/// them all (`mapping::merged_conditions`), so the widened grant shows as drift.
pub(crate) fn account_bindings(mut bindings: Vec<Binding>) -> Vec<Binding> {
    fn policy_text(b: &Binding) -> Option<&str> {
        b.policy.as_ref().map(nhi_provider_sdk::Policy::as_str)
    }
    bindings.sort_by(|a, b| {
        (&a.role, &a.resource)
            .cmp(&(&b.role, &b.resource))
            .then_with(|| policy_text(a).cmp(&policy_text(b)))
    });
    bindings.dedup();
    let mut out: Vec<Binding> = Vec::with_capacity(bindings.len());
    let mut rest = bindings.as_slice();
    while let Some(first) = rest.first() {
        let same = rest.iter().take_while(|b| b.same_object(first)).count();
        out.push(match same {
            1 => first.clone(),
            _ => mapping::merged_conditions(&rest[..same]),
        });
        rest = &rest[same..];
    }
    out
}

/// The whole scope: every managed service account with its keys and bindings
/// (leftover grants of deleted accounts of its name among them, see `deleted`),
/// and the accounts gone from the listing that the policy still names as
/// deleted, by account id, with what reviewers are told.
pub(crate) async fn read(
    clients: &Clients,
    settings: &Settings,
    pace: &Arc<Pace>,
    calls: &Arc<Calls>,
    now: jiff::Timestamp,
) -> Result<(ObservedState, Vec<(String, String)>), ProviderError> {
    // Each account's key listing starts as soon as its page arrives (bounded by
    // `concurrency`), while further pages and the policy are fetched.
    let limit = Arc::new(Semaphore::new(settings.concurrency));
    let progress = crate::quota::current();
    let mut tasks = tokio::task::JoinSet::new();
    let mut spawn = |index: usize, account: &Account| {
        let (clients, account, pace, calls, limit) = (
            clients.clone(),
            account.clone(),
            Arc::clone(pace),
            Arc::clone(calls),
            Arc::clone(&limit),
        );
        tasks.spawn(crate::quota::reporting(progress.clone(), async move {
            let _permit = limit
                .acquire_owned()
                .await
                .map_err(|_| ProviderError::Other("read cancelled".into()))?;
            keys(&clients, &account, &pace, &calls, now)
                .await
                .map(|keys| (index, keys))
        }));
    };
    let (accounts, policy) = tokio::try_join!(
        accounts(clients, settings, pace, calls, &mut spawn),
        policy(clients, settings, pace, calls)
    )?;
    let mut keys_of: Vec<Vec<ObservedKey>> = vec![Vec::new(); accounts.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, keys) =
            joined.map_err(|e| ProviderError::Other(format!("a key listing failed: {e}")))??;
        keys_of[index] = keys;
    }
    let mut accounts: Vec<(Account, Vec<ObservedKey>)> =
        accounts.into_iter().zip(keys_of).collect();
    accounts.sort_by(|a, b| a.0.identity.name.cmp(&b.0.identity.name));
    if let Some(twice) = accounts
        .windows(2)
        .find(|w| w[0].0.identity.name == w[1].0.identity.name)
    {
        return Err(ProviderError::Corrupt(format!(
            "service account `{}` was listed twice",
            twice[0].0.identity.name
        )));
    }
    let mut by_member = bindings_by_member(&policy);
    let mut leftovers = crate::deleted::leftovers(&policy, &settings.email_domain());
    let mut identities = Vec::with_capacity(accounts.len());
    for (account, keys) in accounts {
        let member = format!("serviceAccount:{}", account.email);
        let mut bindings = by_member.remove(member.as_str()).unwrap_or_default();
        if let Some(by_uid) = leftovers.remove(&account.identity.name) {
            bindings.extend(crate::deleted::as_bindings(&by_uid));
        }
        let bindings = account_bindings(bindings);
        identities.push(ObservedIdentity {
            identity: account.identity,
            keys,
            bindings,
        });
    }
    let deleted = leftovers
        .iter()
        .map(|(id, by_uid)| {
            (
                id.clone(),
                crate::deleted::note(&settings.email(id), by_uid),
            )
        })
        .collect();
    Ok((ObservedState { identities }, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_and_expired_keys_are_inactive() {
        let now: jiff::Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let later: jiff::Timestamp = "2036-11-22T12:00:00Z".parse().unwrap();
        // Google's "never" (9999-12-31T23:59:59Z) is past jiff's range: no expiry.
        assert_eq!(jiff::Timestamp::new(253_402_300_799, 0).ok(), None);
        assert_eq!(key_status(false, None, now), KeyStatus::Active);
        assert_eq!(key_status(false, Some(later), now), KeyStatus::Active);
        assert_eq!(key_status(true, Some(later), now), KeyStatus::Inactive);
        assert_eq!(key_status(false, Some(now), now), KeyStatus::Inactive);
    }

    #[test]
    fn bindings_are_read_at_member_level() {
        use google_cloud_iam_v1::model::Binding as PolicyBinding;
        use google_cloud_type::model::Expr;
        let policy = Policy::new().set_bindings([
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["user:a@example.com", "serviceAccount:x@p"]),
            PolicyBinding::new()
                .set_role("roles/editor")
                .set_members(["user:a@example.com"]),
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:x@p"])
                .set_condition(Expr::new().set_title("t").set_expression("true")),
        ]);
        let mut by_member = bindings_by_member(&policy);
        assert_eq!(by_member["user:a@example.com"].len(), 2);
        let got = account_bindings(by_member.remove("serviceAccount:x@p").unwrap());
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|b| (b.role.as_str(), b.resource.as_str()))
            .collect();
        assert_eq!(
            got,
            [("roles/viewer", "*"), ("roles/viewer", "condition:t")]
        );

        let twice = Policy::new().set_bindings([
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:x@p"])
                .set_condition(Expr::new().set_title("t").set_expression("a")),
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:x@p"])
                .set_condition(Expr::new().set_title("t").set_expression("b")),
        ]);
        // Two conditions of one title (legal in Google): one binding listing both.
        let mut by_member = bindings_by_member(&twice);
        let got = account_bindings(by_member.remove("serviceAccount:x@p").unwrap());
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].resource, "condition:t");
        assert_eq!(
            got[0].policy.as_ref().unwrap().to_value(),
            serde_json::json!({"conditions": [{"expression": "a"}, {"expression": "b"}]})
        );
        let listed = mapping::conditions(&got[0]).unwrap();
        let expressions: Vec<&str> = listed.iter().map(|c| c.expression.as_str()).collect();
        assert_eq!(expressions, ["a", "b"]);
        assert!(listed.iter().all(|c| c.title == "t"));

        // The same grant listed twice is one grant.
        let repeated = Policy::new().set_bindings([
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:x@p"]),
            PolicyBinding::new()
                .set_role("roles/viewer")
                .set_members(["serviceAccount:x@p"]),
        ]);
        let mut by_member = bindings_by_member(&repeated);
        let got = account_bindings(by_member.remove("serviceAccount:x@p").unwrap());
        assert_eq!(got.len(), 1);
    }
}
