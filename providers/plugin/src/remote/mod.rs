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
    CheckSinkParams, ConnectParams, ConnectResult, DescribeResult, Empty, InitializeParams,
    InitializeResult, LockHandle, LockParams, OperationParams, OverlapParams, OverlapResult,
    PolicyMessage, PreflightParams, PreflightResult, ProviderParams, ReadParams, ReadResult,
    RecordKeyParams, RetireResult, SettingsParams, ValidateResult,
};
use nhi_provider_sdk::plugin::{PROTOCOL, PluginRecord};
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, DeclaredPart, DescribeResponse, LockGuard, LockRequest, Operation,
    PreflightRequest, PreflightResponse, Provider, ProviderContext, ProviderError, ProviderType,
    ReadRequest, ReadResponse, RecordKeyRequest, SecretMaterial, SinkKind, ValidateRequest,
    ValidateResponse,
};

use crate::child::{CallError, Child};

mod provider;
mod provider_type;

use crate::settings::{PluginSettings, plugin_own};
pub use provider::RemoteProvider;
use provider::failure;

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
    /// Threads that ask the same question at once (the pieces of a large
    /// configuration, each judging the provider blocks) wait for one answer.
    answers: Mutex<std::collections::HashMap<String, Answer>>,
}

/// One question's answer, once it has come.
type Answer = std::sync::Arc<std::sync::OnceLock<Result<serde_json::Value, String>>>;

/// Fills an answer with a failure if whoever asked never got one (it
/// panicked), so nothing waits for it for ever.
struct Unanswered<'a>(&'a Answer);

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        let _ = self.0.set(Err("nhi failed while asking".to_owned()));
    }
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
        if caps.concurrent {
            child.answer_concurrently();
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
        let key = serde_json::to_string(params)
            .map(|p| format!("{method} {p}"))
            .map_err(|e| {
                format!(
                    "cannot encode `{method}` for plugin `{}`: {e}",
                    self.record.name
                )
            })?;
        let (answer, first) = {
            let mut all = self
                .answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(answer) = all.get(&key) {
                (std::sync::Arc::clone(answer), false)
            } else {
                let answer = Answer::default();
                all.insert(key, std::sync::Arc::clone(&answer));
                (answer, true)
            }
        };
        if first {
            let _unanswered = Unanswered(&answer);
            let _ = answer.set(self.ask(method, object, params));
        }
        let answer = answer.wait().clone()?;
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
