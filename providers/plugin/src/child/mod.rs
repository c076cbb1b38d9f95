//! One running plugin: its process, a thread that writes requests to its
//! standard input, a thread that reads its standard output line by line and
//! hands each answer to the call with its id, and calls, each with a deadline.
//! Calls are made one at a time unless the plugin's handshake said it answers
//! them concurrently. A plugin that crashes, hangs or writes anything but a
//! protocol line is stopped, and every later call fails with what happened to it.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nhi_provider_sdk::plugin::wire::{Request, Response, RpcError};
use nhi_provider_sdk::plugin::{MAX_LINE_BYTES, Wiped};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::stderr::{self, Secrets, Tail};

mod route;

use route::{Router, response_id, write_requests};

/// What came out of the plugin's standard output for a call, or what
/// became of its input.
/// A request line for the writer thread, with its id.
pub(super) type Line = (u64, Vec<u8>);

pub(super) enum Out {
    Line(Wiped),
    TooLong,
    Closed,
    /// Its standard input could not be written.
    NotReading,
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The plugin answered with an error: the call is over, the plugin fine.
    Remote(RpcError),
    /// The plugin broke (crash, hang, garbage): whatever the call did is unknown.
    Broken(String),
}

pub(crate) struct Child {
    /// The name errors use: the plugin's own once it gave one.
    pub label: Mutex<String>,
    /// Held for the length of a call unless [`Self::concurrent`].
    one_at_a_time: Mutex<()>,
    concurrent: AtomicBool,
    /// Request lines to the writer thread, each with its id; `None` once the
    /// plugin's standard input is closed.
    requests: Mutex<Option<Sender<Line>>>,
    router: Arc<Mutex<Router>>,
    next_id: AtomicU64,
    /// Taken by whoever finds the plugin broken, while stopping it.
    process: Mutex<std::process::Child>,
    /// Set once the plugin broke; every later call fails with it.
    broken: Mutex<Option<String>>,
    tail: Arc<Mutex<Tail>>,
    pub secrets: Secrets,
    timeout: Duration,
    /// The process's id: it stays ours until it is reaped, which only a call
    /// that found it broken, or `stop`, does.
    pid: u32,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Child {
    pub fn spawn(mut command: Command, label: String, timeout: Duration) -> Result<Self, String> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = command
            .spawn()
            .map_err(|e| format!("cannot start plugin `{label}`: {e}"))?;
        let pid = process.id();
        let stdin = process.stdin.take().expect("invariant: stdin is piped");
        let stdout = process.stdout.take().expect("invariant: stdout is piped");
        let stderr = process.stderr.take().expect("invariant: stderr is piped");
        // A read's answer runs to megabytes: larger pipes take it in a few
        // wake-ups instead of one per 64 KiB. Best effort (the system's limit).
        #[cfg(target_os = "linux")]
        for pipe in [
            rustix::fd::AsFd::as_fd(&stdout),
            rustix::fd::AsFd::as_fd(&stdin),
        ] {
            let _ = rustix::pipe::fcntl_setpipe_size(pipe, 1 << 20);
        }
        let tail = stderr::capture(stderr);
        let router = Arc::new(Mutex::new(Router::default()));
        let reading = Arc::clone(&router);
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::with_capacity(1 << 16, stdout);
            loop {
                // Room for any `apply` result up front: growing the buffer would
                // free a copy of a secret unwiped.
                let mut line = Wiped::with_capacity(64 * 1024);
                match line.read_line(&mut reader, MAX_LINE_BYTES) {
                    Ok(Some(true)) => {
                        let id = response_id(&line);
                        lock(&reading).deliver(id, Out::Line(line));
                    }
                    Ok(Some(false)) => return lock(&reading).end(Out::TooLong),
                    Ok(None) | Err(_) => return lock(&reading).end(Out::Closed),
                }
            }
        });
        let (requests, queue) = channel();
        let writing = Arc::clone(&router);
        std::thread::spawn(move || write_requests(stdin, &queue, &writing));
        Ok(Self {
            label: Mutex::new(label),
            one_at_a_time: Mutex::new(()),
            concurrent: AtomicBool::new(false),
            requests: Mutex::new(Some(requests)),
            router,
            next_id: AtomicU64::new(1),
            process: Mutex::new(process),
            broken: Mutex::new(None),
            tail,
            secrets: Secrets::default(),
            timeout,
            pid,
        })
    }

    pub fn label(&self) -> String {
        lock(&self.label).clone()
    }

    /// Lets calls overlap, as the plugin's handshake announced it answers them.
    pub fn answer_concurrently(&self) {
        self.concurrent.store(true, Ordering::Release);
    }

    /// Calls `method` about `object` (a block or an address) and waits at most
    /// the block's timeout plus `extra` for the answer.
    pub fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        object: &str,
        params: &P,
        extra: Duration,
    ) -> Result<R, CallError> {
        let _turn = (!self.concurrent.load(Ordering::Acquire)).then(|| lock(&self.one_at_a_time));
        if let Some(broken) = lock(&self.broken).clone() {
            return Err(CallError::Broken(broken));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        match self.exchange(id, method, params, extra) {
            Err(Failure::Remote(e)) => Err(CallError::Remote(e)),
            Err(Failure::Broken(what)) => Err(CallError::Broken(self.fail(method, object, &what))),
            Ok(r) => Ok(r),
        }
    }

    /// Sends `line` as request `id` and waits for what comes back for it.
    fn send(&self, id: u64, line: Vec<u8>, deadline: Duration) -> Result<Out, Failure> {
        let (to, answer) = sync_channel(1);
        {
            let mut router = lock(&self.router);
            if let Some(out) = router.stray.take() {
                return Ok(out);
            }
            if router.ended {
                return Ok(Out::Closed);
            }
            router.waiting.insert(id, to);
        }
        let sent = lock(&self.requests)
            .as_ref()
            .is_some_and(|requests| requests.send((id, line)).is_ok());
        if !sent {
            lock(&self.router).waiting.remove(&id);
            return Ok(Out::NotReading);
        }
        match answer.recv_timeout(deadline) {
            Ok(out) => Ok(out),
            Err(RecvTimeoutError::Timeout) => {
                lock(&self.router).waiting.remove(&id);
                Err(Failure::Broken(format!(
                    "did not answer within {} (stopped)",
                    seconds(deadline)
                )))
            }
            Err(RecvTimeoutError::Disconnected) => Ok(Out::Closed),
        }
    }

    fn exchange<P: Serialize, R: DeserializeOwned>(
        &self,
        id: u64,
        method: &str,
        params: &P,
        extra: Duration,
    ) -> Result<R, Failure> {
        let request = Request {
            jsonrpc: "2.0".to_owned(),
            id,
            method: method.to_owned(),
            params,
        };
        let mut line = serde_json::to_vec(&request)
            .map_err(|e| Failure::Broken(format!("could not be sent the request: {e}")))?;
        line.push(b'\n');
        let line = match self.send(id, line, self.timeout + extra)? {
            Out::Line(line) => line,
            Out::TooLong => {
                return Err(Failure::Broken(format!(
                    "wrote a line longer than {MAX_LINE_BYTES} bytes"
                )));
            }
            Out::Closed => return Err(Failure::Broken("closed its standard output".into())),
            Out::NotReading => {
                return Err(Failure::Broken("stopped reading its standard input".into()));
            }
        };
        let response: Response<R> = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                return Err(Failure::Broken(
                    if serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_err() {
                        format!(
                            "wrote a line that is not a protocol message: `{}`",
                            self.secrets.redact(&excerpt(&line))
                        )
                    } else {
                        format!("answered with a malformed response: {e}")
                    },
                ));
            }
        };
        if response.jsonrpc != "2.0" || response.id != Some(id) {
            let error = response.error.map(|e| e.message).unwrap_or_default();
            return Err(Failure::Broken(format!(
                "answered request {id} with a response to {}{}",
                response
                    .id
                    .map_or_else(|| "none".to_owned(), |i| i.to_string()),
                if error.is_empty() {
                    String::new()
                } else {
                    format!(" (`{}`)", self.secrets.redact(&error))
                }
            )));
        }
        match (response.result, response.error) {
            (Some(result), None) => Ok(result),
            (None, Some(mut error)) => {
                error.message = self
                    .secrets
                    .redact(&stderr::escape(error.message.as_bytes()));
                Err(Failure::Remote(error))
            }
            _ => Err(Failure::Broken(
                "answered with neither or both of `result` and `error`".into(),
            )),
        }
    }

    /// Stops the broken plugin, once, and says what became of it; a call that
    /// fails because another found it broken fails with that one's message.
    fn fail(&self, method: &str, object: &str, what: &str) -> String {
        let mut process = lock(&self.process);
        if let Some(broken) = lock(&self.broken).clone() {
            return broken;
        }
        let message = self.broken_message(&mut process, method, object, what);
        *lock(&self.broken) = Some(message.clone());
        message
    }

    /// Stops the plugin and says what became of it, with the end of its
    /// standard error.
    fn broken_message(
        &self,
        process: &mut std::process::Child,
        method: &str,
        object: &str,
        what: &str,
    ) -> String {
        lock(&self.requests).take();
        let status = if let Some(status) = wait(process, Duration::from_millis(500)) {
            format!("; it exited with {status}")
        } else {
            let _ = process.kill();
            let _ = process.wait();
            String::new()
        };
        // Give the stderr thread a moment to collect the last words.
        std::thread::sleep(Duration::from_millis(50));
        let label = self.label();
        let tail = lock(&self.tail).render(&label, &self.secrets);
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("; its standard error ended:{tail}")
        };
        format!("plugin `{label}` {what} in `{method}` for `{object}`{status}{tail}")
    }

    /// Writes `bytes` as one line and returns the next line the plugin writes,
    /// whatever its id. Nothing else may be in flight.
    pub fn raw(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let _turn = lock(&self.one_at_a_time);
        if let Some(broken) = lock(&self.broken).clone() {
            return Err(broken);
        }
        let mut line = bytes.to_vec();
        line.push(b'\n');
        match self.send(u64::MAX, line, self.timeout) {
            Ok(Out::Line(line)) => Ok(line.to_vec()),
            Ok(Out::TooLong) => Err("the plugin answered with an oversized line".into()),
            Ok(Out::NotReading) => Err("the plugin stopped reading".into()),
            Ok(Out::Closed) | Err(_) => Err("the plugin did not answer".into()),
        }
    }

    /// Sends the plugin `SIGSTOP` (`suspend`) or `SIGKILL`, for the conformance
    /// kit's checks of a plugin that hangs or crashes mid-call. Without taking
    /// any lock, so a call can be in flight.
    #[cfg(target_os = "linux")]
    pub fn signal(&self, suspend: bool) -> Result<(), String> {
        use rustix::process::{Pid, Signal, kill_process};
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| format!("plugin process id `{}` is not a process id", self.pid))?;
        let signal = if suspend { Signal::STOP } else { Signal::KILL };
        kill_process(pid, signal).map_err(|e| format!("cannot signal the plugin: {e}"))
    }

    /// Whether the kept end of standard error holds `text`.
    pub fn tail_contains(&self, text: &str) -> bool {
        lock(&self.tail).contains(text)
    }

    /// Ends the plugin: `shutdown`, then a kill if it lingers, and reaps it.
    pub fn stop(&self) {
        let _ = self.call::<_, serde::de::IgnoredAny>(
            "shutdown",
            "plugin",
            &nhi_provider_sdk::plugin::wire::Empty {},
            Duration::ZERO,
        );
        lock(&self.requests).take();
        let mut process = lock(&self.process);
        if wait(&mut process, Duration::from_millis(500)).is_none() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

enum Failure {
    Remote(RpcError),
    Broken(String),
}

fn wait(process: &mut std::process::Child, within: Duration) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + within;
    // A plugin that was told to stop usually exits within a millisecond or
    // two: look often at first, nhi waits for it before it exits itself.
    let mut pause = Duration::from_micros(200);
    loop {
        match process.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            _ => return None,
        }
    }
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The start of a line, escaped, for an error message.
fn excerpt(line: &[u8]) -> String {
    let cut = &line[..line.len().min(80)];
    let mut text = stderr::escape(cut);
    if line.len() > 80 {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests;
