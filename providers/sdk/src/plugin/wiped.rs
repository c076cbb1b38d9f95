//! [`Wiped`]: a line or result that may hold a secret.

use std::io::{self, BufRead};

use zeroize::Zeroize as _;

/// Bytes that may hold a secret (a response line, an `apply` result), wiped
/// when dropped as far as they were written. `Zeroizing<Vec<u8>>` wipes the
/// whole capacity, and such buffers are sized up front for any secret
/// (growing would free a copy unwiped): wiping room nobody wrote touched, and
/// so faulted in, memory for nothing. Only ever appended to, so nothing past
/// its length was written.
#[derive(Default)]
pub struct Wiped(Vec<u8>);

impl Wiped {
    /// Empty, with room for `capacity` bytes.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// [`super::read_line`], appending to these bytes.
    pub fn read_line(&mut self, input: &mut dyn BufRead, limit: usize) -> io::Result<Option<bool>> {
        super::read_line_into(input, limit, &mut |piece| {
            if let Some(piece) = piece {
                self.0.extend_from_slice(piece);
            }
            self.0.len()
        })
    }
}

impl std::ops::Deref for Wiped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl io::Write for Wiped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

impl std::fmt::Debug for Wiped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wiped({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Wiped;

    #[test]
    fn what_was_written_is_read_back_and_a_line_ends_at_its_newline() {
        let mut line = Wiped::with_capacity(4);
        let mut input: &[u8] = b"{\"a\":1}\nnext";
        assert_eq!(line.read_line(&mut input, 64).unwrap(), Some(true));
        assert_eq!(&*line, b"{\"a\":1}");
        std::io::Write::write_all(&mut line, b" more").unwrap();
        assert_eq!(&*line, b"{\"a\":1} more");
        let mut long = Wiped::default();
        let mut input: &[u8] = b"0123456789\n";
        assert_eq!(long.read_line(&mut input, 4).unwrap(), Some(false));
    }
}
