//! The line scanner: the characters the subset admits, and its significant lines
//! (neither blank nor a comment) with their indentation.

use super::{Decline, InSubset};

/// Characters whose YAML meaning the line reader does not model: tabs, CR and
/// other control characters, C1 controls and NEL, the Unicode line and paragraph
/// separators, byte order marks and non-characters.
pub(super) fn check_characters(text: &str) -> InSubset<()> {
    let bytes = text.as_bytes();
    // Nearly every block is printable ASCII: a branch-free test per block first.
    for (n, block) in bytes.chunks(64).enumerate() {
        let plain = block.iter().fold(0u8, |bad, &b| {
            bad | u8::from(!(0x20..0x7f).contains(&b) && b != b'\n')
        }) == 0;
        if !plain {
            check_bytes(bytes, n * 64, n * 64 + block.len())?;
        }
    }
    Ok(())
}

/// [`check_characters`] for `bytes[from..to]`, looking past `to` for sequences
/// that straddle it.
fn check_bytes(bytes: &[u8], from: usize, to: usize) -> InSubset<()> {
    for (i, &b) in bytes.iter().enumerate().take(to).skip(from) {
        let bad = match b {
            b'\n' => false,
            0..0x20 | 0x7f => true,
            0xc2 => matches!(bytes.get(i + 1), Some(0x80..=0x9f)),
            0xe2 => {
                bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9))
            }
            0xef => matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe | 0xbf))
            ),
            _ => false,
        };
        if bad {
            return Err(Decline);
        }
    }
    Ok(())
}

/// One significant line: indentation and content without trailing spaces.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    pub(super) indent: usize,
    pub(super) text: &'a str,
}

/// The significant lines of a text, one looked ahead.
pub(super) struct Lines<'a> {
    /// The text after the line looked ahead.
    pub(super) rest: &'a str,
    pub(super) peeked: Option<Line<'a>>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            peeked: None,
        }
    }

    /// The next line that is not blank or a comment.
    pub(super) fn peek(&mut self) -> Option<Line<'a>> {
        if self.peeked.is_none() {
            // By bytes: lines are split at ASCII bytes only.
            let bytes = self.rest.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |n| at + n);
                let line = &bytes[at..end];
                let indent = line.iter().take_while(|&&b| b == b' ').count();
                let stop = line.len() - line.iter().rev().take_while(|&&b| b == b' ').count();
                let start = at;
                at = (end + 1).min(bytes.len());
                if stop <= indent || line[indent] == b'#' {
                    continue;
                }
                self.peeked = Some(Line {
                    indent,
                    text: &self.rest[start + indent..start + stop],
                });
                break;
            }
            self.rest = &self.rest[at..];
        }
        self.peeked
    }

    pub(super) fn advance(&mut self) {
        self.peeked = None;
    }
}

/// Whether a line's text starts an item of a block sequence.
pub(super) fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_characters_the_scanner_models_are_in_the_subset() {
        let straddling = format!("{}\u{2028}", "a".repeat(63));
        let cases: &[(&str, bool)] = &[
            ("a: b\n", true),
            ("name: é ü\n", true),
            ("a:\tb\n", false),
            ("a: b\r\n", false),
            ("\u{feff}a: b\n", false),
            ("a: \u{85}\n", false),
            ("a: \u{2029}\n", false),
            ("a: \u{fffe}\n", false),
            ("a: \u{7f}\n", false),
            (&straddling, false),
        ];
        for (text, want) in cases {
            assert_eq!(check_characters(text).is_ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn blank_and_comment_lines_are_skipped_and_trailing_spaces_dropped() {
        let cases: &[(&str, &[(usize, &str)])] = &[
            ("a: b  \n\n   # c\n  - x\n", &[(0, "a: b"), (2, "- x")]),
            ("# only\n\n", &[]),
            ("a\nb", &[(0, "a"), (0, "b")]),
            ("  x #y\n", &[(2, "x #y")]),
        ];
        for (text, want) in cases {
            let mut lines = Lines::new(text);
            let mut got = Vec::new();
            while let Some(line) = lines.peek() {
                got.push((line.indent, line.text));
                lines.advance();
            }
            assert_eq!(got, *want, "{text:?}");
        }
    }
}
