//! A request as the reader finds it: from nhi, a line of one shape whose params
//! are parsed once, by whoever answers; any other line parsed whole first.

use super::answer::Text;

/// A request as read, its params not yet parsed.
pub(super) struct Incoming {
    pub id: u64,
    pub method: String,
    pub body: Body,
}

pub(super) enum Body {
    /// A line in nhi's shape, `{"jsonrpc":"2.0","id":N,"method":"m","params":P}`,
    /// and where `P` starts: its params are parsed once, by whoever answers.
    InLine(Vec<u8>, usize),
    /// Read out of a line parsed whole.
    Parsed(Option<Box<serde_json::value::RawValue>>),
}

/// A request parsed whole: any line that is not in nhi's shape.
#[derive(serde::Deserialize)]
pub(super) struct Whole<'a> {
    #[allow(dead_code)]
    jsonrpc: std::borrow::Cow<'a, str>,
    pub id: u64,
    #[serde(borrow)]
    pub method: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    pub params: Option<&'a serde_json::value::RawValue>,
}

impl<'a> Whole<'a> {
    pub fn params(&self) -> &'a serde_json::value::RawValue {
        self.params.unwrap_or(serde_json::value::RawValue::NULL)
    }
}

impl Incoming {
    /// The request in `line` when the line is in nhi's shape, its method plain
    /// and neither `initialize` nor `shutdown` (those are parsed whole, and
    /// answered or obeyed by the reader); else the line back.
    pub fn in_line(line: Vec<u8>) -> Result<Self, Vec<u8>> {
        let shape = || -> Option<(u64, String, usize)> {
            let rest = line.strip_prefix(br#"{"jsonrpc":"2.0","id":"#)?;
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 1 && rest[0] == b'0' {
                return None;
            }
            let id = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
            let rest = rest[digits..].strip_prefix(br#","method":""#)?;
            let len = rest
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
                .count();
            let method = std::str::from_utf8(&rest[..len]).ok()?;
            let after = rest[len..].strip_prefix(br#"","params":"#)?;
            let start = line.len() - after.len();
            (line.ends_with(b"}")
                && start < line.len() - 1
                && !matches!(method, "" | "initialize" | "shutdown"))
            .then(|| (id, method.to_owned(), start))
        };
        match shape() {
            Some((id, method, start)) => Ok(Self {
                id,
                method,
                body: Body::InLine(line, start),
            }),
            None => Err(line),
        }
    }

    pub fn params(&self) -> Text<'_> {
        match &self.body {
            Body::InLine(line, start) => Text::InLine {
                line,
                params: &line[*start..line.len() - 1],
            },
            Body::Parsed(raw) => {
                Text::Parsed(raw.as_deref().unwrap_or(serde_json::value::RawValue::NULL))
            }
        }
    }
}
