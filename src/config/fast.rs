//! A fast reader for the plain, block-style YAML that large configurations are
//! written in. It accepts a strict subset of YAML and declines everything else;
//! the caller then reads the file with serde-saphyr, so every error a user sees
//! comes from that path. Each identity is validated as soon as it is read, so the
//! raw configuration is never held whole.
//!
//! The subset: spaces for indentation (no tabs, no CR, no BOM, no control
//! characters), full-line `#` comments, block mappings with plain keys, block
//! sequences, single-line plain, single-quoted (without `''`) and double-quoted
//! (without escapes) scalars, and single-line flow collections of scalars. Not in
//! it (declined): anchors, aliases, tags, block and multi-line scalars, trailing
//! comments, document markers, nulls, numbers and booleans where a JSON value is
//! read, duplicate keys, and any value the raw types would not accept. A file in
//! the subset means the same to this reader and to serde-saphyr; a differential
//! test holds them to it.

use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};

use super::error::Source;
use super::model::ProviderBlock;
use super::raw::{RawBinding, RawIdentity, RawKey, RawProvider};
use super::validate::{Incremental, Valid};

/// Not in the subset, or not valid: read the file the slow way.
#[derive(Debug)]
pub(crate) struct Decline;

type R<T> = Result<T, Decline>;

/// Deepest nesting of block and flow collections read here (the slow path allows 64).
const MAX_DEPTH: usize = 24;

/// The validated configuration in `text`, or `None` when the text is outside the
/// subset or has any problem.
///
/// `early` is called with the provider blocks, once they are valid, before a
/// large `identities:` sequence is read.
pub(crate) fn parse(
    source: &Source<'_>,
    text: &str,
    early: &mut dyn FnMut(&[ProviderBlock]),
) -> Option<Valid> {
    read(source, text, PARALLEL_BYTES, early).ok()
}

/// [`parse`], reading the identities on several threads when they take at least
/// `parallel_bytes`.
fn read(
    source: &Source<'_>,
    text: &str,
    parallel_bytes: usize,
    early: &mut dyn FnMut(&[ProviderBlock]),
) -> R<Valid> {
    check_characters(text)?;
    let mut cursor = Cursor::new(text);
    let first = cursor.peek().ok_or(Decline)?;
    if first.indent != 0 {
        return Err(Decline);
    }
    let mut v = Incremental::deferring_duplicates(source);
    let mut blocks = Vec::new();
    let (mut version, mut providers, mut identities) = (false, false, false);
    while let Some((key, inline)) = cursor.key(0)? {
        match key {
            "version" if !version && !identities => {
                version = true;
                let Some(Node::Plain(text)) = inline else {
                    return Err(Decline);
                };
                v.version(&spanned(whole_number(text)?));
            }
            "providers" if !providers && !identities => {
                providers = true;
                let node = match inline {
                    Some(node) => node,
                    None => cursor.nested(0, 1)?,
                };
                for item in seq(node)? {
                    let block = spanned(provider(item)?);
                    v.provider(&block);
                    blocks.push(block);
                }
            }
            "identities" if !identities => {
                identities = true;
                if let Some(node) = inline {
                    seq(node)?
                        .into_iter()
                        .try_for_each(|node| one(&mut v, node))?;
                    continue;
                }
                if cursor.peeked.is_some() || v.has_problems() {
                    return Err(Decline);
                }
                if cursor.rest.len() >= parallel_bytes {
                    early(v.providers());
                }
                for part in in_parallel(source, &blocks, cursor.rest, parallel_bytes)? {
                    v.merge(part).map_err(|()| Decline)?;
                }
                cursor.rest = "";
            }
            _ => return Err(Decline),
        }
        if v.has_problems() {
            return Err(Decline);
        }
    }
    if cursor.peek().is_some() || v.has_duplicates() {
        return Err(Decline);
    }
    v.finish().map_err(|_| Decline)
}

/// Validates one identity; declines on its first problem.
fn one(v: &mut Incremental<'_>, node: Node<'_>) -> R<()> {
    v.identity(&mut spanned(identity(node)?));
    if v.has_problems() {
        return Err(Decline);
    }
    Ok(())
}

