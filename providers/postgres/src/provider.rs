//! The connected `postgres` provider for one block: its settings and where
//! relative paths resolve. Each call opens its own connection, so a server
//! restart between calls costs nothing but a reconnect.
//!
//! Every call runs on a runtime of this crate's own, with network I/O enabled:
//! the caller's runtime may have none (the plugin host's `serve` builds one
//! with timers only), and the connection tasks must outlive the call's future.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, DescribeResponse, LockGuard, LockRequest, PreflightRequest,
    PreflightResponse, Provider, ProviderContext, ProviderError, ReadRequest, ReadResponse,
    RecordKeyRequest,
};
use tokio_postgres::Client;

use crate::settings::Settings;
use crate::{apply, db, lock, read};

/// A provider for one `postgres` block.
#[derive(Debug, Clone)]
pub struct PostgresProvider {
    block: Arc<str>,
    base_dir: Arc<PathBuf>,
    settings: Arc<Settings>,
}

/// The runtime every call runs on, started on first use; never dropped, so no
/// caller's context can forbid dropping it.
fn runtime() -> Result<&'static tokio::runtime::Runtime, ProviderError> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("nhi-postgres")
        .enable_all()
        .build()
        .map_err(|err| ProviderError::io("cannot start the postgres provider's runtime", err))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs `work` on [`runtime`] and waits for it from any runtime.
async fn on_runtime<T: Send + 'static>(
    work: impl Future<Output = Result<T, ProviderError>> + Send + 'static,
) -> Result<T, ProviderError> {
    runtime()?.spawn(work).await.map_err(|err| {
        ProviderError::Other(format!("the postgres provider's call failed: {err}"))
    })?
}

impl PostgresProvider {
    /// A provider for the block in `context`; fails only on bad settings. Nothing
    /// is connected until the provider is used.
    pub fn new(context: ProviderContext) -> Result<Self, ProviderError> {
        let settings = Settings::parse(&context.settings).map_err(ProviderError::Settings)?;
        Ok(Self {
            block: context.name.into(),
            base_dir: Arc::new(context.base_dir),
            settings: Arc::new(settings),
        })
    }

    async fn client(&self) -> Result<Client, ProviderError> {
        db::connect(
            &self.settings,
            &self.base_dir,
            &format!("nhi {}", self.block),
        )
        .await
    }
}

#[async_trait]
impl Provider for PostgresProvider {
    async fn describe(&self) -> Result<DescribeResponse, ProviderError> {
        let s = &self.settings;
        Ok(DescribeResponse {
            scope: format!(
                "login roles `{}*` in database `{}` at `{}` port {}",
                s.role_prefix, s.database, s.host, s.port
            ),
            files: s.password_path(&self.base_dir).into_iter().collect(),
        })
    }

    async fn read(&self, _request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let this = self.clone();
        on_runtime(async move {
            let mut client = this.client().await?;
            let (state, api_calls) = read::read(&mut client, &this.settings.role_prefix).await?;
            Ok(ReadResponse {
                state,
                api_calls,
                deleted: Vec::new(),
            })
        })
        .await
    }

    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError> {
        let this = self.clone();
        on_runtime(async move { lock::acquire(&this.settings, &this.base_dir, &request).await })
            .await
    }

    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        let this = self.clone();
        on_runtime(async move {
            let mut client = this.client().await?;
            apply::apply(&mut client, &this.settings, request).await
        })
        .await
    }

    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError> {
        let this = self.clone();
        on_runtime(async move {
            let mut client = this.client().await?;
            apply::record_key(&mut client, &this.settings, &request).await
        })
        .await
    }

    async fn preflight(
        &self,
        request: PreflightRequest,
    ) -> Result<PreflightResponse, ProviderError> {
        let this = self.clone();
        on_runtime(async move {
            let mut client = this.client().await?;
            apply::preflight(&mut client, &this.settings, &request).await
        })
        .await
    }
}
