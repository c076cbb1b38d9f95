//! The connected `aws` provider for one provider block: its settings, its SDK
//! clients (built on first use, since loading credentials is asynchronous) and
//! the kinds of the identities it has seen.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_iam::config::Credentials;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, DescribeResponse, LockGuard, LockRequest, Provider,
    ProviderContext, ProviderError, ReadRequest, ReadResponse, RecordKeyRequest,
};
use tokio::sync::OnceCell;

use crate::apply::{self, Target};
use crate::clients::{self, Clients};
use crate::lock;
use crate::mapping::Kind;
use crate::read::{self, StaleKeyTags};
use crate::settings::Settings;

/// A provider for one `aws` block.
pub struct AwsProvider {
    block: String,
    base_dir: PathBuf,
    settings: Settings,
    credentials: Option<Credentials>,
    clients: OnceCell<Clients>,
    kinds: Mutex<HashMap<String, Kind>>,
    stale_key_tags: Mutex<StaleKeyTags>,
}

impl AwsProvider {
    /// A provider for the block in `context`; fails only on bad settings. No AWS
    /// call is made until the provider is used.
    pub fn new(context: ProviderContext) -> Result<Self, ProviderError> {
        let settings = Settings::parse(&context.settings).map_err(ProviderError::Settings)?;
        Ok(Self {
            block: context.name,
            base_dir: context.base_dir,
            settings,
            credentials: None,
            clients: OnceCell::new(),
            kinds: Mutex::new(HashMap::new()),
            stale_key_tags: Mutex::new(StaleKeyTags::new()),
        })
    }

    /// Uses these static credentials instead of the standard credential chain
    /// (tests against an emulator, embedding). Must be called before first use.
    #[must_use]
    pub fn with_static_credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.credentials = Some(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "nhi-static",
        ));
        self.clients = OnceCell::new();
        self
    }

    /// What one write operation works with.
    async fn target(&self) -> Target<'_> {
        let clients = self.clients().await;
        Target {
            iam: &clients.iam,
            secrets: clients.secrets.as_ref(),
            settings: &self.settings,
            kinds: &self.kinds,
            stale_key_tags: &self.stale_key_tags,
        }
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| clients::load(&self.settings, self.credentials.clone()))
            .await
    }
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out of it; their own Debug redacts them anyway.
        f.debug_struct("AwsProvider")
            .field("block", &self.block)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for AwsProvider {
    async fn describe(&self) -> Result<DescribeResponse, ProviderError> {
        let s = &self.settings;
        let mut scope = format!("IAM path `{}`", s.path_prefix);
        if let Some(tag) = &s.managed_tag {
            scope = format!("{scope} tagged `{tag}=true`");
        }
        let place: Vec<String> = [("region", &s.region), ("endpoint", &s.endpoint_url)]
            .into_iter()
            .filter_map(|(what, value)| value.as_ref().map(|v| format!("{what} `{v}`")))
            .collect();
        if !place.is_empty() {
            scope = format!("{scope} ({})", place.join(", "));
        }
        Ok(DescribeResponse {
            scope,
            files: vec![lock::lock_path(&self.base_dir, &self.block)],
        })
    }

    async fn read(&self, _request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let clients = self.clients().await;
        // Every request counts, each retry too: what the account's rate limits
        // and CloudTrail see.
        let start = clients.attempts.total();
        let snapshot = read::read(&clients.iam, &self.settings).await?;
        *self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot.kinds;
        *self
            .stale_key_tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot.stale_key_tags;
        Ok(ReadResponse {
            state: snapshot.state,
            api_calls: clients.attempts.total().saturating_sub(start),
            deleted: Vec::new(),
        })
    }

    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError> {
        lock::acquire(&lock::lock_path(&self.base_dir, &self.block), &request).await
    }

    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        apply::apply(&self.target().await, request).await
    }

    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError> {
        apply::record_key(&self.target().await, &request).await
    }

    async fn preflight(
        &self,
        request: nhi_provider_sdk::PreflightRequest,
    ) -> Result<nhi_provider_sdk::PreflightResponse, ProviderError> {
        apply::preflight(&self.target().await, &request).await
    }
}
