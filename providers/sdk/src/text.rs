//! Text that reaches a reviewer: which characters can drive a terminal or
//! reorder what is read, so that config validation, addresses and every renderer
//! agree on one definition.

/// Whether `c` must never reach a terminal or a rendered document as itself: C0
/// controls, DEL, C1 controls, the bidirectional overrides, embeddings, isolates
/// and marks, and the line and paragraph separators.
#[must_use]
pub fn is_unsafe_char(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// The byte offset and character of the first unsafe character in `text`. Scans
/// bytes while the text is ASCII, so the common case costs one pass and no
/// allocation.
#[must_use]
pub fn first_unsafe(text: &str) -> Option<(usize, char)> {
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if b < 0x20 || b == 0x7f {
            return Some((i, char::from(b)));
        }
        if b >= 0x80 {
            return text[i..]
                .char_indices()
                .find(|&(_, c)| is_unsafe_char(c))
                .map(|(j, c)| (i + j, c));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_class_of_unsafe_character() {
        for (text, want) in [
            ("plain name", None),
            ("héllo wörld", None),
            ("a\u{1b}[8m", Some((1, '\u{1b}'))),
            ("a\x7f", Some((1, '\x7f'))),
            ("é\u{85}", Some((2, '\u{85}'))),
            ("ab\u{202e}", Some((2, '\u{202e}'))),
            ("\u{2066}", Some((0, '\u{2066}'))),
            ("x\u{2028}", Some((1, '\u{2028}'))),
            ("x\u{61c}", Some((1, '\u{61c}'))),
            ("tab\t", Some((3, '\t'))),
        ] {
            assert_eq!(first_unsafe(text), want, "{text:?}");
        }
        assert!(!is_unsafe_char('\u{a0}'));
        assert!(!is_unsafe_char('\u{2030}'));
    }
}
