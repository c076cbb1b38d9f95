//! One started plugin as a provider type of its own, and its connected blocks as
//! providers: every trait call is one protocol call. Optional calls the plugin
//! did not announce are answered as the SDK's defaults say, without asking.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use nhi_provider_sdk::plugin::wire::{
    AdviceParams, AdviceResult, ApplyParams, ApplyResult, AttributesMessage, Call, CheckResult,
    CheckSinkParams, ConnectParams, ConnectResult, Declared, DescribeResult, Empty,
    InitializeParams, InitializeResult, LockHandle, LockParams, OperationParams, OverlapParams,
    OverlapResult, PolicyMessage, PreflightParams, PreflightResult, ProviderParams, ReadParams,
    ReadResult, RecordKeyParams, RetireResult, SettingsParams, ValidateParams, ValidateResult,
};
use nhi_provider_sdk::plugin::{PROTOCOL, PluginRecord};
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, DeclaredPart, DescribeResponse, LockGuard, LockRequest, Operation,
    PreflightRequest, PreflightResponse, Provider, ProviderContext, ProviderError, ProviderType,
    ReadRequest, ReadResponse, RecordKeyRequest, SecretMaterial, SinkKind, ValidateRequest,
    ValidateResponse,
};

use crate::child::{CallError, Child};
use crate::settings::{PluginSettings, plugin_own};

/// How long the handshake may take, whatever the block's timeout.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A started, pinned plugin and the facts its handshake announced.
pub struct PluginType {
    child: Child,
    record: PluginRecord,
    kinds: &'static [&'static str],
    sinks: &'static [SinkKind],
    calls: HashSet<String>,
    capabilities: nhi_provider_sdk::plugin::wire::Capabilities,
    /// Advice texts seen, kept for the process's life (`advice` returns them
    /// as `&'static str`).
    advice: Mutex<HashSet<&'static str>>,
    /// Answers to the calls that depend on their params alone, by method and
    /// params: validation asks them about every binding, key or identity, and
    /// one round trip per value would make planning grow with the estate.
    answers: Mutex<std::collections::HashMap<String, serde_json::Value>>,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn any_settings() -> serde_json::Value {
    serde_json::json!({})
}

impl PluginType {
    pub(crate) fn start(
        file: &Path,
        settings: &PluginSettings,
        base_dir: &Path,
    ) -> Result<Self, String> {
        let shown = settings.path.clone();
        let pinned = crate::pin::pin(file, &shown, settings.sha256)?;
        let child = spawn(&pinned, file, settings, base_dir, &shown)?;
        drop(pinned);
        let hello: InitializeResult = child
            .call(
                "initialize",
                &shown,
                &InitializeParams {
                    protocols: vec![PROTOCOL.to_owned()],
                    host: format!("nhi {}", env!("CARGO_PKG_VERSION")),
                },
                HANDSHAKE.saturating_sub(settings.timeout),
            )
            .map_err(|e| match e {
                CallError::Broken(m) => m,
                CallError::Remote(e) => {
                    format!("plugin `{shown}` refused the handshake: {}", e.message)
                }
            })?;
        if hello.protocol != PROTOCOL {
            child.stop();
            return Err(format!(
                "plugin `{shown}` chose protocol `{}`, which nhi did not offer (nhi speaks `{PROTOCOL}`)",
                hello.protocol
            ));
        }
        let caps = hello.capabilities;
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !name_ok(&hello.plugin.name) || !name_ok(&hello.plugin.version) {
            child.stop();
            return Err(format!(
                "plugin `{shown}` gave a name or version that is not a short word of letters, digits, `-`, `_` or `.`"
            ));
        }
        if caps.kinds.is_empty() || !caps.kinds.iter().all(|k| name_ok(k)) {
            child.stop();
            return Err(format!(
                "plugin `{shown}` announced no identity kinds, or one that is not a short word"
            ));
        }
        child
            .label
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone_from(&hello.plugin.name);
        let kinds: Vec<&'static str> = caps.kinds.iter().map(|k| leak(k)).collect();
        let sinks: Vec<SinkKind> = caps
            .sinks
            .iter()
            .map(|s| SinkKind {
                name: leak(&s.name),
                description: leak(&s.description),
                settings_schema: any_settings,
            })
            .collect();
        Ok(Self {
            child,
            record: PluginRecord {
                name: hello.plugin.name,
                version: hello.plugin.version,
                digest: settings.sha256,
                protocol: hello.protocol,
            },
            kinds: Box::leak(kinds.into_boxed_slice()),
            sinks: Box::leak(sinks.into_boxed_slice()),
            calls: caps.calls.iter().cloned().collect(),
            capabilities: caps,
            advice: Mutex::new(HashSet::new()),
            answers: Mutex::default(),
        })
    }

