//! The SDK clients of one provider block, built from the standard credential
//! chain and region resolution, with the block's overrides on top, and a count
//! of every request the IAM client sends (each retry is one more).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_iam::error::BoxError;

use crate::settings::Settings;

/// IAM is a global service: without a configured region its calls go through
/// this one, as the AWS CLI does.
const IAM_DEFAULT_REGION: &str = "us-east-1";

#[derive(Clone)]
pub(crate) struct Clients {
    pub(crate) iam: aws_sdk_iam::Client,
    /// `None` when no region is configured: Secrets Manager is regional.
    pub(crate) secrets: Option<aws_sdk_secretsmanager::Client>,
    /// Requests the IAM client sent: every attempt, the SDK's retries included.
    pub(crate) attempts: Attempts,
}

/// Counts the requests a client sends, shared by its concurrent calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempts(Arc<AtomicU64>);

impl Attempts {
    pub(crate) fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "nhi-attempts"
    }

    // Called once per attempt, so a call the SDK retries counts each time.
    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Loads the shared configuration (`AWS_PROFILE`, `AWS_REGION`, environment
/// credentials, SSO, IMDS, `AWS_ENDPOINT_URL[_IAM]`, ... as the SDK resolves
/// them), with the block's `region`, `profile`, `endpoint_url` and `max_attempts`
/// taking precedence, and explicit credentials when given.
pub(crate) async fn load(settings: &Settings, credentials: Option<Credentials>) -> Clients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts));
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    let config = loader.load().await;
    let attempts = Attempts::default();
    let mut iam = aws_sdk_iam::config::Builder::from(&config).interceptor(attempts.clone());
    if config.region().is_none() {
        iam = iam.region(Region::new(IAM_DEFAULT_REGION));
    }
    let secrets = config
        .region()
        .is_some()
        .then(|| aws_sdk_secretsmanager::Client::new(&config));
    Clients {
        iam: aws_sdk_iam::Client::from_conf(iam.build()),
        secrets,
        attempts,
    }
}
