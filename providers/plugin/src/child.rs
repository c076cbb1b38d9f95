//! One running plugin: its process, the thread that reads its standard output
//! line by line, and calls made one at a time, each with a deadline. A plugin
//! that crashes, hangs or writes anything but a protocol line is stopped, and
//! every later call fails with what happened to it.

use std::io::Write as _;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nhi_provider_sdk::plugin::wire::{Request, Response, RpcError};
use nhi_provider_sdk::plugin::{MAX_LINE_BYTES, read_line};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::stderr::{self, Secrets, Tail};

/// What came out of the plugin's standard output.
enum Out {
    Line(Zeroizing<Vec<u8>>),
    TooLong,
    Closed,
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
    inner: Mutex<Inner>,
    tail: Arc<Mutex<Tail>>,
    pub secrets: Secrets,
    timeout: Duration,
    /// The process's id: it stays ours until it is reaped, which only a call
    /// that found it broken, or `stop`, does.
    pid: u32,
}

struct Inner {
    process: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Out>,
    next_id: u64,
    /// Set once the plugin broke; every later call fails with it.
    broken: Option<String>,
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
        let stdin = process.stdin.take();
        let stdout = process.stdout.take().expect("invariant: stdout is piped");
        let stderr = process.stderr.take().expect("invariant: stderr is piped");
        let tail = stderr::capture(stderr);
        // One line in flight at a time: the reader waits for the caller.
        let (send, lines) = sync_channel(1);
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::with_capacity(1 << 16, stdout);
            loop {
                // Room for any `apply` result up front: growing the buffer would
                // free a copy of a secret unwiped.
                let mut line = Zeroizing::new(Vec::with_capacity(64 * 1024));
                let out = match read_line(&mut reader, &mut line, MAX_LINE_BYTES) {
                    Ok(Some(true)) => Out::Line(line),
                    Ok(Some(false)) => Out::TooLong,
                    Ok(None) | Err(_) => Out::Closed,
                };
                let last = !matches!(out, Out::Line(_));
                if send.send(out).is_err() || last {
                    return;
                }
            }
        });
        Ok(Self {
            label: Mutex::new(label),
            inner: Mutex::new(Inner {
                process,
                stdin,
                lines,
                next_id: 1,
                broken: None,
            }),
            tail,
            secrets: Secrets::default(),
            timeout,
            pid,
        })
    }

    pub fn label(&self) -> String {
        self.label
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(broken) = &inner.broken {
            return Err(CallError::Broken(broken.clone()));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let result = self.exchange(&mut inner, id, method, params, extra);
        match result {
            Err(Failure::Remote(e)) => Err(CallError::Remote(e)),
            Err(Failure::Broken(what)) => {
                let message = self.broken_message(&mut inner, method, object, &what);
                inner.broken = Some(message.clone());
                Err(CallError::Broken(message))
            }
            Ok(r) => Ok(r),
        }
    }

    fn exchange<P: Serialize, R: DeserializeOwned>(
        &self,
        inner: &mut Inner,
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
        let stdin = inner
            .stdin
            .as_mut()
            .ok_or_else(|| Failure::Broken("has no standard input".into()))?;
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            return Err(Failure::Broken("stopped reading its standard input".into()));
        }
        let deadline = self.timeout + extra;
        let out = match inner.lines.recv_timeout(deadline) {
            Ok(out) => out,
            Err(RecvTimeoutError::Timeout) => {
                return Err(Failure::Broken(format!(
                    "did not answer within {} (stopped)",
                    seconds(deadline)
                )));
            }
            Err(RecvTimeoutError::Disconnected) => Out::Closed,
        };
        let line = match out {
            Out::Line(line) => line,
            Out::TooLong => {
                return Err(Failure::Broken(format!(
                    "wrote a line longer than {MAX_LINE_BYTES} bytes"
                )));
            }
            Out::Closed => return Err(Failure::Broken("closed its standard output".into())),
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

    /// Stops the plugin and says what became of it, with the end of its
    /// standard error.
    fn broken_message(&self, inner: &mut Inner, method: &str, object: &str, what: &str) -> String {
        inner.stdin = None;
        let status = if let Some(status) = wait(&mut inner.process, Duration::from_millis(500)) {
            format!("; it exited with {status}")
        } else {
            let _ = inner.process.kill();
            let _ = inner.process.wait();
            String::new()
        };
        // Give the stderr thread a moment to collect the last words.
        std::thread::sleep(Duration::from_millis(50));
        let label = self.label();
        let tail = self
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .render(&label, &self.secrets);
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("; its standard error ended:{tail}")
        };
        format!("plugin `{label}` {what} in `{method}` for `{object}`{status}{tail}")
    }

    /// Writes `bytes` as one line and returns the next line the plugin writes.
    pub fn raw(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(broken) = &inner.broken {
            return Err(broken.clone());
        }
        let stdin = inner
            .stdin
            .as_mut()
            .ok_or("the plugin has no standard input")?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("the plugin stopped reading: {e}"))?;
        match inner.lines.recv_timeout(self.timeout) {
            Ok(Out::Line(line)) => Ok(line.to_vec()),
            Ok(Out::TooLong) => Err("the plugin answered with an oversized line".into()),
            Ok(Out::Closed) | Err(_) => Err("the plugin did not answer".into()),
        }
    }

    /// Sends the plugin `SIGSTOP` (`suspend`) or `SIGKILL`, for the conformance
    /// kit's checks of a plugin that hangs or crashes mid-call. Without taking
    /// the call lock, so a call can be in flight.
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
        self.tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(text)
    }

    /// Ends the plugin: `shutdown`, then a kill if it lingers.
    pub fn stop(&self) {
        let _ = self.call::<_, serde::de::IgnoredAny>(
            "shutdown",
            "plugin",
            &nhi_provider_sdk::plugin::wire::Empty {},
            Duration::ZERO,
        );
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.stdin = None;
        if wait(&mut inner.process, Duration::from_millis(500)).is_none() {
            let _ = inner.process.kill();
            let _ = inner.process.wait();
        }
    }
}

enum Failure {
    Remote(RpcError),
    Broken(String),
}

fn wait(process: &mut std::process::Child, within: Duration) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + within;
    loop {
        match process.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(5));
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
