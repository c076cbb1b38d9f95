//! A strict reader for [`Policy::from_canonical`](super::Policy::from_canonical):
//! each function takes the text and where a value starts, and gives where it ends
//! when it is plain canonical JSON (so that `serde_json` would write it back byte
//! for byte), `None` when not.

/// Deeper documents go the long way, where `serde_json` sets its own limit.
const MAX_DEPTH: usize = 100;

pub(super) fn value(text: &[u8], at: usize, depth: usize) -> Option<usize> {
    let open = *text.get(at)?;
    if matches!(open, b'{' | b'[') && depth >= MAX_DEPTH {
        return None;
    }
    match open {
        b'{' => {
            let mut previous: Option<&[u8]> = None;
            members(text, at, b'}', |i| {
                let end = string(text, i)?;
                // Unescaped, so the bytes are the key's, in the order of its `String`.
                let key = &text[i + 1..end - 1];
                if previous.is_some_and(|p| p >= key) || text.get(end) != Some(&b':') {
                    return None;
                }
                previous = Some(key);
                value(text, end + 1, depth + 1)
            })
        }
        b'[' => members(text, at, b']', |i| value(text, i, depth + 1)),
        b'"' => string(text, at),
        b't' => literal(text, at, b"true"),
        b'f' => literal(text, at, b"false"),
        b'n' => literal(text, at, b"null"),
        b'-' | b'0'..=b'9' => integer(text, at),
        _ => None,
    }
}

/// The members of the object or array opened at `at`, each read by `member`
/// from where it starts, separated by commas and ended by `close`.
fn members(
    text: &[u8],
    at: usize,
    close: u8,
    mut member: impl FnMut(usize) -> Option<usize>,
) -> Option<usize> {
    let mut i = at + 1;
    if text.get(i) == Some(&close) {
        return Some(i + 1);
    }
    loop {
        i = member(i)?;
        match *text.get(i)? {
            b',' => i += 1,
            b if b == close => return Some(i + 1),
            _ => return None,
        }
    }
}

fn string(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match *text.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

fn literal(text: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    text[at..].starts_with(word).then_some(at + word.len())
}

/// `0` or `-?[1-9][0-9]{0,17}`, which `serde_json` reads as an integer and
/// writes back the same; `-0`, fractions and exponents are not plain.
fn integer(text: &[u8], at: usize) -> Option<usize> {
    let start = if text[at] == b'-' { at + 1 } else { at };
    let digits = text[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let zero = text.get(start) == Some(&b'0');
    if digits == 0 || digits > 18 || (zero && (digits > 1 || start > at)) {
        return None;
    }
    let end = start + digits;
    match text.get(end) {
        Some(b'.' | b'e' | b'E') => None,
        _ => Some(end),
    }
}
