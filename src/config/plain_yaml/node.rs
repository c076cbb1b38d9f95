//! The node tree: block mappings and sequences from the significant lines, and
//! the scalars and flow collections written on one line.

use super::lines::{Line, Lines, is_item};
use super::{Decline, InSubset};

/// Deepest nesting of block and flow collections read here (the full parser allows 64).
const MAX_DEPTH: usize = 24;

/// A YAML node of the subset; scalars borrow the text (no escapes are accepted).
#[derive(Debug, PartialEq)]
pub(super) enum Node<'a> {
    Plain(&'a str),
    Quoted(&'a str),
    Seq(Vec<Node<'a>>),
    Map(Vec<(&'a str, Node<'a>)>),
}

impl<'a> Lines<'a> {
    /// The key of the next entry of the block mapping at `indent`, with its value
    /// when it is on the same line; `None` at the end of the mapping.
    pub(super) fn key(&mut self, indent: usize) -> InSubset<Option<(&'a str, Option<Node<'a>>)>> {
        let Some(line) = self.peek() else {
            return Ok(None);
        };
        if line.indent < indent {
            return Ok(None);
        }
        if line.indent > indent || is_item(line.text) {
            return Err(Decline);
        }
        self.advance();
        let (key, rest) = split_key(line.text).ok_or(Decline)?;
        if rest.is_empty() {
            return Ok(Some((key, None)));
        }
        let node = inline(rest)?;
        self.after_scalar(indent)?;
        Ok(Some((key, Some(node))))
    }

    /// A value on one line ends there: a more indented line would continue it.
    fn after_scalar(&mut self, indent: usize) -> InSubset<()> {
        match self.peek() {
            Some(line) if line.indent > indent => Err(Decline),
            _ => Ok(()),
        }
    }

    /// The block value of a key at `indent` whose line ends after the colon.
    pub(super) fn nested(&mut self, indent: usize, depth: usize) -> InSubset<Node<'a>> {
        let line = self.peek().ok_or(Decline)?;
        if line.indent > indent {
            self.node(line.indent, depth)
        } else if line.indent == indent && is_item(line.text) {
            let mut items = Vec::new();
            self.items(indent, depth, &mut |n| {
                items.push(n);
                Ok(())
            })?;
            Ok(Node::Seq(items))
        } else {
            Err(Decline)
        }
    }

    /// A block collection whose first line is at `indent`.
    fn node(&mut self, indent: usize, depth: usize) -> InSubset<Node<'a>> {
        if depth > MAX_DEPTH {
            return Err(Decline);
        }
        let line = self.peek().ok_or(Decline)?;
        if is_item(line.text) {
            let mut items = Vec::new();
            self.items(indent, depth, &mut |n| {
                items.push(n);
                Ok(())
            })?;
            Ok(Node::Seq(items))
        } else {
            self.map(indent, depth)
        }
    }

    fn map(&mut self, indent: usize, depth: usize) -> InSubset<Node<'a>> {
        if depth > MAX_DEPTH {
            return Err(Decline);
        }
        let mut entries: Vec<(&'a str, Node<'a>)> = Vec::new();
        while let Some((key, inline)) = self.key(indent)? {
            let value = match inline {
                Some(node) => node,
                None => self.nested(indent, depth + 1)?,
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(Decline);
            }
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }

    /// The items of the block sequence at `indent`.
    pub(super) fn items(
        &mut self,
        indent: usize,
        depth: usize,
        each: &mut dyn FnMut(Node<'a>) -> InSubset<()>,
    ) -> InSubset<()> {
        if depth > MAX_DEPTH {
            return Err(Decline);
        }
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return Err(Decline);
            }
            let Some(rest) = line.text.strip_prefix("- ") else {
                if line.text == "-" {
                    return Err(Decline);
                }
                // The next key of a mapping at the same indentation.
                break;
            };
            self.advance();
            let text = rest.trim_start_matches(' ');
            let column = indent + 2 + (rest.len() - text.len());
            if is_item(text) || text.is_empty() {
                return Err(Decline);
            }
            if split_key(text).is_some() {
                // A mapping whose first entry shares the item's line.
                self.peeked = Some(Line {
                    indent: column,
                    text,
                });
                each(self.map(column, depth + 1)?)?;
            } else {
                let node = inline(text)?;
                self.after_scalar(indent)?;
                each(node)?;
            }
        }
        Ok(())
    }
}

