//! The fast path of decoding: an estate file laid out exactly as it is written,
//! one identity per line, is cut into parts at line ends and decoded on several
//! threads, each reading its own part by position, so a file's text is never held
//! whole.

#[cfg(unix)]
use std::fs::File;
use std::io;

use nhi_provider_sdk::ObservedIdentity;

use super::format::{FORMAT_VERSION, RawIdentity, check_members};

/// Below this size an estate is decoded on the calling thread.
pub(super) const PARALLEL_BYTES: usize = 1 << 20;

/// The fast path for files laid out exactly as [`encode`](super::encode) writes them: the
/// identities, one per line, are decoded on as many threads as there are cores.
/// `None` for anything else, and for any identity that fails to decode or check,
/// or names out of order: [`parse`](super::parse) then decodes the file whole, and its errors
/// say where the problem is.
pub(super) fn parse_lines(bytes: &[u8]) -> Option<Vec<ObservedIdentity>> {
    parse_lines_at(bytes, PARALLEL_BYTES)
}

/// Bytes read by position: an open file, or bytes in memory.
pub(super) trait ReadAt: Sync {
    fn size(&self) -> u64;
    /// Reads at most `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|at| self.get(at..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// An open estate file and the length it had when opened. `store` replaces the
/// file by renaming a new one over it, so an open file never changes under nhi.
#[cfg(unix)]
pub(super) struct OpenFile<'a>(pub(super) &'a File, pub(super) u64);

#[cfg(unix)]
impl ReadAt for OpenFile<'_> {
    fn size(&self) -> u64 {
        self.1
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::unix::fs::FileExt as _;
        let left = usize::try_from(self.1.saturating_sub(offset)).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        self.0.read_at(&mut buf[..n], offset)
    }
}

/// The bytes `from..to` of a [`ReadAt`], as a reader.
struct Range<'a, A: ?Sized> {
    at: &'a A,
    from: u64,
    to: u64,
}

impl<A: ReadAt + ?Sized> io::Read for Range<'_, A> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.to.saturating_sub(self.from)).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        let read = self.at.read_at(&mut buf[..n], self.from)?;
        self.from += read as u64;
        Ok(read)
    }
}

/// Exactly the bytes `from..to`, or `None`.
fn bytes_at<A: ReadAt + ?Sized>(at: &A, from: u64, to: u64) -> Option<Vec<u8>> {
    let len = to.checked_sub(from)?;
    let mut out = Vec::new();
    io::Read::read_to_end(&mut Range { at, from, to }, &mut out).ok()?;
    (out.len() as u64 == len).then_some(out)
}

/// Where the first `,\n` at or after `from` (and before `to`) starts.
fn separator_at<A: ReadAt + ?Sized>(at: &A, from: u64, to: u64) -> Option<u64> {
    const WINDOW: u64 = 1 << 16;
    let mut start = from;
    while start < to {
        // Windows overlap by a byte, so a separator across two is found.
        let window = bytes_at(at, start, (start + WINDOW).min(to))?;
        if let Some(i) = window.windows(2).position(|w| w == b",\n") {
            return Some(start + i as u64);
        }
        start += WINDOW - 1;
    }
    None
}

/// [`parse_lines`] for bytes in memory or an open file, on several threads when
/// the identities take `parallel_bytes`. Each thread reads its own pieces by
/// position, so a file's text is never held whole.
pub(super) fn parse_lines_at<A: ReadAt + ?Sized>(
    at: &A,
    parallel_bytes: usize,
) -> Option<Vec<ObservedIdentity>> {
    const TAIL: &[u8] = b"\n]}\n";
    let head = format!("{{\"nhi_local_estate\":{FORMAT_VERSION},\"identities\":[\n");
    let size = at.size();
    let body_from = head.len() as u64;
    let body_to = size.checked_sub(TAIL.len() as u64)?;
    if body_to < body_from
        || bytes_at(at, 0, body_from)? != head.as_bytes()
        || bytes_at(at, body_to, size)? != TAIL
    {
        return None;
    }
    let body_len = body_to - body_from;
    let threads = nhi_provider_sdk::parallel::threads();
    // Several pieces a thread: threads that finish early take more.
    let parts = if body_len < parallel_bytes as u64 {
        1
    } else {
        threads * 4
    };
    // Parts end before a `,\n` between two identities.
    let mut bounds = vec![(body_from, body_from)];
    for k in 1..parts as u64 {
        let from = (body_from + body_len * k / parts as u64).max(bounds[bounds.len() - 1].1);
        if let Some(sep) = separator_at(at, from, body_to) {
            bounds.push((sep, sep + 2));
        }
    }
    bounds.push((body_to, body_to));
    let ranges: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0].1, w[1].0)).collect();
    // Lines take 256 bytes and more. The first part's vector takes every part's
    // identities, so it is sized for all: its unused end is never touched.
    let capacity = |bytes: u64| usize::try_from(bytes / 256).unwrap_or(0);
    let decode = |(from, to): (u64, u64)| -> Option<Vec<ObservedIdentity>> {
        let mut reader = io::BufReader::with_capacity(1 << 16, Range { at, from, to });
        let mut out = Vec::with_capacity(capacity(if from == body_from {
            body_len
        } else {
            to - from
        }));
        let mut line = Vec::new();
        loop {
            line.clear();
            io::BufRead::read_until(&mut reader, b'\n', &mut line).ok()?;
            // Every line of a part but its last ends with `,\n`.
            let last = line.last() != Some(&b'\n');
            let text = if last {
                &line[..]
            } else {
                line[..line.len() - 1].strip_suffix(b",")?
            };
            // An object, as the whole-file decoder requires (serde would also
            // accept a struct written as an array).
            if text.first() != Some(&b'{') {
                return None;
            }
            let identity =
                ObservedIdentity::from(serde_json::from_slice::<RawIdentity>(text).ok()?);
            check_members(&identity).ok()?;
            out.push(identity);
            if last {
                return Some(out);
            }
        }
    };
    let decoded = nhi_provider_sdk::parallel::map(ranges.len(), threads, |i| decode(ranges[i]));
    let mut identities = Vec::new();
    for part in decoded {
        let part = part?;
        if identities.is_empty() {
            identities = part;
        } else {
            identities.extend(part);
        }
    }
    identities
        .windows(2)
        .all(|w| w[0].identity.name < w[1].identity.name)
        .then_some(identities)
}
