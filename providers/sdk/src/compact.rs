//! Compact forms of two model fields that every identity carries: its tags and
//! its bindings' inline policies. Planning holds hundreds of thousands of them on
//! each side; a B-tree map allocates a leaf of over 500 bytes for a single entry,
//! these hold only what they contain. Both serialise exactly as the maps they
//! replace, so plan files, fingerprints and digests keep their bytes.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tags (AWS) or labels (GCP): string keys to string values, sorted by key,
/// keys unique. Behaves as a `BTreeMap<String, String>`: inserting an existing
/// key replaces its value, and building from pairs keeps the last value of a key.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &String)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// From pairs in any order: sorted by key, the last value of a repeated key kept.
    fn from_pairs(mut pairs: Vec<(String, String)>) -> Self {
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: among equal keys the later pair stays later, and is kept.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(String, String)> = Vec::with_capacity(pairs.len());
            for pair in pairs {
                match kept.last_mut() {
                    Some(last) if last.0 == pair.0 => *last = pair,
                    _ => kept.push(pair),
                }
            }
            pairs = kept;
        }
        pairs.shrink_to_fit();
        Self(pairs)
    }
}

impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self::from_pairs(iter.into_iter().collect())
    }
}

impl<const N: usize> From<[(String, String); N]> for Tags {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, String>> for Tags {
    fn from(map: std::collections::BTreeMap<String, String>) -> Self {
        Self(map.into_iter().collect())
    }
}

impl IntoIterator for Tags {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Tags;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Tags, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = access.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Tags::from_pairs(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor)
    }
}

impl JsonSchema for Tags {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, String> as JsonSchema>::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, String> as JsonSchema>::schema_id()
    }

    fn inline_schema() -> bool {
        <std::collections::BTreeMap<String, String> as JsonSchema>::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <std::collections::BTreeMap<String, String> as JsonSchema>::json_schema(generator)
    }
}

/// An inline policy document, held as its canonical JSON text: the bytes
/// `serde_json` writes for the document as a `serde_json::Value` (object keys
/// sorted, no whitespace). Documents equal as JSON have equal text, so policies
/// compare as text; they serialise as the document itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Policy(Box<str>);

impl Policy {
    pub fn new(document: &serde_json::Value) -> Self {
        // Writing a `Value` to a string cannot fail: its keys are strings.
        Self(
            serde_json::to_string(document)
                .expect("invariant: JSON values serialise")
                .into_boxed_str(),
        )
    }

    /// `text` as a policy without parsing it into a document, when it is already
    /// the canonical text [`Policy::new`] would write, of a plain kind: no
    /// whitespace, object keys without escapes in strictly increasing order,
    /// strings without escapes, integers of at most 18 digits, nesting at most 100
    /// deep. Any other text, valid JSON or not, is handed back unchanged: parse it
    /// and use [`Policy::new`].
    pub fn from_canonical(text: Box<str>) -> Result<Self, Box<str>> {
        if plain::value(text.as_bytes(), 0, 0) == Some(text.len()) {
            Ok(Self(text))
        } else {
            Err(text)
        }
    }

    /// The document as canonical JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The document as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).expect("invariant: a policy holds the JSON it was made from")
    }
}

impl From<serde_json::Value> for Policy {
    fn from(document: serde_json::Value) -> Self {
        Self::new(&document)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Policy({})", self.0)
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // As the document itself, so that every format (pretty JSON in plan files
        // included) writes what it wrote for the `Value`; walked in place rather
        // than parsed, which also keeps every float exactly as it was.
        Canonical(&self.0).serialize(serializer)
    }
}

/// A strict reader for [`Policy::from_canonical`]: each function takes the text
/// and where a value starts, and gives where it ends when it is plain canonical
/// JSON (so that `serde_json` would write it back byte for byte), `None` when not.
mod plain {
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
}

