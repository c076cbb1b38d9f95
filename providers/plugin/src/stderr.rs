//! A plugin's standard error: the last lines kept in a bounded buffer, shown only
//! in error messages, each line prefixed with the plugin's name, its control
//! characters escaped and any secret the plugin minted blotted out.

use std::collections::VecDeque;
use std::io::BufRead as _;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

/// At most this much of the end of standard error is kept.
const KEPT_BYTES: usize = 64 * 1024;
/// At most this many lines are shown in an error.
const SHOWN_LINES: usize = 20;
/// A line longer than this is cut.
const LINE_BYTES: usize = 1024;

/// Fingerprints of the secrets a plugin minted: their length and SHA-256, never
/// the secrets themselves, so redaction needs no copy of a secret kept alive.
#[derive(Default)]
pub(crate) struct Secrets(Mutex<Vec<(usize, [u8; 32])>>);

impl Secrets {
    pub fn remember(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let print = (secret.len(), Sha256::digest(secret.as_bytes()).into());
        let mut all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !all.contains(&print) {
            all.push(print);
        }
    }

    /// `text` with every occurrence of a remembered secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = text.to_owned();
        for (len, print) in all.iter() {
            let mut at = 0;
            while at + len <= out.len() {
                let window = &out.as_bytes()[at..at + len];
                if Sha256::digest(window).as_slice() == print.as_slice() {
                    out.replace_range(at..at + len, "<redacted secret>");
                    at += "<redacted secret>".len();
                } else {
                    at += 1;
                }
            }
        }
        out
    }
}

#[derive(Default)]
pub(crate) struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.bytes > KEPT_BYTES {
            match self.lines.pop_front() {
                Some(l) => self.bytes -= l.len(),
                None => break,
            }
        }
    }

    pub fn contains(&self, text: &str) -> bool {
        self.lines.iter().any(|l| l.contains(text))
    }

    /// The last lines, each as `<plugin>: <line>`, redacted; empty when the
    /// plugin said nothing.
    pub fn render(&self, plugin: &str, secrets: &Secrets) -> String {
        let skip = self.lines.len().saturating_sub(SHOWN_LINES);
        let mut out = String::new();
        for line in self.lines.iter().skip(skip) {
            out.push('\n');
            out.push_str(plugin);
            out.push_str(": ");
            out.push_str(&secrets.redact(line));
        }
        out
    }
}

/// Collects `stderr` on a thread of its own until the plugin closes it.
pub(crate) fn capture(stderr: std::process::ChildStderr) -> Arc<Mutex<Tail>> {
    let tail = Arc::new(Mutex::new(Tail::default()));
    let shared = Arc::clone(&tail);
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stderr);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match nhi_provider_sdk::plugin::read_line(&mut reader, &mut raw, LINE_BYTES) {
                Ok(None) | Err(_) => return,
                Ok(Some(whole)) => {
                    let mut line = escape(&raw);
                    if !whole {
                        line.push_str(" …");
                        // Drop the rest of the long line.
                        let mut rest = Vec::new();
                        if reader.read_until(b'\n', &mut rest).is_err() {
                            return;
                        }
                    }
                    shared
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(line);
                }
            }
        }
    });
    tail
}

/// `raw` as text a terminal shows as it is: control characters escaped.
pub(crate) fn escape(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for c in text.trim_end_matches('\r').chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Secrets;

    #[test]
    fn a_remembered_secret_is_blotted_out_wherever_it_appears() {
        let secrets = Secrets::default();
        secrets.remember("s3cr3t-canary");
        assert_eq!(
            secrets.redact("got s3cr3t-canary and s3cr3t-canary!"),
            "got <redacted secret> and <redacted secret>!"
        );
        assert_eq!(secrets.redact("nothing here"), "nothing here");
    }
}