/// `key:` or `key: rest` with a plain key of letters, digits, `_`, `-`, `.` and `/`
/// that starts with a letter or `_` and is not a YAML 1.1 boolean or null word.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    // The key's characters, up to the first colon.
    let end = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')))?;
    if bytes[end] != b':' {
        return None;
    }
    let (key, rest) = (&text[..end], &text[end + 1..]);
    if is_special_word(key) {
        return None;
    }
    if rest.is_empty() {
        Some((key, rest))
    } else {
        rest.strip_prefix(' ')
            .map(|r| (key, r.trim_start_matches(' ')))
    }
}

/// Words some YAML readers take for booleans or null.
pub(super) fn is_special_word(word: &str) -> bool {
    let words: &[&str] = match word.len() {
        1 => &["y", "n"],
        2 => &["no", "on"],
        3 => &["yes", "off"],
        4 => &["true", "null"],
        5 => &["false"],
        _ => return false,
    };
    words.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// A value written on the rest of a line: a scalar or a flow collection of scalars.
fn inline(text: &str) -> InSubset<Node<'_>> {
    match text.as_bytes()[0] {
        b'[' | b'{' => {
            let (node, rest) = flow(text)?;
            if rest.is_empty() {
                Ok(node)
            } else {
                Err(Decline)
            }
        }
        b'"' | b'\'' => {
            let (node, rest) = quoted(text)?;
            if rest.is_empty() {
                Ok(node)
            } else {
                Err(Decline)
            }
        }
        _ => {
            let bytes = text.as_bytes();
            if !may_start_plain(text)
                || bytes.ends_with(b":")
                || bytes
                    .windows(2)
                    .any(|w| matches!(w, [b':', b' '] | [b' ', b'#']))
            {
                return Err(Decline);
            }
            Ok(Node::Plain(text))
        }
    }
}

/// A plain scalar may not start with an indicator (anchors, aliases, tags, block
/// scalars, directives, flow, quotes, sequence and mapping indicators).
fn may_start_plain(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| {
        !matches!(
            b,
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
                | b' '
        )
    })
}

/// A quoted scalar at the start of `text` without escapes, and what follows it.
fn quoted(text: &str) -> InSubset<(Node<'_>, &str)> {
    let quote = text.as_bytes()[0];
    let body = &text[1..];
    let end = body.bytes().position(|b| b == quote).ok_or(Decline)?;
    let (content, rest) = (&body[..end], &body[end + 1..]);
    if quote == b'"' && content.contains('\\') {
        return Err(Decline);
    }
    // `''` is an escaped quote in single quotes; `""` cannot follow a closed scalar.
    if rest.starts_with(char::from(quote)) {
        return Err(Decline);
    }
    Ok((Node::Quoted(content), rest))
}

/// A flow collection of scalars on one line, and what follows it.
fn flow(text: &str) -> InSubset<(Node<'_>, &str)> {
    let (open, close) = if text.starts_with('[') {
        (true, b']')
    } else {
        (false, b'}')
    };
    let mut rest = text[1..].trim_start_matches(' ');
    let mut items = Vec::new();
    let mut entries: Vec<(&str, Node<'_>)> = Vec::new();
    if let Some(after) = rest.strip_prefix(char::from(close)) {
        let node = if open {
            Node::Seq(items)
        } else {
            Node::Map(entries)
        };
        return Ok((node, after));
    }
    loop {
        if open {
            let (node, after) = flow_scalar(rest)?;
            items.push(node);
            rest = after;
        } else {
            let (key, after) = flow_key(rest)?;
            let (node, after) = flow_scalar(after)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(Decline);
            }
            entries.push((key, node));
            rest = after;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches(' ');
            continue;
        }
        let after = rest.strip_prefix(char::from(close)).ok_or(Decline)?;
        let node = if open {
            Node::Seq(items)
        } else {
            Node::Map(entries)
        };
        return Ok((node, after));
    }
}