/// One value of the canonical JSON text in a [`Policy`] (as `serde_json` writes
/// a `Value`: no whitespace, escapes only for `"`, `\\` and control
/// characters), serialised as `serde_json` serialises that `Value`.
struct Canonical<'a>(&'a str);

impl Canonical<'_> {
    /// The first value of `text` and what follows it.
    fn split(text: &str) -> (&str, &str) {
        let bytes = text.as_bytes();
        let mut end = bytes.len();
        match bytes.first() {
            Some(b'"') => {
                let mut i = 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            end = i + 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            Some(b'{' | b'[') => {
                let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
                for (i, &b) in bytes.iter().enumerate() {
                    if in_string {
                        match (escaped, b) {
                            (true, _) => escaped = false,
                            (false, b'\\') => escaped = true,
                            (false, b'"') => in_string = false,
                            _ => {}
                        }
                        continue;
                    }
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                end = bytes
                    .iter()
                    .position(|&b| matches!(b, b',' | b'}' | b']'))
                    .unwrap_or(bytes.len());
            }
        }
        text.split_at(end)
    }

    /// The members of an object's or array's inner text: `(key, value)` pairs,
    /// keys (still quoted) empty for arrays.
    fn members(inner: &str, object: bool) -> impl Iterator<Item = (&str, Canonical<'_>)> {
        let mut rest = inner;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let mut key = "";
            if object {
                let (quoted, after) = Self::split(rest);
                key = quoted;
                rest = after.get(1..).unwrap_or("");
            }
            let (value, after) = Self::split(rest);
            rest = after.strip_prefix(',').unwrap_or(after);
            Some((key, Canonical(value)))
        })
    }

    /// The string a quoted JSON string stands for.
    fn unquote(quoted: &str) -> Option<std::borrow::Cow<'_, str>> {
        let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(inner.into());
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            out.push(match chars.next()? {
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                other => other,
            });
        }
        Some(out.into())
    }
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};

        let text = self.0;
        let bad = || S::Error::custom("invariant: a policy holds canonical JSON");
        let inner = || text.get(1..text.len().saturating_sub(1)).ok_or_else(bad);
        match text.as_bytes().first().ok_or_else(bad)? {
            b'{' => {
                let inner = inner()?;
                let len = Self::members(inner, true).count();
                let mut map = serializer.serialize_map(Some(len))?;
                for (key, value) in Self::members(inner, true) {
                    map.serialize_entry(&Self::unquote(key).ok_or_else(bad)?, &value)?;
                }
                map.end()
            }
            b'[' => {
                let inner = inner()?;
                let len = Self::members(inner, false).count();
                let mut seq = serializer.serialize_seq(Some(len))?;
                for (_, value) in Self::members(inner, false) {
                    seq.serialize_element(&value)?;
                }
                seq.end()
            }
            b'"' => serializer.serialize_str(&Self::unquote(text).ok_or_else(bad)?),
            b't' => serializer.serialize_bool(true),
            b'f' => serializer.serialize_bool(false),
            b'n' => serializer.serialize_unit(),
            // `serde_json` writes floats with a point or an exponent, and reads
            // other numbers as `u64`, or `i64` when negative.
            _ if text.contains(['.', 'e', 'E']) => {
                serializer.serialize_f64(text.parse().map_err(|_| bad())?)
            }
            b'-' => serializer.serialize_i64(text.parse().map_err(|_| bad())?),
            _ => serializer.serialize_u64(text.parse().map_err(|_| bad())?),
        }
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(|document| Self::new(&document))
    }
}

