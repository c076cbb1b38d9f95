//! Google's limits a plan must fit, judged at plan (`preflight`) rather than met
//! halfway through an apply: the project's quota of service accounts and the
//! number of principals one allow policy holds.

use google_cloud_gax::paginator::Paginator as _;
use nhi_provider_sdk::{PreflightRequest, ProviderError};

use crate::error::api_error;
use crate::target::Target;

/// "An allow policy can contain up to 1,500 principals"; IAM counts every
/// appearance of a principal in the policy's role bindings, without removing
/// duplicates, and the members Google leaves for deleted accounts
/// (`deleted:serviceAccount:…`) count like any other
/// (<https://cloud.google.com/iam/docs/allow-policies#limits>,
/// <https://cloud.google.com/iam/quotas#limits>).
pub(crate) const MAX_POLICY_PRINCIPALS: usize = 1_500;

/// The problems of `request` against the project's limits, by identity.
pub(crate) async fn check(
    target: &Target<'_>,
    request: &PreflightRequest,
) -> Result<Vec<(String, String)>, ProviderError> {
    let mut problems = Vec::new();
    let project = &target.settings.project;
    if let Some(first) = request.creates.first() {
        let now = accounts(target).await?;
        let after = (now + request.creates.len()).saturating_sub(request.deletes.len());
        let quota = target.settings.max_service_accounts as usize;
        if after > quota {
            problems.push((
                first.name.clone(),
                format!(
                    "project `{project}` would hold {after} service accounts ({now} now, {} \
                     created, {} deleted), over its quota of {quota} (`max_service_accounts`; \
                     Google's default is 100): Google refuses the rest; ask Google for more \
                     quota and set `max_service_accounts` to it, or create fewer",
                    request.creates.len(),
                    request.deletes.len()
                ),
            ));
        }
    }
    if let Some(first) = request.grants_added.first() {
        let policy =
            crate::read::policy(target.clients, target.settings, target.reads, target.calls)
                .await?;
        let now: usize = policy.bindings.iter().map(|b| b.members.len()).sum();
        let deleted = policy
            .bindings
            .iter()
            .flat_map(|b| &b.members)
            .filter(|m| m.starts_with("deleted:"))
            .count();
        // A created account's leftovers are removed before it is created.
        let cleared: usize = request
            .creates
            .iter()
            .map(|identity| {
                let gone = format!(
                    "deleted:serviceAccount:{}?uid=",
                    target.settings.email(&identity.name)
                );
                policy
                    .bindings
                    .iter()
                    .flat_map(|b| &b.members)
                    .filter(|m| m.starts_with(&gone))
                    .count()
            })
            .sum();
        let after =
            (now + request.grants_added.len()).saturating_sub(request.grants_removed + cleared);
        if after > MAX_POLICY_PRINCIPALS {
            problems.push((
                first.clone(),
                format!(
                    "the IAM policy of project `{project}` would hold {after} principals ({now} \
                     now, {deleted} of them `deleted:` members of deleted accounts; {} added, {} \
                     removed), over Google's limit of {MAX_POLICY_PRINCIPALS} per allow policy: \
                     Google refuses the write; remove leftover `deleted:` members and unused \
                     grants, or grant a group instead of each account",
                    request.grants_added.len(),
                    request.grants_removed + cleared
                ),
            ));
        }
    }
    Ok(problems)
}

/// How many service accounts the project holds, Google-created ones included:
/// the quota counts them all.
async fn accounts(target: &Target<'_>) -> Result<usize, ProviderError> {
    let mut pages = target
        .clients
        .iam
        .list_service_accounts()
        .set_name(target.settings.project_resource())
        .set_page_size(100)
        .by_page();
    let mut count = 0;
    loop {
        target.reads.take().await;
        let Some(page) = pages.next().await else {
            break;
        };
        target.calls.add();
        let page = page.map_err(|e| {
            api_error(
                "serviceAccounts.list",
                &format!("project `{}`", target.settings.project),
                &e,
            )
        })?;
        count += page.accounts.len();
    }
    Ok(count)
}