/// `key: ` inside a flow mapping.
fn flow_key(text: &str) -> InSubset<(&str, &str)> {
    let end = text.find(": ").ok_or(Decline)?;
    let (key, _) = split_key(&text[..=end]).ok_or(Decline)?;
    Ok((key, text[end + 2..].trim_start_matches(' ')))
}

/// A scalar inside a flow collection, and what follows it.
fn flow_scalar(text: &str) -> InSubset<(Node<'_>, &str)> {
    if text.starts_with(['"', '\'']) {
        return quoted(text);
    }
    let end = text.find([',', ']', '}']).ok_or(Decline)?;
    let scalar = text[..end].trim_end_matches(' ');
    if !may_start_plain(scalar) || scalar.contains([':', '#', '[', '{', '\'', '"']) {
        return Err(Decline);
    }
    Ok((Node::Plain(scalar), &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_on_one_line() {
        use Node::{Map, Plain, Quoted, Seq};
        let cases: Vec<(&str, Option<Node<'_>>)> = vec![
            ("x", Some(Plain("x"))),
            ("a b", Some(Plain("a b"))),
            ("'a: b'", Some(Quoted("a: b"))),
            ("\"a\"", Some(Quoted("a"))),
            ("[a, 'b']", Some(Seq(vec![Plain("a"), Quoted("b")]))),
            ("[]", Some(Seq(vec![]))),
            (
                "{a: b, c: 'd'}",
                Some(Map(vec![("a", Plain("b")), ("c", Quoted("d"))])),
            ),
            ("&a x", None),
            ("*a", None),
            ("!t x", None),
            ("a #b", None),
            ("a: b", None),
            ("x:", None),
            ("'it''s'", None),
            ("\"a\\tb\"", None),
            ("[a, [b]]", None),
            ("{a: b, a: c}", None),
            ("[a] x", None),
        ];
        for (text, want) in cases {
            assert_eq!(inline(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn keys_are_plain_words_that_no_reader_takes_for_a_boolean() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("name: x", Some(("name", "x"))),
            ("name:", Some(("name", ""))),
            ("a.b/c-d_e:   x", Some(("a.b/c-d_e", "x"))),
            ("_x: y", Some(("_x", "y"))),
            ("yes: x", None),
            ("Off: x", None),
            ("1a: x", None),
            ("a:b", None),
            ("\"a\": b", None),
            ("a b: c", None),
        ];
        for (text, want) in cases {
            assert_eq!(split_key(text), *want, "{text:?}");
        }
    }

    #[test]
    fn block_collections() {
        use Node::{Map, Plain, Seq};
        let mut lines = Lines::new("a:\n  - b\n  - c: d\n    e: [f]\n");
        let (key, inline) = lines.key(0).ok().flatten().unwrap();
        assert_eq!((key, inline), ("a", None));
        assert_eq!(
            lines.nested(0, 1).ok(),
            Some(Seq(vec![
                Plain("b"),
                Map(vec![("c", Plain("d")), ("e", Seq(vec![Plain("f")]))]),
            ]))
        );
        let declined = [
            "a:\n  b: x\n  b: y\n".to_owned(),
            "a:\n  - b\n   - c\n".to_owned(),
            "a:\n  -\n".to_owned(),
            "a: x\n  b: y\n".to_owned(),
            (0..=MAX_DEPTH).fold(String::from("a:\n"), |text, depth| {
                format!("{text}{}k:\n", " ".repeat(2 * (depth + 1)))
            }) + &" ".repeat(2 * (MAX_DEPTH + 2))
                + "k: v\n",
        ];
        for text in declined {
            let mut lines = Lines::new(&text);
            let read = lines.key(0).and_then(|_| lines.nested(0, 1));
            assert!(read.is_err(), "{text}");
        }
    }
}
