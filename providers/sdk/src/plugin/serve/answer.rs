//! Answering one request of a served plugin: each call on the served type,
//! its params read from the request and its result encoded for the response.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::super::PROTOCOL;
use super::super::wire::{
    AdviceParams, AdviceResult, ApplyParams, ApplyResult, AttributesMessage, Call, Capabilities,
    CheckResult, CheckSinkParams, ConnectParams, ConnectResult, Declared, DescribeResult, Empty,
    INVALID_PARAMS, InitializeParams, InitializeResult, LockHandle, LockParams, METHOD_NOT_FOUND,
    OperationParams, OverlapParams, OverlapResult, PluginInfo, PolicyMessage, PreflightParams,
    PreflightResult, Problem, ProviderParams, ReadParams, ReadResult, RecordKeyParams,
    RetireResult, RpcError, SettingsParams, SinkInfo, ValidateParams, ValidateResult, WireSecret,
};
use super::{About, Answer, rpc};
use crate::{
    ApplyRequest, DeclaredIdentity, LockGuard, LockRequest, PreflightRequest, Provider,
    ProviderContext, ProviderError, ProviderType, ReadRequest, RecordKeyRequest, ValidateRequest,
};

/// What a served plugin holds between calls, shared by the workers.
pub(super) struct Server<'a> {
    provider_type: &'a dyn ProviderType,
    about: &'a About,
    runtime: tokio::runtime::Runtime,
    initialized: AtomicBool,
    providers: Mutex<HashMap<u64, Arc<dyn Provider>>>,
    locks: Mutex<HashMap<u64, Box<dyn LockGuard>>>,
    next: AtomicU64,
    /// The last `read`'s result, kept after its answer (see `answer`).
    read_last: Mutex<Option<ReadResult>>,
}

pub(super) fn encode(value: &impl Serialize) -> Answer {
    // Room for any `apply` result up front: growing the buffer would free
    // copies of the secret in it unwiped (a large `read` result grows, holding none).
    encode_in(value, 64 * 1024)
}

/// [`encode`] into a buffer of `room` bytes to start with.
fn encode_in(value: &impl Serialize, room: usize) -> Answer {
    let mut out = super::super::Wiped::with_capacity(room);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| rpc(PROVIDER_INTERNAL, format!("cannot encode the result: {e}")))?;
    Ok(out)
}

const PROVIDER_INTERNAL: i64 = -32603;

/// A request's params, as [`super::read_requests`] found them.
#[derive(Clone, Copy)]
pub(super) enum Text<'a> {
    /// In the line of a request in nhi's shape, read only where answered: the
    /// text from the params to the line's end, less its closing brace.
    InLine { line: &'a [u8], params: &'a [u8] },
    /// Read out of a request parsed whole.
    Parsed(&'a RawValue),
}

