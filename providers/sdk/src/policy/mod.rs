//! A binding's inline policy document, held as its canonical JSON text rather
//! than as a parsed document: planning holds hundreds of thousands of them on
//! each side. A policy serialises exactly as the document it holds, so plan
//! files, fingerprints and digests keep their bytes.

mod plain;

use std::fmt;

use schemars::JsonSchema;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

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
