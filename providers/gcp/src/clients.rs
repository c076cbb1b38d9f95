//! The official clients, built once per provider: IAM (service accounts and keys),
//! Resource Manager (the project's IAM policy) and Secret Manager (a key sink),
//! with the block's endpoint, credentials and retry policy.

use std::time::Duration;

use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_iam_admin_v1::client::Iam;
use google_cloud_orgpolicy_v2::client::OrgPolicy;
use google_cloud_resourcemanager_v3::client::Projects;
use google_cloud_secretmanager_v1::client::SecretManagerService;
use nhi_provider_sdk::ProviderError;

use crate::quota::{QuotaBackoff, QuotaRetry, Unthrottled};
use crate::settings::{CredentialSource, Settings};

/// First wait after a quota or availability error; it doubles up to the maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub(crate) iam: Iam,
    pub(crate) projects: Projects,
    pub(crate) secrets: SecretManagerService,
    /// Effective organization policies, asked at plan (`preflight`).
    pub(crate) org_policy: OrgPolicy,
}

/// Builds the clients. Quota errors (429, `RESOURCE_EXHAUSTED`) are retried for
/// every call, since Google refuses such calls before doing anything, across a
/// quota window and after the delay Google asks for (`quota`); other transient
/// errors only for idempotent calls (AIP-194), at most `max_attempts` attempts
/// with exponential backoff.
pub(crate) async fn build(settings: &Settings) -> Result<Clients, ProviderError> {
    let backoff = || {
        ExponentialBackoffBuilder::new()
            .with_initial_delay(FIRST_BACKOFF)
            .with_maximum_delay(MAX_BACKOFF)
            .build()
            .map_err(|e| ProviderError::Other(format!("backoff policy: {e}")))
    };
    let retry = || -> Result<_, ProviderError> {
        Ok(QuotaRetry::new(
            Aip194Strict.with_attempt_limit(settings.max_attempts),
            backoff()?,
        ))
    };

    let mut iam = Iam::builder()
        .with_retry_policy(retry()?)
        .with_backoff_policy(QuotaBackoff(backoff()?))
        .with_retry_throttler(Unthrottled);
    let mut projects = Projects::builder()
        .with_retry_policy(retry()?)
        .with_backoff_policy(QuotaBackoff(backoff()?))
        .with_retry_throttler(Unthrottled);
    let mut secrets = SecretManagerService::builder()
        .with_retry_policy(retry()?)
        .with_backoff_policy(QuotaBackoff(backoff()?))
        .with_retry_throttler(Unthrottled);
    let mut org_policy = OrgPolicy::builder()
        .with_retry_policy(retry()?)
        .with_backoff_policy(QuotaBackoff(backoff()?))
        .with_retry_throttler(Unthrottled);
    if let Some(endpoint) = &settings.endpoint {
        iam = iam.with_endpoint(endpoint);
        projects = projects.with_endpoint(endpoint);
        secrets = secrets.with_endpoint(endpoint);
        org_policy = org_policy.with_endpoint(endpoint);
    }
    if settings.credentials == CredentialSource::Anonymous {
        let anonymous = google_cloud_auth::credentials::anonymous::Builder::new().build();
        iam = iam.with_credentials(anonymous.clone());
        projects = projects.with_credentials(anonymous.clone());
        secrets = secrets.with_credentials(anonymous.clone());
        org_policy = org_policy.with_credentials(anonymous);
    }
    let connect = |what: &str, e: &dyn std::fmt::Display| {
        ProviderError::Other(format!(
            "cannot set up the Google Cloud {what} client: {e} (credentials come from \
             application default credentials: `GOOGLE_APPLICATION_CREDENTIALS` or \
             `gcloud auth application-default login`)"
        ))
    };
    let iam = iam.build().await.map_err(|e| connect("IAM", &e))?;
    let projects = projects
        .build()
        .await
        .map_err(|e| connect("Resource Manager", &e))?;
    let secrets = secrets
        .build()
        .await
        .map_err(|e| connect("Secret Manager", &e))?;
    let org_policy = org_policy
        .build()
        .await
        .map_err(|e| connect("Organization Policy", &e))?;
    Ok(Clients {
        iam,
        projects,
        secrets,
        org_policy,
    })
}
