//! `serve`: runs any Rust [`ProviderType`] as a plugin, answering `nhi-provider/1`
//! calls from standard input on standard output. Everything the type says on
//! standard error reaches nhi's error messages; standard output carries only
//! protocol lines, so a provider served this way must never print.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::wire::{
    AdviceParams, AdviceResult, ApplyParams, ApplyResult, AttributesMessage, Call, Capabilities,
    CheckResult, CheckSinkParams, ConnectParams, ConnectResult, Declared, DescribeResult, Empty,
    INVALID_PARAMS, InitializeParams, InitializeResult, LockHandle, LockParams, METHOD_NOT_FOUND,
    OperationParams, OverlapParams, OverlapResult, PARSE_ERROR, PluginInfo, PolicyMessage,
    PreflightParams, PreflightResult, Problem, ProviderParams, ReadParams, ReadResult,
    RecordKeyParams, RetireResult, RpcError, SettingsParams, SinkInfo, ValidateParams,
    ValidateResult, WireSecret,
};
use super::{MAX_LINE_BYTES, PROTOCOL, read_line};
use crate::{
    ApplyRequest, DeclaredIdentity, LockGuard, LockRequest, PreflightRequest, Provider,
    ProviderContext, ProviderError, ProviderType, ReadRequest, RecordKeyRequest, ValidateRequest,
};

/// Who the served plugin is, and which optional calls it answers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct About {
    pub name: String,
    pub version: String,
    /// Optional calls (see [`Call`]) answered by the type's own methods.
    pub calls: Vec<&'static str>,
    /// Whether `read` lists every object in scope (`nhi import` adopts them).
    pub imports: bool,
    /// Whether the type's `lock` takes a real scope lock.
    pub locks: bool,
}

impl About {
    /// A plugin named `name` at `version` that answers every optional call but
    /// `test_mutate`, imports and locks.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            calls: vec![
                Call::VALIDATE,
                Call::NORMALIZE_POLICY,
                Call::NORMALIZE_ATTRIBUTES,
                Call::ADVICE,
                Call::RETIRE_FIRST,
                Call::CHECK_SINK,
                Call::SCOPES_OVERLAP,
                Call::PREFLIGHT,
            ],
            imports: true,
            locks: true,
        }
    }

    /// Leaves `call` to the SDK's default, so nhi never sends it: a type that
    /// keeps a default method saves a round trip per identity or change.
    #[must_use]
    pub fn without_call(mut self, call: &str) -> Self {
        self.calls.retain(|c| *c != call);
        self
    }

    /// Answers `test_mutate`, which applies an operation behind nhi's back: the
    /// conformance kit's out-of-band change. Only for plugins under test.
    #[must_use]
    pub fn with_test_hooks(mut self) -> Self {
        if !self.calls.contains(&Call::TEST_MUTATE) {
            self.calls.push(Call::TEST_MUTATE);
        }
        self
    }
}

/// Serves `provider_type` on standard input and output until nhi sends
/// `shutdown` or closes the pipe. A provider binary's `main` is one line:
///
/// ```no_run
/// # struct MyType;
/// # impl nhi_provider_sdk::ProviderType for MyType {
/// #     fn type_name(&self) -> &'static str { "my" }
/// #     fn kinds(&self) -> &'static [&'static str] { &["user"] }
/// #     fn check_settings(&self, _: &serde_json::Value) -> Result<(), String> { Ok(()) }
/// #     fn connect(&self, _: nhi_provider_sdk::ProviderContext)
/// #         -> Result<Box<dyn nhi_provider_sdk::Provider>, nhi_provider_sdk::ProviderError> { todo!() }
/// # }
/// use nhi_provider_sdk::plugin::{About, serve};
/// fn main() -> std::process::ExitCode {
///     serve(&MyType, &About::new("my", env!("CARGO_PKG_VERSION")))
/// }
/// ```
pub fn serve(provider_type: &dyn ProviderType, about: &About) -> std::process::ExitCode {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut output = io::stdout().lock();
    match serve_on(provider_type, about, &mut input, &mut output) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "{}: {e}", about.name);
            std::process::ExitCode::FAILURE
        }
    }
}

/// [`serve`] over any line-oriented input and output (tests, sockets).
pub fn serve_on(
    provider_type: &dyn ProviderType,
    about: &About,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    // Timers and network I/O both, and a worker of its own: a served type's
    // calls may spawn tasks that must go on between calls (a connection that
    // holds a lock closes, and so releases it, when its guard is dropped).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut server = Server {
        provider_type,
        about,
        runtime,
        initialized: false,
        providers: HashMap::new(),
        locks: HashMap::new(),
        next: 1,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(input, &mut line, MAX_LINE_BYTES)? {
            None => return Ok(()),
            Some(false) => {
                let error = rpc(
                    PARSE_ERROR,
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                );
                write_response(output, None, Err(error))?;
                return Ok(());
            }
            Some(true) => {}
        }
        let request: Incoming = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                write_response(
                    output,
                    None,
                    Err(rpc(PARSE_ERROR, format!("not a request: {e}"))),
                )?;
                continue;
            }
        };
        let shutdown = request.method == "shutdown";
        let answer = server.answer(&request.method, request.params);
        write_response(output, Some(request.id), answer)?;
        if shutdown {
            return Ok(());
        }
    }
}