fn params<P: DeserializeOwned>(value: Text<'_>) -> Result<P, RpcError> {
    let raw = match value {
        Text::Parsed(raw) => raw,
        Text::InLine { line, params: text } => {
            if let Ok(p) = serde_json::from_slice(text) {
                return Ok(p);
            }
            // Not nhi's shape after all (more after the params, or not JSON):
            // the line is read whole, as any other, to say why.
            let whole: super::incoming::Whole<'_> = serde_json::from_slice(line)
                .map_err(|e| rpc(super::PARSE_ERROR, format!("not a request: {e}")))?;
            return params(Text::Parsed(whole.params()));
        }
    };
    serde_json::from_str(raw.get()).map_err(|e| rpc(INVALID_PARAMS, format!("invalid params: {e}")))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn provider_error(error: &ProviderError) -> RpcError {
    RpcError::from_provider(error)
}

impl<'a> Server<'a> {
    pub(super) fn new(provider_type: &'a dyn ProviderType, about: &'a About) -> io::Result<Self> {
        // Timers and network I/O both, and a worker of its own: a served type's
        // calls may spawn tasks that must go on between calls (a connection that
        // holds a lock closes, and so releases it, when its guard is dropped).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok(Self {
            provider_type,
            about,
            runtime,
            initialized: AtomicBool::new(false),
            providers: Mutex::default(),
            locks: Mutex::default(),
            next: AtomicU64::new(1),
            read_last: Mutex::default(),
        })
    }

    fn answers(&self, call: &str) -> bool {
        self.about.calls.contains(&call)
    }

    fn provider(&self, handle: u64) -> Result<Arc<dyn Provider>, RpcError> {
        lock(&self.providers)
            .get(&handle)
            .cloned()
            .ok_or_else(|| rpc(INVALID_PARAMS, format!("no provider handle {handle}")))
    }

    /// Drops every lock and provider: `shutdown`, once every worker is done.
    pub(super) fn shut_down(&self) {
        lock(&self.locks).clear();
        lock(&self.providers).clear();
        // The process ends next: the OS takes the memory back whole.
        std::mem::forget(lock(&self.read_last).take());
    }

    pub(super) fn answer(&self, method: &str, value: Text<'_>) -> Answer {
        if method == "initialize" {
            return self.initialize(&params(value)?);
        }
        if !self.initialized.load(Ordering::Acquire) {
            return Err(rpc(-32002, format!("`{method}` before `initialize`")));
        }
        let t = self.provider_type;
        let optional = Call::ALL_BUT_TEST.contains(&method) || method == Call::TEST_MUTATE;
        if optional && !self.answers(method) {
            return Err(rpc(METHOD_NOT_FOUND, format!("unknown method `{method}`")));
        }
        match method {
            "check_settings" => {
                let p: SettingsParams = params(value)?;
                encode(&CheckResult::from(t.check_settings(&p.settings)))
            }
            "validate" => encode(&validate(t, &params(value)?)),
            "normalize_policy" => {
                let p: PolicyMessage = params(value)?;
                encode(&PolicyMessage {
                    policy: t.normalize_policy(p.policy),
                })
            }
            "normalize_attributes" => {
                let p: AttributesMessage = params(value)?;
                let kind = p.kind.unwrap_or_default();
                encode(&AttributesMessage {
                    kind: None,
                    attributes: t.normalize_attributes(&kind, p.attributes),
                })
            }
            "advice" => {
                let p: AdviceParams = params(value)?;
                let operations: Vec<&crate::Operation> = p.operations.iter().collect();
                encode(&AdviceResult {
                    advice: t
                        .advise(&operations)
                        .into_iter()
                        .map(|a| a.map(str::to_owned))
                        .collect(),
                })
            }
            "retire_first" => {
                let p: SettingsParams = params(value)?;
                encode(&RetireResult {
                    attribute: t.retire_first(&p.settings),
                })
            }
            "check_sink" => {
                let p: CheckSinkParams = params(value)?;
                encode(&CheckResult::from(t.check_sink(&p.kind, &p.settings)))
            }
            "scopes_overlap" => {
                let p: OverlapParams = params(value)?;
                encode(&OverlapResult {
                    overlap: t.scopes_overlap(&p.settings, &p.other, p.base_dir.as_ref()),
                })
            }
            "connect" => {
                let p: ConnectParams = params(value)?;
                let provider = t
                    .connect(ProviderContext {
                        name: p.name,
                        settings: p.settings,
                        base_dir: PathBuf::from(p.base_dir),
                    })
                    .map_err(|e| provider_error(&e))?;
                let handle = self.handle();
                lock(&self.providers).insert(handle, Arc::from(provider));
                encode(&ConnectResult { provider: handle })
            }
            "describe" => {
                let p: ProviderParams = params(value)?;
                let provider = self.provider(p.provider)?;
                let d = self
                    .runtime
                    .block_on(provider.describe())
                    .map_err(|e| provider_error(&e))?;
                encode(&DescribeResult {
                    scope: d.scope,
                    files: d
                        .files
                        .iter()
                        .map(|f| f.to_string_lossy().into_owned())
                        .collect(),
                })
            }
            "read" => {
                let p: ReadParams = params(value)?;
                let provider = self.provider(p.provider)?;
                let r = self
                    .runtime
                    .block_on(provider.read(ReadRequest {
                        now: p.now,
                        ..ReadRequest::default()
                    }))
                    .map_err(|e| provider_error(&e))?;
                let result = ReadResult {
                    state: r.state,
                    api_calls: r.api_calls,
                    deleted: r.deleted,
                };
                // Sized for the usual identity: doubling a buffer of megabytes
                // touches twice the memory and copies it.
                let answer = encode_in(&result, 64 * 1024 + 320 * result.state.identities.len());
                // Freed after the answer is written, in the next read or never:
                // freeing 10,000 identities held it up by milliseconds.
                *lock(&self.read_last) = Some(result);
                answer
            }
            "lock" => {
                let p: LockParams = params(value)?;
                let provider = self.provider(p.provider)?;
                let guard = self
                    .runtime
                    .block_on(provider.lock(LockRequest {
                        holder: p.holder,
                        timeout: Duration::from_millis(p.timeout_ms),
                    }))
                    .map_err(|e| provider_error(&e))?;
                let handle = self.handle();
                lock(&self.locks).insert(handle, guard);
                encode(&LockHandle { lock: handle })
            }
            "unlock" => {
                let p: LockHandle = params(value)?;
                let guard = lock(&self.locks).remove(&p.lock);
                drop(guard);
                encode(&Empty {})
            }
            "apply" => {
                let p: ApplyParams = params(value)?;
                let provider = self.provider(p.provider)?;
                let response = self
                    .runtime
                    .block_on(provider.apply(ApplyRequest {
                        operation: p.operation,
                        sink: p.sink,
                        progress: crate::ProgressSink::default(),
                    }))
                    .map_err(|e| provider_error(&e))?;
                encode(&ApplyResult {
                    new_key_id: response.new_key_id,
                    secret: response.secret.map(|s| WireSecret {
                        key_id: s.key_id,
                        secret: s.secret,
                        form: s.form.into(),
                    }),
                })
            }
            "record_key" => {
                let p: RecordKeyParams = params(value)?;
                let provider = self.provider(p.provider)?;
                self.runtime
                    .block_on(provider.record_key(RecordKeyRequest {
                        identity: p.identity,
                        key: p.key,
                        key_id: p.key_id,
                    }))
                    .map_err(|e| provider_error(&e))?;
                encode(&Empty {})
            }
            "preflight" => {
                let p: PreflightParams = params(value)?;
                let provider = self.provider(p.provider)?;
                let r = self
                    .runtime
                    .block_on(provider.preflight(PreflightRequest {
                        creates: p.creates,
                        sinks: p.sinks,
                        mints: p.mints,
                        deletes: p.deletes,
                        grants_added: p.grants_added,
                        grants_removed: p.grants_removed,
                    }))
                    .map_err(|e| provider_error(&e))?;
                encode(&PreflightResult {
                    problems: r.problems,
                })
            }
            "test_mutate" => {
                let p: OperationParams = params(value)?;
                let handle = p
                    .provider
                    .ok_or_else(|| rpc(INVALID_PARAMS, "`test_mutate` names no provider".into()))?;
                let provider = self.provider(handle)?;
                // Whatever secret it mints is dropped here, wiped.
                self.runtime
                    .block_on(provider.apply(ApplyRequest {
                        operation: p.operation,
                        sink: None,
                        progress: crate::ProgressSink::default(),
                    }))
                    .map_err(|e| provider_error(&e))?;
                encode(&Empty {})
            }
            other => Err(rpc(METHOD_NOT_FOUND, format!("unknown method `{other}`"))),
        }
    }

    fn handle(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn initialize(&self, p: &InitializeParams) -> Answer {
        if !p.protocols.iter().any(|v| v == PROTOCOL) {
            return Err(rpc(
                super::super::wire::PROVIDER_ERROR,
                format!(
                    "no protocol in common: offered {:?}, this plugin speaks `{PROTOCOL}`",
                    p.protocols
                ),
            ));
        }
        self.initialized.store(true, Ordering::Release);
        let t = self.provider_type;
        encode(&InitializeResult {
            protocol: PROTOCOL.to_owned(),
            plugin: PluginInfo {
                name: self.about.name.clone(),
                version: self.about.version.clone(),
            },
            capabilities: Capabilities {
                type_name: t.type_name().to_owned(),
                kinds: t.kinds().iter().map(|k| (*k).to_owned()).collect(),
                key_slots: t.key_slots(),
                replaces_identities: t.replaces_identities(),
                reports_key_use: t.reports_key_use(),
                read_beside_config: t.read_beside_config(),
                sinks: t
                    .sink_kinds()
                    .iter()
                    .map(|s| SinkInfo {
                        name: s.name.to_owned(),
                        description: s.description.to_owned(),
                        settings_schema: (s.settings_schema)(),
                    })
                    .collect(),
                locks: self.about.locks,
                imports: self.about.imports,
                calls: self.about.calls.iter().map(|c| (*c).to_owned()).collect(),
                concurrent: true,
                validates: self
                    .about
                    .validates
                    .as_ref()
                    .map(|fields| fields.iter().map(|f| (*f).to_owned()).collect()),
            },
        })
    }
}

fn validate(t: &dyn ProviderType, p: &ValidateParams) -> ValidateResult {
    let key_names: Vec<Vec<&str>> = p
        .identities
        .iter()
        .map(|d| d.key_names.iter().map(String::as_str).collect())
        .collect();
    let declared: Vec<DeclaredIdentity<'_>> = p
        .identities
        .iter()
        .zip(&key_names)
        .map(|(d, names): (&Declared, _)| DeclaredIdentity {
            kind: d.kind.as_deref(),
            name: d.name.as_deref(),
            owner: d.owner.as_deref(),
            description: &d.description,
            tags: &d.tags,
            attributes: d.attributes.as_ref(),
            key_names: names,
            bindings: &d.bindings,
        })
        .collect();
    let response = t.validate(&ValidateRequest {
        identities: &declared,
    });
    ValidateResult {
        problems: response
            .problems
            .into_iter()
            .map(|p| Problem {
                identity: p.identity,
                part: p.part.into(),
                reason: p.reason,
            })
            .collect(),
    }
}
