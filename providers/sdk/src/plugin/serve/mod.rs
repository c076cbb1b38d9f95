//! `serve`: runs any Rust [`ProviderType`] as a plugin, answering `nhi-provider/1`
//! calls from standard input on standard output. Everything the type says on
//! standard error reaches nhi's error messages; standard output carries only
//! protocol lines, so a provider served this way must never print.
//!
//! Requests are read on the calling thread and answered on [`WORKERS`] threads
//! of their own, so a long `read` does not hold up validation; the handshake
//! says so (`concurrent`), and nhi matches each answer to its request by id.

use std::io::{self, BufRead, Write};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};

use super::wire::{Call, PARSE_ERROR, RpcError};
use super::{MAX_LINE_BYTES, read_line};
use crate::ProviderType;

mod answer;
mod incoming;

use answer::Server;
use incoming::{Body, Incoming, Whole};

/// How many requests a served plugin answers at once.
pub const WORKERS: usize = 2;

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
    /// The fields of a declared identity the type's `validate` reads, if not
    /// all (see [`About::validating`]).
    pub validates: Option<Vec<&'static str>>,
}

impl About {
    /// A plugin named `name` at `version` that answers every optional call but
    /// `test_mutate`, imports and locks.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            calls: Call::ALL_BUT_TEST.to_vec(),
            imports: true,
            locks: true,
            validates: None,
        }
    }

    /// Says that the type's `validate` reads only these fields of a declared
    /// identity (`kind`, `name`, `owner`, `description`, `tags`, `attributes`,
    /// `key_names`, `bindings`): nhi then leaves the others out, and a large
    /// configuration crosses the pipe in a fraction of the bytes.
    #[must_use]
    pub fn validating(mut self, fields: &[&'static str]) -> Self {
        self.validates = Some(fields.to_vec());
        self
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
    // Validation requests run to hundreds of KiB: read them in large pieces.
    let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut output = io::stdout();
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
    output: &mut (dyn Write + Send),
) -> io::Result<()> {
    let server = Server::new(provider_type, about)?;
    let output = Output {
        writer: Mutex::new(output),
        failed: Mutex::new(None),
    };
    let (requests, queue) = channel::<Incoming>();
    let queue = Mutex::new(queue);
    let shutdown = std::thread::scope(|threads| {
        for _ in 0..WORKERS {
            threads.spawn(|| work(&server, &queue, &output));
        }
        let shutdown = read_requests(&server, input, &output, &requests);
        // The workers answer what was asked before they end.
        drop(requests);
        shutdown
    })?;
    if let Some(id) = shutdown {
        server.shut_down();
        output.write(Some(id), answer::encode(&super::wire::Empty {}));
    }
    output.result()
}

/// Reads requests until `shutdown` (whose id it returns) or the end of input,
/// answering `initialize` and unreadable lines itself and queueing the rest.
fn read_requests(
    server: &Server<'_>,
    input: &mut dyn BufRead,
    output: &Output<'_>,
    requests: &std::sync::mpsc::Sender<Incoming>,
) -> io::Result<Option<u64>> {
    // Each line is handed on whole: the next starts with the room the last
    // took (up to 1 MiB), rather than growing from nothing.
    let mut room = 0;
    loop {
        if output.has_failed() {
            return Ok(None);
        }
        let mut line = Vec::with_capacity(room);
        match read_line(input, &mut line, MAX_LINE_BYTES)? {
            None => return Ok(None),
            Some(false) => {
                let error = rpc(
                    PARSE_ERROR,
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                );
                output.write(None, Err(error));
                return Ok(None);
            }
            Some(true) => {}
        }
        room = line.len().min(1 << 20);
        let request = match Incoming::in_line(line) {
            Ok(request) => request,
            Err(line) => match serde_json::from_slice::<Whole<'_>>(&line) {
                Ok(whole) => Incoming {
                    id: whole.id,
                    method: whole.method.into_owned(),
                    body: Body::Parsed(whole.params.map(ToOwned::to_owned)),
                },
                Err(e) => {
                    output.write(None, Err(rpc(PARSE_ERROR, format!("not a request: {e}"))));
                    continue;
                }
            },
        };
        match request.method.as_str() {
            "shutdown" => return Ok(Some(request.id)),
            // Before anything else is answered.
            "initialize" => output.write(
                Some(request.id),
                server.answer(&request.method, request.params()),
            ),
            _ => {
                if requests.send(request).is_err() {
                    return Ok(None);
                }
            }
        }
    }
}

/// A worker: answers queued requests until the queue is closed and empty.
fn work(server: &Server<'_>, queue: &Mutex<Receiver<Incoming>>, output: &Output<'_>) {
    loop {
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok(request) = next else { return };
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server.answer(&request.method, request.params())
        }));
        // A served type that panics ends the plugin at once, as it would
        // without workers: nhi then fails the call (its outcome unknown)
        // instead of waiting out its deadline for an answer nobody will write.
        let Ok(answer) = answer else {
            std::process::exit(101)
        };
        output.write(Some(request.id), answer);
    }
}

/// Standard output, shared by the workers: one whole line at a time, and the
/// first failure to write kept (nhi is gone; the rest is not written).
struct Output<'w> {
    writer: Mutex<&'w mut (dyn Write + Send)>,
    failed: Mutex<Option<io::Error>>,
}

impl Output<'_> {
    fn write(&self, id: Option<u64>, answer: Answer) {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut failed = self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if failed.is_none()
            && let Err(e) = write_response(&mut **writer, id, answer)
        {
            *failed = Some(e);
        }
    }

    fn has_failed(&self) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    fn result(self) -> io::Result<()> {
        match self
            .failed
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

type Answer = Result<super::Wiped, RpcError>;

/// From this size on a result is written without a copy. Standard output's
/// own buffer is smaller, so such a write bypasses it (and leaves no copy
/// there either).
const DIRECT_BYTES: usize = 64 * 1024;

/// A response line, its buffer wiped after writing: it may hold a secret.
fn write_response(output: &mut dyn Write, id: Option<u64>, answer: Answer) -> io::Result<()> {
    // A large result (a `read`'s) is written where it is, between its line's
    // head and tail: copying megabytes costs as much as encoding them.
    if let Ok(result) = &answer
        && result.len() >= DIRECT_BYTES
    {
        let head = match id {
            Some(id) => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":"),
            None => "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":".to_owned(),
        };
        output.write_all(head.as_bytes())?;
        output.write_all(result)?;
        output.write_all(b"}\n")?;
        return output.flush();
    }
    // The whole line in one allocation: growing it would free copies unwiped.
    let room = answer.as_ref().map_or(0, |result| result.len());
    let mut line = super::Wiped::with_capacity(room + 256);
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
            serde_json::to_writer(&mut line, &error).map_err(io::Error::other)?;
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

#[cfg(test)]
mod tests;