    pub(crate) fn stop(&self) {
        self.child.stop();
    }

    /// What the handshake announced.
    pub fn capabilities(&self) -> &nhi_provider_sdk::plugin::wire::Capabilities {
        &self.capabilities
    }

    fn answers(&self, call: &str) -> bool {
        self.calls.contains(call)
    }

    /// A call whose failure is a string (the static facts of the type).
    fn ask<P: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        object: &str,
        params: &P,
    ) -> Result<R, String> {
        self.child
            .call(method, object, params, Duration::ZERO)
            .map_err(|e| match e {
                CallError::Broken(m) => m,
                CallError::Remote(e) => format!(
                    "plugin `{}` failed `{method}`: {}",
                    self.record.name, e.message
                ),
            })
    }

    /// [`Self::ask`] of a call whose answer depends on its params alone:
    /// each distinct question crosses the pipe once.
    fn ask_once<P: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        object: &str,
        params: &P,
    ) -> Result<R, String> {
        let known = |key: &str| {
            self.answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(key)
                .cloned()
        };
        let key = serde_json::to_string(params)
            .map(|p| format!("{method} {p}"))
            .map_err(|e| {
                format!(
                    "cannot encode `{method}` for plugin `{}`: {e}",
                    self.record.name
                )
            })?;
        let answer = if let Some(answer) = known(&key) {
            answer
        } else {
            let answer: serde_json::Value = self.ask(method, object, params)?;
            self.answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, answer.clone());
            answer
        };
        serde_json::from_value(answer).map_err(|e| {
            format!(
                "plugin `{}` answered `{method}` with a malformed result: {e}",
                self.record.name
            )
        })
    }

    /// Sends a call the test kit makes behind nhi's back (`test_mutate`).
    pub fn test_mutate(&self, provider: u64, operation: Operation) -> Result<(), String> {
        if !self.answers(Call::TEST_MUTATE) {
            return Err(format!(
                "plugin `{}` offers no `test_mutate`",
                self.record.name
            ));
        }
        self.ask::<_, Empty>(
            "test_mutate",
            "test",
            &OperationParams {
                provider: Some(provider),
                operation,
            },
        )
        .map(|_| ())
    }

    /// Sends any call about `object`, for the conformance kit's robustness
    /// checks: `Err` when the plugin broke, `Ok(Err((code, message)))` when it
    /// answered an error.
    pub fn raw_call(
        &self,
        method: &str,
        object: &str,
        params: &serde_json::Value,
    ) -> Result<Result<serde_json::Value, (i64, String)>, String> {
        match self.child.call(method, object, params, Duration::ZERO) {
            Ok(v) => Ok(Ok(v)),
            Err(CallError::Remote(e)) => Ok(Err((e.code, e.message))),
            Err(CallError::Broken(m)) => Err(m),
        }
    }

    /// Writes `bytes` and a newline as they are and returns the line the plugin
    /// answers, for the conformance kit's malformed-input check.
    pub fn raw_line(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.child.raw(bytes)
    }

    /// Whether the plugin's standard error (as kept) holds `text`.
    pub fn stderr_contains(&self, text: &str) -> bool {
        self.child.tail_contains(text)
    }

    /// Stops the plugin; every later call fails.
    pub fn stop_plugin(&self) {
        self.child.stop();
    }

    /// A plugin started on its own, for the block `settings` (with their
    /// `plugin` entry): pinned as [`crate::PluginHost::plugin`] pins it, but
    /// never shared, so the conformance kit may break it on purpose.
    pub fn start_alone(settings: &serde_json::Value, base_dir: &Path) -> Result<Self, String> {
        let pinned = PluginSettings::parse(settings)?;
        Self::start(&pinned.file(base_dir), &pinned, base_dir)
    }

    /// Suspends the plugin's process (`SIGSTOP`): it hangs from now on.
    #[cfg(target_os = "linux")]
    pub fn suspend(&self) -> Result<(), String> {
        self.child.signal(true)
    }

    /// Kills the plugin's process (`SIGKILL`), whatever call is in flight.
    #[cfg(target_os = "linux")]
    pub fn kill(&self) -> Result<(), String> {
        self.child.signal(false)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn suspend(&self) -> Result<(), String> {
        Err("cannot signal a plugin on this system".into())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn kill(&self) -> Result<(), String> {
        Err("cannot signal a plugin on this system".into())
    }

    /// [`ProviderType::connect`], as the concrete provider (the kit needs its
    /// handle for `test_mutate`).
    pub fn connect_remote(
        &self,
        context: ProviderContext,
    ) -> Result<RemoteProvider, ProviderError> {
        let plugin: &'static PluginType =
            crate::PluginHost::plugin(&context.settings, &context.base_dir)
                .map_err(ProviderError::Settings)?;
        if !std::ptr::eq(plugin, self) {
            return Err(ProviderError::Settings(format!(
                "provider `{}` names another plugin than `{}`",
                context.name, self.record.name
            )));
        }
        let connected: ConnectResult = plugin
            .child
            .call(
                "connect",
                &context.name,
                &ConnectParams {
                    name: context.name.clone(),
                    settings: plugin_own(&context.settings),
                    base_dir: context.base_dir.to_string_lossy().into_owned(),
                },
                Duration::ZERO,
            )
            .map_err(|e| failure(e, false))?;
        Ok(RemoteProvider {
            plugin,
            handle: connected.provider,
            block: context.name,
        })
    }
}

impl Drop for PluginType {
    /// Only a plugin started alone is ever dropped; the host's live as long as
    /// the process.
    fn drop(&mut self) {
        self.child.stop();
    }
}

fn spawn(
    pinned: &crate::pin::Pinned,
    file: &Path,
    settings: &PluginSettings,
    base_dir: &Path,
    shown: &str,
) -> Result<Child, String> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        let mut command = std::process::Command::new(pinned.exec_path());
        command.arg0(file).env_clear().current_dir(base_dir);
        for name in &settings.env {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        Child::spawn(command, shown.to_owned(), settings.timeout)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pinned, file, settings, base_dir);
        Err(format!("cannot run plugin `{shown}` on this system"))
    }
}

