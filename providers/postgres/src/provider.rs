//! The connected `postgres` provider for one block: its settings and where
//! relative paths resolve. Each call opens its own connection, so a server
//! restart between calls costs nothing but a reconnect.
//! Calls run on the caller's runtime, which needs network I/O and must run
//! spawned tasks between calls (the plugin host's `serve` does both): each
//! connection's task is spawned there.

use std::path::PathBuf;
use std::sync::Arc;

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
        let mut client = self.client().await?;
        let (state, api_calls) = read::read(&mut client, &self.settings.role_prefix).await?;
        Ok(ReadResponse {
            state,
            api_calls,
            deleted: Vec::new(),
        })
    }

    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError> {
        lock::acquire(&self.settings, &self.base_dir, &request).await
    }

    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        let mut client = self.client().await?;
        apply::apply(&mut client, &self.settings, request).await
    }

    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError> {
        let mut client = self.client().await?;
        apply::record_key(&mut client, &self.settings, &request).await
    }

    async fn preflight(
        &self,
        request: PreflightRequest,
    ) -> Result<PreflightResponse, ProviderError> {
        let mut client = self.client().await?;
        apply::preflight(&mut client, &self.settings, &request).await
    }
}
