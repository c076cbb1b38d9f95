//! Where a plugin's lines go: each answer to the call waiting for its id, what
//! no call waits for to the next, and requests to the plugin's standard input
//! from a thread of their own, so no call blocks on a plugin that stopped reading.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ChildStdin;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender};

use super::{Line, Out, lock};

/// The calls waiting for an answer, by request id, and what arrived that no
/// call was waiting for.
#[derive(Default)]
pub(super) struct Router {
    pub waiting: BTreeMap<u64, SyncSender<Out>>,
    /// A line no call waits for, or the end of the output before any call:
    /// the next call gets it (and finds the plugin broken).
    pub stray: Option<Out>,
    /// The output ended: every later call finds it closed.
    pub ended: bool,
}

impl Router {
    /// Hands `out` to the call `id`, or the oldest waiting one (which then
    /// reports the mix-up), or keeps it for the next.
    pub fn deliver(&mut self, id: Option<u64>, out: Out) {
        let to = id
            .and_then(|id| self.waiting.remove(&id))
            .or_else(|| self.waiting.pop_first().map(|(_, to)| to));
        match to {
            // A call that gave up waiting has dropped its receiver.
            Some(to) => drop(to.send(out)),
            None => {
                if self.stray.is_none() {
                    self.stray = Some(out);
                }
            }
        }
    }

    /// The end of the output: the oldest waiting call gets why, the others
    /// find it closed.
    pub fn end(&mut self, out: Out) {
        self.ended = true;
        let mut waiting = std::mem::take(&mut self.waiting).into_values();
        match waiting.next() {
            Some(first) => drop(first.send(out)),
            None => self.deliver(None, out),
        }
        for to in waiting {
            drop(to.send(Out::Closed));
        }
    }
}

/// A response's id, the rest of it skipped.
#[derive(serde::Deserialize)]
struct Id {
    id: Option<u64>,
}

/// The id a response line gives, read from where `serve` and most writers put
/// it, else from the whole line; `None` if it has none or is no JSON.
pub(super) fn response_id(line: &[u8]) -> Option<u64> {
    const START: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":";
    if let Some(rest) = line.strip_prefix(START) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && rest.get(digits) == Some(&b',') {
            // Checked again in full by the call that gets the line.
            return std::str::from_utf8(&rest[..digits]).ok()?.parse().ok();
        }
    }
    serde_json::from_slice::<Id>(line).ok()?.id
}

/// The writer thread: writes each request, and tells its call when the plugin
/// no longer reads. Ends, closing the plugin's standard input, when the sender
/// is dropped.
pub(super) fn write_requests(
    mut stdin: ChildStdin,
    queue: &Receiver<Line>,
    router: &Mutex<Router>,
) {
    for (id, line) in queue {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            let mut router = lock(router);
            if let Some(to) = router.waiting.remove(&id) {
                drop(to.send(Out::NotReading));
            }
            // Later requests find the queue gone.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::response_id;

    #[test]
    fn a_response_id_is_read_from_the_usual_prefix_or_the_whole_line() {
        assert_eq!(
            response_id(br#"{"jsonrpc":"2.0","id":42,"result":{}}"#),
            Some(42)
        );
        assert_eq!(
            response_id(br#"{"result":{},"id":7,"jsonrpc":"2.0"}"#),
            Some(7)
        );
        assert_eq!(
            response_id(br#"{"jsonrpc":"2.0","id":null,"error":{}}"#),
            None
        );
        assert_eq!(response_id(b"hello"), None);
    }
}