#[derive(serde::Deserialize)]
struct Incoming {
    #[allow(dead_code)]
    jsonrpc: String,
    id: u64,
    method: String,
    #[serde(default)]
    params: serde_json::Value,
}

/// A response line, its buffer wiped after writing: it may hold a secret.
fn write_response(
    output: &mut dyn Write,
    id: Option<u64>,
    answer: Result<Zeroizing<Vec<u8>>, RpcError>,
) -> io::Result<()> {
    let mut line = Zeroizing::new(Vec::with_capacity(256));
    line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    match id {
        Some(id) => line.extend_from_slice(id.to_string().as_bytes()),
        None => line.extend_from_slice(b"null"),
    }
    match answer {
        Ok(result) => {
            line.extend_from_slice(b",\"result\":");
            line.extend_from_slice(&result);
        }
        Err(error) => {
            line.extend_from_slice(b",\"error\":");
            serde_json::to_writer(&mut *line, &error).map_err(io::Error::other)?;
        }
    }
    line.extend_from_slice(b"}\n");
    output.write_all(&line)?;
    output.flush()
}

fn rpc(code: i64, message: String) -> RpcError {
    RpcError {
        code,
        message,
        data: None,
    }
}

struct Server<'a> {
    provider_type: &'a dyn ProviderType,
    about: &'a About,
    runtime: tokio::runtime::Runtime,
    initialized: bool,
    providers: HashMap<u64, Box<dyn Provider>>,
    locks: HashMap<u64, Box<dyn LockGuard>>,
    next: u64,
}

type Answer = Result<Zeroizing<Vec<u8>>, RpcError>;

fn encode(value: &impl Serialize) -> Answer {
    let mut out = Zeroizing::new(Vec::new());
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| rpc(PROVIDER_INTERNAL, format!("cannot encode the result: {e}")))?;
    Ok(out)
}

const PROVIDER_INTERNAL: i64 = -32603;

fn params<P: DeserializeOwned>(value: serde_json::Value) -> Result<P, RpcError> {
    serde_json::from_value(value).map_err(|e| rpc(INVALID_PARAMS, format!("invalid params: {e}")))
}

fn provider_error(error: &ProviderError) -> RpcError {
    RpcError::from_provider(error)
}

impl Server<'_> {
    fn answers(&self, call: &str) -> bool {
        self.about.calls.contains(&call)
    }

    fn provider(&self, handle: u64) -> Result<&dyn Provider, RpcError> {
        self.providers
            .get(&handle)
            .map(AsRef::as_ref)
            .ok_or_else(|| rpc(INVALID_PARAMS, format!("no provider handle {handle}")))
    }

    fn answer(&mut self, method: &str, value: serde_json::Value) -> Answer {
        if method == "initialize" {
            return self.initialize(&params(value)?);
        }
        if !self.initialized {
            return Err(rpc(-32002, format!("`{method}` before `initialize`")));
        }
        let t = self.provider_type;
        let optional = [
            Call::VALIDATE,
            Call::NORMALIZE_POLICY,
            Call::NORMALIZE_ATTRIBUTES,
            Call::ADVICE,
            Call::RETIRE_FIRST,
            Call::CHECK_SINK,
            Call::SCOPES_OVERLAP,
            Call::PREFLIGHT,
            Call::TEST_MUTATE,
        ];
        if optional.contains(&method) && !self.answers(method) {
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
                self.providers.insert(handle, provider);
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
                encode(&ReadResult {
                    state: r.state,
                    api_calls: r.api_calls,
                    deleted: r.deleted,
                })
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
                self.locks.insert(handle, guard);
                encode(&LockHandle { lock: handle })
            }
            "unlock" => {
                let p: LockHandle = params(value)?;
                self.locks.remove(&p.lock);
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
            "shutdown" => {
                self.locks.clear();
                self.providers.clear();
                encode(&Empty {})
            }
            other => Err(rpc(METHOD_NOT_FOUND, format!("unknown method `{other}`"))),
        }
    }

    fn handle(&mut self) -> u64 {
        let h = self.next;
        self.next += 1;
        h
    }

    fn initialize(&mut self, p: &InitializeParams) -> Answer {
        if !p.protocols.iter().any(|v| v == PROTOCOL) {
            return Err(rpc(
                super::wire::PROVIDER_ERROR,
                format!(
                    "no protocol in common: offered {:?}, this plugin speaks `{PROTOCOL}`",
                    p.protocols
                ),
            ));
        }
        self.initialized = true;
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
