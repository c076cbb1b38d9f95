//! The connected `gcp` provider for one provider block.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, DescribeResponse, LockGuard, LockRequest, Provider,
    ProviderContext, ProviderError, ReadRequest, ReadResponse, RecordKeyRequest,
};
use tokio::sync::OnceCell;

use crate::apply;
use crate::clients::{self, Clients};
use crate::pace::Pace;
use crate::read::{self, Calls};
use crate::settings::Settings;
use crate::target::{Session, Target};

/// A provider for one `gcp` block.
pub struct GcpProvider {
    block: String,
    base_dir: PathBuf,
    settings: Settings,
    clients: OnceCell<Clients>,
    reads: Arc<Pace>,
    writes: Pace,
    session: Session,
}

impl GcpProvider {
    /// A provider for the block in `context`; fails only on bad settings. No call
    /// is made until the provider is used.
    pub fn new(context: ProviderContext) -> Result<Self, ProviderError> {
        let settings = Settings::parse(&context.settings).map_err(ProviderError::Settings)?;
        Ok(Self {
            block: context.name,
            base_dir: context.base_dir,
            reads: Arc::new(Pace::per_minute(settings.reads_per_minute)),
            writes: Pace::per_minute(settings.writes_per_minute),
            settings,
            clients: OnceCell::new(),
            session: Session::default(),
        })
    }

    async fn clients(&self) -> Result<&Clients, ProviderError> {
        self.clients
            .get_or_try_init(|| clients::build(&self.settings))
            .await
    }
}

impl std::fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpProvider")
            .field("block", &self.block)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for GcpProvider {
    async fn describe(&self) -> Result<DescribeResponse, ProviderError> {
        let mut scope = format!(
            "service accounts of Google Cloud project `{}`",
            self.settings.project
        );
        if let Some(endpoint) = &self.settings.endpoint {
            scope = format!("{scope} (endpoint `{endpoint}`)");
        }
        Ok(DescribeResponse {
            scope,
            files: vec![self.lock_path()],
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let clients = self.clients().await?;
        let calls = Arc::new(Calls::default());
        let now = request.now.unwrap_or_else(jiff::Timestamp::now);
        let (state, deleted) = crate::quota::reporting(
            request.progress,
            read::read(clients, &self.settings, &self.reads, &calls, now),
        )
        .await?;
        Ok(ReadResponse {
            state,
            api_calls: calls.total(),
            deleted,
        })
    }

    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError> {
        nhi_provider_sdk::lockfile::acquire(&self.lock_path(), &request).await
    }

    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        let calls = Calls::default();
        let progress = request.progress.clone();
        let target = self.target(&calls, &progress).await?;
        crate::quota::reporting(progress.clone(), apply::apply(&target, request)).await
    }

    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError> {
        let calls = Calls::default();
        let silent = nhi_provider_sdk::ProgressSink::default();
        let target = self.target(&calls, &silent).await?;
        apply::record_key(&target, &request).await
    }

    /// A Secret Manager sink nhi may not write (another team's secret), and a
    /// key an organization policy forbids, are refused before anyone approves
    /// the plan that mints it.
    async fn preflight(
        &self,
        request: nhi_provider_sdk::PreflightRequest,
    ) -> Result<nhi_provider_sdk::PreflightResponse, ProviderError> {
        let calls = Calls::default();
        let silent = nhi_provider_sdk::ProgressSink::default();
        let target = self.target(&calls, &silent).await?;
        let mut response = nhi_provider_sdk::PreflightResponse {
            problems: crate::limits::check(&target, &request).await?,
        };
        if !request.mints.is_empty()
            && let Some(refused) = crate::org_policy::key_creation_refused(&target).await?
        {
            for identity in &request.mints {
                response.problems.push((identity.clone(), refused.clone()));
            }
        }
        for (identity, sink) in &request.sinks {
            let Some(secret_id) = crate::secret_manager_id(sink) else {
                continue;
            };
            match crate::secrets::check(&target, secret_id, identity).await {
                Ok(_) => {}
                Err(ProviderError::Other(detail)) => {
                    response.problems.push((identity.clone(), detail));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(response)
    }
}

impl GcpProvider {
    /// What one write operation works with.
    async fn target<'a>(
        &'a self,
        calls: &'a Calls,
        progress: &'a nhi_provider_sdk::ProgressSink,
    ) -> Result<Target<'a>, ProviderError> {
        Ok(Target {
            clients: self.clients().await?,
            settings: &self.settings,
            reads: &self.reads,
            writes: &self.writes,
            calls,
            session: &self.session,
            progress,
        })
    }

    /// The scope lock: a file beside the configuration.
    fn lock_path(&self) -> std::path::PathBuf {
        self.base_dir.join(format!(".nhi-gcp-{}.lock", self.block))
    }
}
