//! Provider plugins: the `nhi-provider/1` protocol by which nhi drives a provider
//! in a child process (JSON-RPC 2.0, one object per line over standard input and
//! output), its messages ([`wire`]), and [`serve`], which runs any Rust
//! [`crate::ProviderType`] as such a plugin. `docs/plugin-protocol.md` is the
//! specification.

mod serve;
mod wiped;
pub mod wire;

pub use serve::{About, serve, serve_on};
pub use wiped::Wiped;

use std::io::{self, BufRead};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The plugin that served a provider block, as a plan records it: apply runs
/// only the same bytes speaking the same protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginRecord {
    /// The name the plugin gave in its handshake.
    pub name: String,
    /// The version the plugin gave in its handshake.
    pub version: String,
    /// `sha256:` of the executable's bytes, as nhi ran them.
    pub digest: crate::Digest,
    /// The protocol negotiated, e.g. `nhi-provider/1`.
    pub protocol: String,
}

/// The protocol this SDK speaks: a name and a major version. Additions within a
/// major version are capabilities, never changes.
pub const PROTOCOL: &str = "nhi-provider/1";

/// The longest line either side accepts (a read of 100,000 identities is about
/// 40 MiB); a longer one is a protocol error.
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// Reads one line (without its `\n`) into `line`: `None` at end of input,
/// `Some(false)` when it is longer than `limit` (the rest is not read).
pub fn read_line(
    input: &mut dyn BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<bool>> {
    read_line_into(input, limit, &mut |piece| {
        if let Some(piece) = piece {
            line.extend_from_slice(piece);
        }
        line.len()
    })
}

/// [`read_line`] into whatever `append` appends to: called with each piece,
/// or with `None`, it says how long the line is so far.
fn read_line_into(
    input: &mut dyn BufRead,
    limit: usize,
    append: &mut dyn FnMut(Option<&[u8]>) -> usize,
) -> io::Result<Option<bool>> {
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if append(None) == 0 { None } else { Some(true) });
        }
        let (take, done) = match memchr_newline(buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        if append(None) + take > limit {
            return Ok(Some(false));
        }
        append(Some(&buf[..take]));
        input.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Some(true));
        }
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}
