//! YAML written for people to keep: scalars plain where a reader cannot take
//! them for anything else, double-quoted (with escapes) otherwise, so that any
//! string a provider reports reads back as exactly that string; JSON values as
//! block mappings and sequences; comments that stay one line.

use std::fmt::Write as _;

use serde_json::Value;

/// Words a YAML 1.1 or 1.2 reader may take for a boolean or null.
const SPECIAL_WORDS: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
];

/// `text` as a YAML scalar that reads back as the string `text`.
pub(crate) fn scalar(text: &str) -> String {
    if plain(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xffff {
                    let _ = write!(out, "\\u{code:04X}");
                } else {
                    let _ = write!(out, "\\U{code:08X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Letters, digits and a few marks, starting with a letter, and no word a
/// reader takes for something else: a name, an email, an ARN-free id.
fn plain(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-./@".contains(c))
        && !SPECIAL_WORDS.contains(&text.to_ascii_lowercase().as_str())
}

/// What a YAML stream may not hold as it is (YAML 1.2, "c-printable"), and what
/// a terminal would act on (see `is_unsafe_char`).
fn needs_escape(c: char) -> bool {
    let code = u32::from(c);
    code < 0x20
        || (0x7f..=0x9f).contains(&code)
        || code == 0xfeff
        || (0xd800..=0xdfff).contains(&code)
        || code == 0xfffe
        || code == 0xffff
        || nhi_provider_sdk::text::is_unsafe_char(c)
}

/// A comment's text on one line: what would end it or hide in it escaped.
pub(crate) fn comment(text: &str) -> String {
    crate::render::escape::text(text).into_owned()
}

/// Writes `value` under a key already written (`key:` without a newline), at
/// `indent` spaces for what nests beneath it.
pub(crate) fn value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str(" null\n"),
        Value::Bool(b) => {
            let _ = writeln!(out, " {b}");
        }
        Value::Number(n) => {
            let _ = writeln!(out, " {n}");
        }
        Value::String(s) => {
            let _ = writeln!(out, " {}", scalar(s));
        }
        Value::Array(items) if items.is_empty() => out.push_str(" []\n"),
        Value::Object(map) if map.is_empty() => out.push_str(" {}\n"),
        Value::Array(items) => {
            out.push('\n');
            for item in items {
                let _ = write!(out, "{:indent$}-", "");
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first entry on the dash's line, the rest beneath it.
                        let mut first = true;
                        for (k, v) in map {
                            if first {
                                let _ = write!(out, " {}:", scalar(k));
                                first = false;
                            } else {
                                let _ = write!(out, "{:w$}{}:", "", scalar(k), w = indent + 2);
                            }
                            self::value(out, v, indent + 4);
                        }
                    }
                    _ => self::value(out, item, indent + 2),
                }
            }
        }
        Value::Object(map) => {
            out.push('\n');
            mapping(out, map.iter(), indent);
        }
    }
}

/// Writes the entries of a mapping, one a line, at `indent` spaces.
pub(crate) fn mapping<'v>(
    out: &mut String,
    entries: impl Iterator<Item = (&'v String, &'v Value)>,
    indent: usize,
) {
    for (k, v) in entries {
        let _ = write!(out, "{:indent$}{}:", "", scalar(k));
        value(out, v, indent + 2);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_back(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    #[test]
    fn hostile_strings_read_back_exactly() {
        let cases = [
            "",
            " ",
            "plain",
            "a b",
            "a: b",
            "a:b",
            "# x",
            "a #b",
            "- x",
            "-",
            "?",
            "? x",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "Null",
            "~",
            "0123",
            "123",
            "1e3",
            "0x1F",
            "0o17",
            ".inf",
            "-.inf",
            ".nan",
            "1_000",
            "2027-01-31",
            "12:30:00",
            "a\nb",
            "a\r\nb",
            "trailing ",
            " leading",
            "tab\there",
            "quote\"d",
            "'single'",
            "back\\slash",
            "{a: 1}",
            "[x]",
            "&anchor",
            "*alias",
            "!tag",
            "%directive",
            "@at",
            "`tick`",
            "|",
            ">",
            "caf\u{e9}",
            "\u{1F600}",
            "\u{202e}rtl",
            "\u{7f}",
            "\u{85}",
            "\u{2028}",
            "\u{feff}bom",
            "\u{0}",
            "\u{1b}[31m",
            "a,b",
            "a]b",
            "...",
            "---",
        ];
        for text in cases {
            let yaml = format!("v: {}\n", scalar(text));
            assert_eq!(read_back(&yaml), json!({"v": text}), "{text:?} as {yaml:?}");
        }
    }

    #[test]
    fn json_values_read_back_exactly() {
        let doc = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                 "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
                {"Sid": "yes", "Effect": "Deny", "Action": [], "NotAction": {}, "N": 3,
                 "F": 1.5, "T": true, "Z": null, "Nested": [[1, 2], [{"a": "b"}]]}
            ],
            "odd key: #": "- value"
        });
        let mut out = String::from("doc:");
        value(&mut out, &doc, 2);
        assert_eq!(read_back(&out), json!({ "doc": doc }), "{out}");
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment("a\nb"), "a\\u{a}b");
        assert!(!comment("x\u{2028}y").contains('\u{2028}'));
    }
}