/// Below this size the identities are read on the calling thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// Reads and validates the items of the `identities:` sequence in `text` (what
/// follows its key line, up to the end of the file), in as many parts as there are
/// cores. Parts start at lines with the items' dash and indentation, which in a
/// file of this subset are always new items; each part must end its text.
fn in_parallel<'s>(
    source: &'s Source<'s>,
    blocks: &[Spanned<RawProvider>],
    text: &str,
    parallel_bytes: usize,
) -> R<Vec<Incremental<'s>>> {
    let indent = match Cursor::new(text).peek() {
        Some(line) if is_item(line.text) => line.indent,
        _ => return Err(Decline),
    };
    let threads = nhi_provider_sdk::parallel::threads();
    // Several pieces a thread: threads that finish early take more.
    let parts = if text.len() < parallel_bytes {
        1
    } else {
        threads * 4
    };
    let marker = format!("\n{}- ", " ".repeat(indent));
    let mut bounds = vec![0];
    for k in 1..parts {
        let from = (text.len() * k / parts).max(bounds[bounds.len() - 1]);
        if let Some(at) = text.get(from..).and_then(|t| t.find(&marker)) {
            bounds.push(from + at + 1);
        }
    }
    bounds.push(text.len());
    bounds.dedup();
    let read_part = |part: &str, reserve: usize| -> R<Incremental<'s>> {
        let mut v = Incremental::deferring_duplicates(source);
        for block in blocks {
            v.provider(block);
        }
        // Items take about 500 bytes and more: one allocation of the model, whose
        // unused end is never touched. The first part's takes every part's items.
        v.reserve_identities(reserve / 256 + 1);
        let mut cursor = Cursor::new(part);
        cursor.items(indent, 1, &mut |node| one(&mut v, node))?;
        if cursor.peek().is_some() {
            return Err(Decline);
        }
        Ok(v)
    };
    let chunks: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    nhi_provider_sdk::parallel::map(chunks.len(), threads, |i| {
        read_part(chunks[i], if i == 0 { text.len() } else { chunks[i].len() })
    })
    .into_iter()
    .collect()
}

/// Spans are only needed for problems, and a problem makes this reader decline.
fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