impl ProviderType for PluginType {
    fn type_name(&self) -> &'static str {
        "plugin"
    }

    fn kinds(&self) -> &'static [&'static str] {
        self.kinds
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        PluginSettings::parse(settings)?;
        self.ask_once::<_, CheckResult>(
            "check_settings",
            "settings",
            &SettingsParams {
                settings: plugin_own(settings),
            },
        )?
        .into_result()
    }

    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        if !self.answers(Call::VALIDATE) {
            for (i, identity) in request.identities.iter().enumerate() {
                if let Some(name) = identity.attributes.and_then(|a| a.keys().next()) {
                    response.check(
                        i,
                        DeclaredPart::Attributes,
                        Err(format!(
                            "`{}` identities have no attribute `{name}`",
                            self.record.name
                        )),
                    );
                }
            }
            return response;
        }
        let params = ValidateParams {
            identities: request
                .identities
                .iter()
                .map(|d| Declared {
                    kind: d.kind.map(str::to_owned),
                    name: d.name.map(str::to_owned),
                    owner: d.owner.map(str::to_owned),
                    description: d.description.to_owned(),
                    tags: d.tags.clone(),
                    attributes: d.attributes.cloned(),
                    key_names: d.key_names.iter().map(|k| (*k).to_owned()).collect(),
                    bindings: d.bindings.to_vec(),
                })
                .collect(),
        };
        let object = request
            .identities
            .first()
            .and_then(|d| d.name)
            .unwrap_or("identities");
        match self.ask::<_, ValidateResult>("validate", object, &params) {
            Ok(result) => {
                for problem in result.problems {
                    let part: DeclaredPart = problem.part.into();
                    let in_range = request.identities.get(problem.identity).is_some_and(
                        |d| !matches!(part, DeclaredPart::Binding(b) if b >= d.bindings.len()),
                    );
                    let (identity, part, reason) = if in_range {
                        (problem.identity, part, problem.reason)
                    } else {
                        (
                            0,
                            DeclaredPart::Name,
                            format!(
                                "plugin `{}` reported a problem about an identity or binding it was not asked about",
                                self.record.name
                            ),
                        )
                    };
                    response.check(identity, part, Err(reason));
                }
            }
            Err(reason) => {
                for i in 0..request.identities.len() {
                    response.check(i, DeclaredPart::Name, Err(reason.clone()));
                }
            }
        }
        response
    }

    fn normalize_attributes(
        &self,
        kind: &str,
        attributes: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        if !self.answers(Call::NORMALIZE_ATTRIBUTES) || attributes.is_empty() {
            return attributes;
        }
        let params = AttributesMessage {
            kind: Some(kind.to_owned()),
            attributes,
        };
        match self.ask_once::<_, AttributesMessage>("normalize_attributes", kind, &params) {
            Ok(answer) => answer.attributes,
            // The plugin is stopped; connecting fails with why.
            Err(_) => params.attributes,
        }
    }

    fn key_slots(&self) -> Option<usize> {
        self.capabilities.key_slots
    }

    fn replaces_identities(&self) -> bool {
        self.capabilities.replaces_identities
    }

    fn reports_key_use(&self) -> bool {
        self.capabilities.reports_key_use
    }

    fn normalize_policy(&self, policy: serde_json::Value) -> serde_json::Value {
        if !self.answers(Call::NORMALIZE_POLICY) {
            return policy;
        }
        let params = PolicyMessage { policy };
        match self.ask_once::<_, PolicyMessage>("normalize_policy", "policy", &params) {
            Ok(answer) => answer.policy,
            Err(_) => params.policy,
        }
    }

    fn retire_first(&self, settings: &serde_json::Value) -> Option<(String, serde_json::Value)> {
        if !self.answers(Call::RETIRE_FIRST) {
            return None;
        }
        self.ask_once::<_, RetireResult>(
            "retire_first",
            "settings",
            &SettingsParams {
                settings: plugin_own(settings),
            },
        )
        .ok()?
        .attribute
    }

    fn advice(&self, operation: &Operation) -> Option<&'static str> {
        self.advise(&[operation]).pop().flatten()
    }

    fn advise(&self, operations: &[&Operation]) -> Vec<Option<&'static str>> {
        if !self.answers(Call::ADVICE) || operations.is_empty() {
            return vec![None; operations.len()];
        }
        let params = AdviceParams {
            operations: operations.iter().map(|o| (*o).clone()).collect(),
        };
        let texts = match self.ask::<_, AdviceResult>("advice", "plan", &params) {
            // An answer of another length is not about these operations.
            Ok(answer) if answer.advice.len() == operations.len() => answer.advice,
            _ => return vec![None; operations.len()],
        };
        let mut seen = self
            .advice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        texts
            .into_iter()
            .map(|text| {
                let text = text?;
                if let Some(known) = seen.get(text.as_str()) {
                    return Some(*known);
                }
                let kept = leak(&text);
                seen.insert(kept);
                Some(kept)
            })
            .collect()
    }

    fn sink_kinds(&self) -> &'static [SinkKind] {
        self.sinks
    }

    fn check_sink(&self, kind: &str, settings: &serde_json::Value) -> Result<(), String> {
        if !self.answers(Call::CHECK_SINK) || !self.sinks.iter().any(|s| s.name == kind) {
            return Err(format!(
                "plugin `{}` delivers no `{kind}` sink",
                self.record.name
            ));
        }
        self.ask_once::<_, CheckResult>(
            "check_sink",
            kind,
            &CheckSinkParams {
                kind: kind.to_owned(),
                settings: settings.clone(),
            },
        )?
        .into_result()
    }

    fn read_beside_config(&self) -> bool {
        self.capabilities.read_beside_config
    }

    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        base_dir: &Path,
    ) -> Option<String> {
        if !self.answers(Call::SCOPES_OVERLAP) {
            return None;
        }
        self.ask_once::<_, OverlapResult>(
            "scopes_overlap",
            "settings",
            &OverlapParams {
                settings: plugin_own(settings),
                other: plugin_own(other),
                base_dir: base_dir.to_string_lossy().into_owned(),
            },
        )
        .ok()?
        .overlap
    }

    fn plugin(&self) -> Option<PluginRecord> {
        Some(self.record.clone())
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Ok(Box::new(self.connect_remote(context)?))
    }
}

/// A provider error for a failed call: a broken plugin during apply leaves the
/// change's outcome unknown.
fn failure(error: CallError, applying: bool) -> ProviderError {
    match error {
        CallError::Remote(e) => e.into_provider(),
        CallError::Broken(m) if applying => ProviderError::OutcomeUnknown(m),
        CallError::Broken(m) => ProviderError::Other(m),
    }
}

/// One connected block of a plugin.
pub struct RemoteProvider {
    plugin: &'static PluginType,
    handle: u64,
    block: String,
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