impl JsonSchema for Policy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <serde_json::Value as JsonSchema>::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        <serde_json::Value as JsonSchema>::schema_id()
    }

    fn inline_schema() -> bool {
        <serde_json::Value as JsonSchema>::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <serde_json::Value as JsonSchema>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn map_ops() -> impl Strategy<Value = Vec<(bool, String, String)>> {
        prop::collection::vec(("[a-d]", "[a-c]{0,2}", any::<bool>()), 0..12).prop_map(|ops| {
            ops.into_iter()
                .map(|(k, v, insert)| (insert, k, v))
                .collect()
        })
    }

    proptest! {
        /// Tags behave as a `BTreeMap<String, String>` and serialise to its bytes.
        #[test]
        fn tags_are_a_sorted_map(ops in map_ops(), pairs in prop::collection::vec(("[a-d]", "[a-c]{0,2}"), 0..8)) {
            let mut tags: Tags = pairs.iter().cloned().collect();
            let mut map: BTreeMap<String, String> = pairs.into_iter().collect();
            for (insert, k, v) in ops {
                if insert {
                    prop_assert_eq!(tags.insert(k.clone(), v.clone()), map.insert(k.clone(), v));
                } else {
                    prop_assert_eq!(tags.remove(&k), map.remove(&k));
                }
                prop_assert_eq!(tags.get(&k), map.get(&k));
                prop_assert_eq!(tags.contains_key(&k), map.contains_key(&k));
            }
            prop_assert!(tags.iter().eq(map.iter()));
            prop_assert_eq!(tags.len(), map.len());
            let bytes = serde_json::to_string(&tags).unwrap();
            prop_assert_eq!(&bytes, &serde_json::to_string(&map).unwrap());
            prop_assert_eq!(serde_json::to_string_pretty(&tags).unwrap(), serde_json::to_string_pretty(&map).unwrap());
            prop_assert_eq!(serde_json::from_str::<Tags>(&bytes).unwrap(), tags.clone());
            prop_assert_eq!(Tags::from(map), tags);
        }
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            prop_oneof![Just(0.0), Just(-0.0), Just(1e300), Just(-2.5)].prop_map(Value::from),
            "[a-c\"\\\n\u{e9}/:,{}\\[\\] -]{0,5}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                prop::collection::btree_map("[a-c\"{},:\\[\\]]{0,3}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A policy serialises to exactly the bytes of its document, compact or
        /// pretty, floats and escapes included.
        #[test]
        fn policies_serialise_as_their_documents(document in json()) {
            let policy = Policy::new(&document);
            prop_assert_eq!(serde_json::to_string(&policy).unwrap(), serde_json::to_string(&document).unwrap());
            prop_assert_eq!(serde_json::to_string_pretty(&policy).unwrap(), serde_json::to_string_pretty(&document).unwrap());
            // Reading JSON text back is `serde_json`'s, whose floats may move by
            // one unit in the last place; everything else comes back as it was.
            if !policy.as_str().contains(['.', 'e', 'E']) {
                prop_assert_eq!(policy.to_value(), document.clone());
                let read: Policy = serde_json::from_str(&serde_json::to_string_pretty(&document).unwrap()).unwrap();
                prop_assert_eq!(read, policy);
            }
        }
    }

    /// Whether the document has no floats, no integers of over 18 digits and no
    /// string or key that needs an escape.
    fn plain_document(document: &serde_json::Value) -> bool {
        use serde_json::Value;
        let plain_str = |s: &str| !s.contains(|c: char| c == '"' || c == '\\' || c < ' ');
        match document {
            Value::Number(n) => !n.is_f64() && n.to_string().trim_start_matches('-').len() <= 18,
            Value::String(s) => plain_str(s),
            Value::Array(items) => items.iter().all(plain_document),
            Value::Object(map) => map.iter().all(|(k, v)| plain_str(k) && plain_document(v)),
            Value::Null | Value::Bool(_) => true,
        }
    }

    /// A canonical text with one byte inserted, removed or swapped with the next.
    fn edited_text() -> impl Strategy<Value = String> {
        (
            json(),
            any::<prop::sample::Index>(),
            0..3u8,
            prop::sample::select(b" ,:\"\\{}[]0-9.eEa-".to_vec()),
        )
            .prop_map(|(document, at, edit, byte)| {
                let mut bytes = serde_json::to_string(&document).unwrap().into_bytes();
                let i = at.index(bytes.len() + 1);
                match edit {
                    0 => bytes.insert(i, byte),
                    1 if i < bytes.len() => drop(bytes.remove(i)),
                    _ if i + 1 < bytes.len() => bytes.swap(i, i + 1),
                    _ => {}
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
    }

    proptest! {
        /// Text taken as it is holds exactly what `Policy::new` would write for the
        /// document it encodes; canonical text without floats or escapes is taken.
        #[test]
        fn canonical_text_is_taken_as_it_is(text in edited_text(), document in json()) {
            if let Ok(policy) = Policy::from_canonical(text.clone().into()) {
                let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(policy, Policy::new(&parsed));
            }
            let canonical = serde_json::to_string(&document).unwrap();
            let plain = plain_document(&document);
            let taken = Policy::from_canonical(canonical.clone().into());
            prop_assert_eq!(taken.is_ok(), plain, "{}", canonical);
            if let Ok(policy) = taken {
                prop_assert_eq!(policy, Policy::new(&document));
            }
        }
    }

    #[test]
    fn only_plain_canonical_text_is_taken_as_it_is() {
        let taken = |text: &str| Policy::from_canonical(text.into()).is_ok();
        for text in [
            r#"{"Statement":[{"Action":["s3:GetObject"],"Effect":"Allow"}],"Version":"2012-10-17"}"#,
            "{}",
            "[]",
            r#"[0,-1,123456789012345678,true,false,null,"",{"":[]}]"#,
            "\"caf\u{e9}/\u{7f}\"",
        ] {
            assert!(taken(text), "{text}");
        }
        for text in [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,}"#,
            "[1,]",
            r#"{"a" :1}"#,
            " {}",
            "{} ",
            "{}{}",
            "",
            "-0",
            "01",
            "1.5",
            "1e3",
            "-",
            "1234567890123456789",
            r#""a\nb""#,
            r#""\u0041""#,
            r#""a"#,
            "nul",
            "True",
            r#"{"a":1"#,
        ] {
            assert!(!taken(text), "{text}");
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(taken(&deep(100)));
        assert!(!taken(&deep(101)));
        assert_eq!(
            Policy::from_canonical(r#"{"b":1,"a":2}"#.into())
                .unwrap_err()
                .as_ref(),
            r#"{"b":1,"a":2}"#
        );
    }

    #[test]
    fn tags_read_from_json_keep_the_last_value_of_a_key() {
        let tags: Tags = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(format!("{tags:?}"), r#"{"a": "2", "b": "3"}"#);
        assert!(serde_json::from_str::<Tags>(r#"{"a":1}"#).is_err());
        assert!(serde_json::from_str::<Tags>(r#"["a"]"#).is_err());
    }

    #[test]
    fn policies_compare_as_json_and_serialise_as_the_document() {
        let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "n": 1.5, "m": -2}]});
        let policy = Policy::new(&document);
        assert_eq!(
            policy.as_str(),
            r#"{"Statement":[{"Action":["s3:GetObject"],"Effect":"Allow","m":-2,"n":1.5}],"Version":"2012-10-17"}"#
        );
        assert_eq!(policy.to_value(), document);
        assert_eq!(policy, Policy::new(&document));
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            serde_json::to_string(&document).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&policy).unwrap(),
            serde_json::to_string_pretty(&document).unwrap()
        );
        let reordered: Policy = serde_json::from_str(
            r#"{ "Statement": [ {"n": 1.5, "m": -2, "Effect": "Allow", "Action": ["s3:GetObject"]} ], "Version": "2012-10-17" }"#,
        )
        .unwrap();
        assert_eq!(reordered, policy);
        assert_ne!(
            Policy::new(&json!({"a": 1})),
            Policy::new(&json!({"a": 1.0}))
        );
        assert_ne!(
            Policy::new(&json!({"a": "1"})),
            Policy::new(&json!({"a": 1}))
        );
    }
}
