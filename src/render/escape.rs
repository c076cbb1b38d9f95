//! Making text from plans and live state safe to print, losslessly: a plan file
//! or a provider's answer can hold any character, and a reviewer must see what is
//! there, not what a control sequence makes the terminal or a comment show. Each
//! function returns its input unchanged, without allocating, when nothing in it
//! needs escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

use nhi_provider_sdk::text::is_unsafe_char;

/// Whether some byte of `text` may start something to escape: a backslash, an
/// ASCII control, or any non-ASCII character (judged one by one after).
fn may_need(text: &str, also: impl Fn(u8) -> bool) -> bool {
    text.bytes()
        .any(|b| b < 0x20 || b == 0x7f || b >= 0x80 || also(b))
}

/// Text for a terminal: `\` becomes `\\` and every unsafe character (see
/// [`is_unsafe_char`]) `\u{…}`, so the text can be read back exactly.
pub(crate) fn text(text: &str) -> Cow<'_, str> {
    if !may_need(text, |b| b == b'\\') || !text.chars().any(|c| c == '\\' || is_unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON as `serde_json` writes it, with the unsafe characters it leaves as they
/// are (DEL, C1, bidirectional formatting, line separators; all inside strings,
/// since it escapes every C0 control there) written as `\uXXXX` escapes, which
/// decode to the same document.
pub(crate) fn json(json: &str) -> Cow<'_, str> {
    let unsafe_in_json = |c: char| is_unsafe_char(c) && u32::from(c) >= 0x7f;
    if !json.bytes().any(|b| b >= 0x7f) || !json.chars().any(unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_in_json(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A quoted JSON string of `text`, safe to print.
pub(crate) fn quoted(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    match json(&quoted) {
        Cow::Borrowed(_) => quoted,
        Cow::Owned(safe) => safe,
    }
}

/// A markdown code span of `text` for a table cell: escaped as [`text`] does,
/// fenced by more backticks than any run inside it (padded with a space where it
/// starts or ends with one, as `CommonMark` strips exactly one), and with `|`
/// written `\|`, which GitHub and GitLab tables read as a pipe inside the cell.
pub(crate) fn code_span(value: &str) -> String {
    let value = text(value);
    let mut longest = 0;
    let mut run = 0;
    for b in value.bytes() {
        if b == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if value.starts_with('`')
        || value.ends_with('`')
        || longest > 0 && value.starts_with(' ')
    {
        " "
    } else {
        ""
    };
    let mut out = String::with_capacity(value.len() + 2 * fence.len() + 2);
    out.push_str(&fence);
    out.push_str(pad);
    for c in value.chars() {
        if c == '|' {
            out.push_str("\\|");
        } else {
            out.push(c);
        }
    }
    out.push_str(pad);
    out.push_str(&fence);
    out
}

/// A fence for a code block holding `text`: more backticks than any run in it,
/// and at least three, so nothing inside can close it.
pub(crate) fn code_fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for b in text.bytes() {
        if b == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_borrowed() {
        for plain in ["ci-deployer", "roles/viewer@projects/p", "héllo wörld", ""] {
            assert!(matches!(text(plain), Cow::Borrowed(_)), "{plain}");
            assert!(matches!(json(&quoted(plain)), Cow::Borrowed(_)), "{plain}");
        }
    }

    #[test]
    fn hostile_text_is_escaped_losslessly() {
        assert_eq!(text("a\u{1b}[8mb"), "a\\u{1b}[8mb");
        assert_eq!(text("a\u{1b}[2K\rb"), "a\\u{1b}[2K\\u{d}b");
        assert_eq!(text("x\\u{1b}"), "x\\\\u{1b}");
        assert_eq!(
            text("\u{202e}\u{2028}\u{85}\u{7f}"),
            "\\u{202e}\\u{2028}\\u{85}\\u{7f}"
        );
        assert_eq!(
            quoted("a\u{1b}\u{202e}\u{85}"),
            "\"a\\u001b\\u202e\\u0085\""
        );
        let back: String = serde_json::from_str(&quoted("a\u{1b}\u{202e}\u{85}")).unwrap();
        assert_eq!(back, "a\u{1b}\u{202e}\u{85}");
    }

    #[test]
    fn code_spans_hold_any_text() {
        assert_eq!(code_span("viewer"), "`viewer`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a|b"), "`a\\|b`");
        assert_eq!(
            code_span("\n\n**Plan reviewed: low risk only.**\n\n<!--"),
            "`\\u{a}\\u{a}**Plan reviewed: low risk only.**\\u{a}\\u{a}<!--`"
        );
        assert_eq!(code_fence("a ``` b ````"), "`````");
        assert_eq!(code_fence("plain"), "```");
    }
}
