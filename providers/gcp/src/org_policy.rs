//! Organization policy constraints that decide whether a plan can be applied,
//! judged at plan through the Organization Policy API's effective policy of the
//! project (`projects.policies.getEffectivePolicy`), which folds in what the
//! organization and folders above it set.

use google_cloud_orgpolicy_v2::model::policy_spec::policy_rule::Kind;
use nhi_provider_sdk::ProviderError;

use crate::error::api_error;
use crate::target::Target;

/// The constraints that forbid creating user-managed service-account keys: the
/// legacy boolean constraint and its managed successor
/// (<https://cloud.google.com/resource-manager/docs/organization-policy/restricting-service-accounts#disable_service_account_key_creation>).
/// Organizations created since May 2024 enforce them by default
/// (<https://cloud.google.com/resource-manager/docs/secure-by-default-organizations>).
pub(crate) const KEY_CREATION: [&str; 2] = [
    "iam.disableServiceAccountKeyCreation",
    "iam.managed.disableServiceAccountKeyCreation",
];

/// How a boolean constraint applies to the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enforcement {
    Off,
    On,
    /// Enforced by a rule with a condition (on tags): it may hold for an account.
    Conditional,
}

/// How boolean constraint `constraint` applies to the project. A constraint the
/// API does not know (404, 400) is not enforced: the managed constraints do not
/// exist everywhere yet.
pub(crate) async fn enforcement(
    target: &Target<'_>,
    constraint: &str,
) -> Result<Enforcement, ProviderError> {
    target.reads.take().await;
    target.calls.add();
    let name = format!(
        "{}/policies/{constraint}",
        target.settings.project_resource()
    );
    let policy = match target
        .clients
        .org_policy
        .get_effective_policy()
        .set_name(&name)
        .send()
        .await
    {
        Ok(policy) => policy,
        Err(e)
            if e.status().is_some_and(|s| {
                matches!(
                    s.code,
                    google_cloud_gax::error::rpc::Code::NotFound
                        | google_cloud_gax::error::rpc::Code::InvalidArgument
                )
            }) =>
        {
            return Ok(Enforcement::Off);
        }
        Err(e) => {
            return Err(api_error(
                "policies.getEffectivePolicy",
                &format!(
                    "constraint `{constraint}` on project `{}`",
                    target.settings.project
                ),
                &e,
            ));
        }
    };
    let Some(spec) = policy.spec else {
        return Ok(Enforcement::Off);
    };
    let mut out = Enforcement::Off;
    for rule in &spec.rules {
        if let Some(Kind::Enforce(true)) = rule.kind {
            if rule.condition.is_none() {
                return Ok(Enforcement::On);
            }
            out = Enforcement::Conditional;
        }
    }
    Ok(out)
}

/// Why keys cannot be created in the project, if an organization policy says so.
pub(crate) async fn key_creation_refused(
    target: &Target<'_>,
) -> Result<Option<String>, ProviderError> {
    for constraint in KEY_CREATION {
        let project = &target.settings.project;
        match enforcement(target, constraint).await? {
            Enforcement::Off => {}
            Enforcement::On => {
                return Ok(Some(format!(
                    "the organization policy constraint `{constraint}` is enforced on project \
                     `{project}`: Google refuses every new service-account key there \
                     (FAILED_PRECONDITION); use an attached service account, workload identity \
                     federation or impersonation instead, or ask the organization's policy \
                     administrator for an exception on this project"
                )));
            }
            Enforcement::Conditional => {
                return Ok(Some(format!(
                    "the organization policy constraint `{constraint}` is enforced on project \
                     `{project}` under a condition (on tags): Google may refuse the new key \
                     (FAILED_PRECONDITION); check the condition, or ask the organization's \
                     policy administrator for an exception"
                )));
            }
        }
    }
    Ok(None)
}
