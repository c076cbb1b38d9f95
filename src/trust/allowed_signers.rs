//! OpenSSH `allowed_signers` files: which principal owns which public key, as
//! `ssh-keygen -Y verify` reads them (see `ssh-keygen(1)`, "ALLOWED SIGNERS").
//!
//! nhi reads the same file and fails closed: principals match exactly (wildcard
//! patterns never match), `cert-authority` lines are not trusted, `namespaces=`
//! must list the namespace, and `valid-after=`/`valid-before=` bound the time.

use std::path::Path;

use ssh_key::PublicKey;

use super::TrustError;

#[derive(Debug, Clone)]
pub struct Entry {
    pub principals: Vec<String>,
    pub key: PublicKey,
    namespaces: Option<Vec<String>>,
    valid_after: Option<jiff::Timestamp>,
    valid_before: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

impl AllowedSigners {
    pub fn read(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrustError::AllowedSignersRead {
            path: path.to_owned(),
            detail: crate::config::lowercase_first(&e.to_string()),
        })?;
        Self::parse(&text).map_err(|(line, detail)| TrustError::AllowedSigners {
            path: path.to_owned(),
            line,
            detail,
        })
    }

    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(entry) = parse_line(line).map_err(|e| (index + 1, e))? {
                entries.push(entry);
            }
        }
        Ok(Self { entries })
    }

    /// Whether `principal` may sign in `namespace` at `time` with `key`.
    pub fn allows(
        &self,
        principal: &str,
        key: &PublicKey,
        namespace: &str,
        time: jiff::Timestamp,
    ) -> bool {
        self.entries.iter().any(|e| {
            e.principals.iter().any(|p| p == principal)
                && e.key.key_data() == key.key_data()
                && e.namespaces
                    .as_ref()
                    .is_none_or(|ns| ns.iter().any(|n| n == namespace))
                && e.valid_after.is_none_or(|t| time >= t)
                && e.valid_before.is_none_or(|t| time < t)
        })
    }

    /// Principals that own `key` (for messages).
    pub fn principals_of(&self, key: &PublicKey) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.key.key_data() == key.key_data())
            .flat_map(|e| e.principals.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Splits off the first whitespace-separated field, honouring double quotes
/// (which are kept).
fn next_field(rest: &str) -> (String, &str) {
    let rest = rest.trim_start();
    let mut quoted = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (rest[..i].to_owned(), &rest[i..]),
            _ => {}
        }
    }
    (rest.to_owned(), "")
}

/// Splits on commas outside double quotes.
fn split_options(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.last_mut().expect("invariant: never empty").push(c);
            }
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("invariant: never empty").push(c),
        }
    }
    out
}

fn parse_line(line: &str) -> Result<Option<Entry>, String> {
    let (principals, rest) = next_field(line);
    let principals: Vec<String> = principals
        .replace('"', "")
        .split(',')
        .map(str::to_owned)
        .collect();
    let (second, after_second) = next_field(rest);
    // Options come between the principals and the key type, when present.
    let (options, key_text) = if second.starts_with("ssh-")
        || second.starts_with("ecdsa-")
        || second.starts_with("sk-")
    {
        (String::new(), rest.trim())
    } else {
        (second, after_second.trim())
    };
    let key = PublicKey::from_openssh(key_text)
        .map_err(|e| format!("cannot read the public key: {e}"))?;
    let mut entry = Entry {
        principals,
        key,
        namespaces: None,
        valid_after: None,
        valid_before: None,
    };
    for option in split_options(&options).iter().filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        let value = value.trim_matches('"');
        match name.to_ascii_lowercase().as_str() {
            "cert-authority" => return Ok(None),
            "namespaces" => entry.namespaces = Some(value.split(',').map(str::to_owned).collect()),
            "valid-after" => entry.valid_after = Some(parse_time(value)?),
            "valid-before" => entry.valid_before = Some(parse_time(value)?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    // Patterns like `*@example.com` never match in nhi: drop such principals.
    entry
        .principals
        .retain(|p| super::statement::valid_principal(p));
    Ok(Some(entry))
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`; without `Z` OpenSSH reads local time,
/// nhi reads UTC (documented).
fn parse_time(text: &str) -> Result<jiff::Timestamp, String> {
    let digits = text.trim_end_matches(['Z', 'z']);
    let bad = || format!("bad time `{text}`");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| digits.get(range).and_then(|s| s.parse::<i16>().ok());
    let (year, month, day) = (
        num(0..4).ok_or_else(bad)?,
        num(4..6).ok_or_else(bad)?,
        num(6..8).ok_or_else(bad)?,
    );
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10).ok_or_else(bad)?, num(10..12).ok_or_else(bad)?, 0),
        14 => (
            num(8..10).ok_or_else(bad)?,
            num(10..12).ok_or_else(bad)?,
            num(12..14).ok_or_else(bad)?,
        ),
        _ => return Err(bad()),
    };
    let civil = jiff::civil::DateTime::new(
        year,
        i8::try_from(month).map_err(|_| bad())?,
        i8::try_from(day).map_err(|_| bad())?,
        i8::try_from(hour).map_err(|_| bad())?,
        i8::try_from(minute).map_err(|_| bad())?,
        i8::try_from(second).map_err(|_| bad())?,
        0,
    )
    .map_err(|_| bad())?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHIBsBwTnL9Yt76DNUwWzAYwV3WRdYsp/dq6wyg9+3PS";

    #[test]
    fn reads_options_and_fails_closed() {
        let key = PublicKey::from_openssh(KEY).unwrap();
        let t: jiff::Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let cases: &[(&str, &str, bool)] = &[
            ("alice@x {KEY}", "alice@x", true),
            ("alice@x,bob@x {KEY} comment here", "bob@x", true),
            ("\"alice@x\" {KEY}", "alice@x", true),
            ("*@x {KEY}", "alice@x", false),
            ("alice@x cert-authority {KEY}", "alice@x", false),
            ("alice@x namespaces=\"git,nhi-plan\" {KEY}", "alice@x", true),
            ("alice@x namespaces=\"git\" {KEY}", "alice@x", false),
            ("alice@x valid-after=20270101 {KEY}", "alice@x", false),
            (
                "alice@x valid-before=20261122120000Z {KEY}",
                "alice@x",
                false,
            ),
            (
                "alice@x valid-after=202611221159Z,valid-before=20261123 {KEY}",
                "alice@x",
                true,
            ),
            ("carol@x {KEY}", "alice@x", false),
        ];
        for (line, principal, want) in cases {
            let text = line.replace("{KEY}", KEY);
            let signers = AllowedSigners::parse(&text).unwrap();
            assert_eq!(
                signers.allows(principal, &key, "nhi-plan", t),
                *want,
                "{line}"
            );
        }
        assert!(
            AllowedSigners::parse(&"alice@x bogus-option {KEY}".replace("{KEY}", KEY)).is_err()
        );
        assert!(AllowedSigners::parse("alice@x ssh-ed25519 notbase64").is_err());
    }

    #[test]
    fn a_missing_file_names_no_line() {
        let err = AllowedSigners::read(Path::new("no/such/allowed_signers")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read allowed signers file `no/such/allowed_signers`: no such file or directory (os error 2)"
        );
    }
}
