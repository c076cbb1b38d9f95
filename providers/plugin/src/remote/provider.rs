//! A connected block of a plugin as a provider: describe, read, lock, preflight
//! and apply, each one protocol call naming the block and the object.

use super::{
    ApplyParams, ApplyRequest, ApplyResponse, ApplyResult, Call, CallError, DescribeResponse,
    DescribeResult, Duration, Empty, LockGuard, LockHandle, LockParams, LockRequest, Operation,
    PluginType, PreflightParams, PreflightRequest, PreflightResponse, PreflightResult, Provider,
    ProviderError, ProviderParams, ReadParams, ReadRequest, ReadResponse, ReadResult,
    RecordKeyParams, RecordKeyRequest, SecretMaterial, async_trait,
};

/// A provider error for a failed call: a broken plugin during apply leaves the
/// change's outcome unknown.
pub(super) fn failure(error: CallError, applying: bool) -> ProviderError {
    match error {
        CallError::Remote(e) => e.into_provider(),
        CallError::Broken(m) if applying => ProviderError::OutcomeUnknown(m),
        CallError::Broken(m) => ProviderError::Other(m),
    }
}

/// One connected block of a plugin.
pub struct RemoteProvider {
    pub(super) plugin: &'static PluginType,
    pub(super) handle: u64,
    pub(super) block: String,
}

impl RemoteProvider {
    /// The plugin's handle of this block, for the conformance kit.
    pub fn handle(&self) -> u64 {
        self.handle
    }

    async fn call<P, R>(
        &self,
        method: &'static str,
        object: String,
        params: P,
        extra: Duration,
        applying: bool,
    ) -> Result<R, ProviderError>
    where
        P: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        let plugin = self.plugin;
        tokio::task::spawn_blocking(move || plugin.child.call(method, &object, &params, extra))
            .await
            .map_err(|e| ProviderError::Other(format!("plugin call `{method}` stopped: {e}")))?
            .map_err(|e| failure(e, applying))
    }
}

#[async_trait]
impl Provider for RemoteProvider {
    async fn describe(&self) -> Result<DescribeResponse, ProviderError> {
        let d: DescribeResult = self
            .call(
                "describe",
                self.block.clone(),
                ProviderParams {
                    provider: self.handle,
                },
                Duration::ZERO,
                false,
            )
            .await?;
        Ok(DescribeResponse {
            scope: d.scope,
            files: d.files.into_iter().map(Into::into).collect(),
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let r: ReadResult = self
            .call(
                "read",
                self.block.clone(),
                ReadParams {
                    provider: self.handle,
                    now: request.now,
                },
                Duration::ZERO,
                false,
            )
            .await?;
        Ok(ReadResponse {
            state: r.state,
            api_calls: r.api_calls,
            deleted: r.deleted,
        })
    }

    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError> {
        let timeout_ms = u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX);
        let handle: LockHandle = self
            .call(
                "lock",
                self.block.clone(),
                LockParams {
                    provider: self.handle,
                    holder: request.holder,
                    timeout_ms,
                },
                request.timeout,
                false,
            )
            .await?;
        Ok(Box::new(RemoteLock {
            plugin: self.plugin,
            lock: handle.lock,
            block: self.block.clone(),
        }))
    }

    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError> {
        let object = describe_operation(&self.block, &request.operation);
        let result: ApplyResult = self
            .call(
                "apply",
                object,
                ApplyParams {
                    provider: self.handle,
                    operation: request.operation,
                    sink: request.sink,
                },
                Duration::ZERO,
                true,
            )
            .await?;
        let secret = result.secret.map(|s| {
            self.plugin.child.secrets.remember(&s.secret);
            SecretMaterial {
                key_id: s.key_id,
                secret: s.secret,
                form: s.form.into(),
            }
        });
        Ok(ApplyResponse {
            secret,
            new_key_id: result.new_key_id,
        })
    }

    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError> {
        let object = format!(
            "{}/identity/{}/key/{}",
            self.block, request.identity, request.key
        );
        let _: Empty = self
            .call(
                "record_key",
                object,
                RecordKeyParams {
                    provider: self.handle,
                    identity: request.identity,
                    key: request.key,
                    key_id: request.key_id,
                },
                Duration::ZERO,
                true,
            )
            .await?;
        Ok(())
    }

    async fn preflight(
        &self,
        request: PreflightRequest,
    ) -> Result<PreflightResponse, ProviderError> {
        if !self.plugin.answers(Call::PREFLIGHT) {
            return Ok(PreflightResponse::default());
        }
        let r: PreflightResult = self
            .call(
                "preflight",
                self.block.clone(),
                PreflightParams {
                    provider: self.handle,
                    creates: request.creates,
                    sinks: request.sinks,
                    mints: request.mints,
                    deletes: request.deletes,
                    grants_added: request.grants_added,
                    grants_removed: request.grants_removed,
                },
                Duration::ZERO,
                false,
            )
            .await?;
        Ok(PreflightResponse {
            problems: r.problems,
        })
    }
}

/// The object an operation is about, for error messages.
fn describe_operation(block: &str, operation: &Operation) -> String {
    let op = serde_json::to_value(operation)
        .ok()
        .and_then(|v| v.get("op").and_then(|o| o.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let identity = match operation {
        Operation::CreateIdentity { identity } | Operation::DeleteIdentity { identity } => {
            identity.name.clone()
        }
        Operation::UpdateIdentity { after, .. } | Operation::ReplaceIdentity { after, .. } => {
            after.name.clone()
        }
        Operation::CreateKey { identity, .. }
        | Operation::RotateKey { identity, .. }
        | Operation::DeleteKey { identity, .. }
        | Operation::CreateBinding { identity, .. }
        | Operation::UpdateBinding { identity, .. }
        | Operation::DeleteBinding { identity, .. }
        | Operation::DeactivateKey { identity, .. }
        | Operation::RevokeSessions { identity, .. } => identity.clone(),
    };
    format!("{op} {block}/identity/{identity}")
}

struct RemoteLock {
    plugin: &'static PluginType,
    lock: u64,
    block: String,
}

impl LockGuard for RemoteLock {}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        let _ = self.plugin.child.call::<_, Empty>(
            "unlock",
            &self.block,
            &LockHandle { lock: self.lock },
            Duration::ZERO,
        );
    }
}