/// Characters whose YAML meaning the line reader does not model: tabs, CR and
/// other control characters, C1 controls and NEL, the Unicode line and paragraph
/// separators, byte order marks and non-characters.
fn check_characters(text: &str) -> R<()> {
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
fn check_bytes(bytes: &[u8], from: usize, to: usize) -> R<()> {
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

/// A YAML node of the subset; scalars borrow the text (no escapes are accepted).
#[derive(Debug, PartialEq)]
enum Node<'a> {
    Plain(&'a str),
    Quoted(&'a str),
    Seq(Vec<Node<'a>>),
    Map(Vec<(&'a str, Node<'a>)>),
}

/// One significant line: indentation and content without trailing spaces.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

struct Cursor<'a> {
    rest: &'a str,
    peeked: Option<Line<'a>>,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            peeked: None,
        }
    }

    /// The next line that is not blank or a comment.
    fn peek(&mut self) -> Option<Line<'a>> {
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

    fn advance(&mut self) {
        self.peeked = None;
    }

    /// The key of the next entry of the block mapping at `indent`, with its value
    /// when it is on the same line; `None` at the end of the mapping.
    fn key(&mut self, indent: usize) -> R<Option<(&'a str, Option<Node<'a>>)>> {
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
    fn after_scalar(&mut self, indent: usize) -> R<()> {
        match self.peek() {
            Some(line) if line.indent > indent => Err(Decline),
            _ => Ok(()),
        }
    }

    /// The block value of a key at `indent` whose line ends after the colon.
    fn nested(&mut self, indent: usize, depth: usize) -> R<Node<'a>> {
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
    fn node(&mut self, indent: usize, depth: usize) -> R<Node<'a>> {
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

    fn map(&mut self, indent: usize, depth: usize) -> R<Node<'a>> {
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
    fn items(
        &mut self,
        indent: usize,
        depth: usize,
        each: &mut dyn FnMut(Node<'a>) -> R<()>,
    ) -> R<()> {
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

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
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
fn is_special_word(word: &str) -> bool {
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
fn inline(text: &str) -> R<Node<'_>> {
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
            if !plain_ok(text)
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
fn plain_ok(text: &str) -> bool {
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
fn quoted(text: &str) -> R<(Node<'_>, &str)> {
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
fn flow(text: &str) -> R<(Node<'_>, &str)> {
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
fn flow_key(text: &str) -> R<(&str, &str)> {
    let end = text.find(": ").ok_or(Decline)?;
    let (key, _) = split_key(&text[..=end]).ok_or(Decline)?;
    Ok((key, text[end + 2..].trim_start_matches(' ')))
}

/// A scalar inside a flow collection, and what follows it.
fn flow_scalar(text: &str) -> R<(Node<'_>, &str)> {
    if text.starts_with(['"', '\'']) {
        return quoted(text);
    }
    let end = text.find([',', ']', '}']).ok_or(Decline)?;
    let scalar = text[..end].trim_end_matches(' ');
    if !plain_ok(scalar) || scalar.contains([':', '#', '[', '{', '\'', '"']) {
        return Err(Decline);
    }
    Ok((Node::Plain(scalar), &text[end..]))
}

fn whole_number(text: &str) -> R<i64> {
    let digits_ok = !text.is_empty()
        && text.len() <= 9
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !digits_ok {
        return Err(Decline);
    }
    text.parse().map_err(|_| Decline)
}

fn seq(node: Node<'_>) -> R<Vec<Node<'_>>> {
    match node {
        Node::Seq(items) => Ok(items),
        _ => Err(Decline),
    }
}

fn map(node: Node<'_>) -> R<Vec<(&str, Node<'_>)>> {
    match node {
        Node::Map(entries) => Ok(entries),
        _ => Err(Decline),
    }
}

/// A scalar where the raw types want a string. Plain `null` and `~` are null to
/// serde-saphyr; every other plain scalar is its text.
fn string(node: &Node<'_>) -> R<String> {
    match *node {
        Node::Plain(text) if !matches!(text, "null" | "Null" | "NULL" | "~") => Ok(text.to_owned()),
        Node::Quoted(text) => Ok(text.to_owned()),
        _ => Err(Decline),
    }
}

fn spanned_string(node: &Node<'_>) -> R<Option<Spanned<String>>> {
    string(node).map(|s| Some(spanned(s)))
}

/// A JSON value. Plain scalars are accepted only where serde-saphyr reads them as
/// strings for certain: starting with a letter, and not a boolean or null word.
fn value(node: Node<'_>) -> R<Value> {
    Ok(match node {
        Node::Plain(text) => {
            let letter = text.as_bytes()[0].is_ascii_alphabetic();
            if !letter || is_special_word(text) {
                return Err(Decline);
            }
            Value::String(text.to_owned())
        }
        Node::Quoted(text) => Value::String(text.to_owned()),
        Node::Seq(items) => Value::Array(items.into_iter().map(value).collect::<R<_>>()?),
        Node::Map(entries) => Value::Object(object(entries)?),
    })
}

fn object(entries: Vec<(&str, Node<'_>)>) -> R<Map<String, Value>> {
    entries
        .into_iter()
        .map(|(k, v)| Ok((k.to_owned(), value(v)?)))
        .collect()
}

fn provider(node: Node<'_>) -> R<RawProvider> {
    let mut raw = RawProvider {
        name: None,
        type_name: None,
        prune: None,
        settings: None,
    };
    for (key, value) in map(node)? {
        match key {
            "name" => raw.name = spanned_string(&value)?,
            "type" => raw.type_name = spanned_string(&value)?,
            "prune" => {
                let prune = match value {
                    Node::Plain("true") => true,
                    Node::Plain("false") => false,
                    _ => return Err(Decline),
                };
                raw.prune = Some(spanned(prune));
            }
            "settings" => raw.settings = Some(spanned(object(map(value)?)?)),
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

fn identity(node: Node<'_>) -> R<RawIdentity> {
    let mut raw = RawIdentity {
        name: None,
        provider: None,
        kind: None,
        owner: None,
        description: String::new(),
        tags: nhi_provider_sdk::Tags::new(),
        attributes: None,
        expires: None,
        keys: Vec::new(),
        bindings: Vec::new(),
    };
    for (key, value) in map(node)? {
        match key {
            "name" => raw.name = spanned_string(&value)?,
            "provider" => raw.provider = spanned_string(&value)?,
            "kind" => raw.kind = spanned_string(&value)?,
            "owner" => raw.owner = spanned_string(&value)?,
            "description" => raw.description = string(&value)?,
            "tags" => {
                raw.tags = map(value)?
                    .into_iter()
                    .map(|(k, v)| Ok((k.to_owned(), string(&v)?)))
                    .collect::<R<_>>()?;
            }
            "attributes" => raw.attributes = Some(spanned(value_of(value)?)),
            "expires" => raw.expires = spanned_string(&value)?,
            "keys" => {
                raw.keys = seq(value)?
                    .into_iter()
                    .map(|k| key_of(k).map(spanned))
                    .collect::<R<_>>()?;
            }
            "bindings" => {
                raw.bindings = seq(value)?
                    .into_iter()
                    .map(|b| binding(b).map(spanned))
                    .collect::<R<_>>()?;
            }
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

fn value_of(node: Node<'_>) -> R<Value> {
    value(node)
}

fn key_of(node: Node<'_>) -> R<RawKey> {
    let mut raw = RawKey {
        name: None,
        rotate_after: None,
        expires: None,
        sink: None,
    };
    for (key, value) in map(node)? {
        match key {
            "name" => raw.name = spanned_string(&value)?,
            "rotate_after" => raw.rotate_after = spanned_string(&value)?,
            "expires" => raw.expires = spanned_string(&value)?,
            "sink" => raw.sink = Some(spanned(self::value(value)?)),
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

fn binding(node: Node<'_>) -> R<RawBinding> {
    let mut raw = RawBinding {
        role: None,
        resource: None,
        policy: None,
    };
    for (key, value) in map(node)? {
        match key {
            "role" => raw.role = spanned_string(&value)?,
            "resource" => raw.resource = spanned_string(&value)?,
            "policy" => raw.policy = Some(spanned(self::value(value)?)),
            _ => return Err(Decline),
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests;
