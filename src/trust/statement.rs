//! Statements: the exact text a signature covers. A statement binds the role of
//! the signature, the signer's principal, the time, and the digest of the body it
//! speaks for, so an approval cannot be replayed onto another plan and an author
//! signature cannot pass as an approval.
//!
//! ```text
//! nhi-signature-v1
//! role: approver
//! principal: bob@example.com
//! digest: sha256:…
//! signed-at: 2026-11-22T12:00:00Z
//! comment: looks right
//! ```

use std::fmt;

use nhi_provider_sdk::Digest;

const MAGIC: &str = "nhi-signature-v1";

/// Which part a signature plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Planned the changes (plans).
    Author,
    /// Reviewed and approved the changes (plans).
    Approver,
    /// Ran apply (receipts).
    Applier,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Author => "author",
            Self::Approver => "approver",
            Self::Applier => "applier",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "author" => Some(Self::Author),
            "approver" => Some(Self::Approver),
            "applier" => Some(Self::Applier),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub role: Role,
    pub principal: String,
    pub digest: Digest,
    pub signed_at: jiff::Timestamp,
    pub comment: Option<String>,
}

/// A principal as `allowed_signers` can name it: printable ASCII without spaces,
/// commas, quotes or wildcards.
pub fn valid_principal(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && p.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'*' | b'?' | b'!'))
}

impl Statement {
    /// The exact bytes that are signed.
    pub fn encode(&self) -> String {
        let mut out = format!(
            "{MAGIC}\nrole: {}\nprincipal: {}\ndigest: {}\nsigned-at: {}\n",
            self.role, self.principal, self.digest, self.signed_at
        );
        if let Some(comment) = &self.comment {
            out.push_str("comment: ");
            out.push_str(comment);
            out.push('\n');
        }
        out
    }

    /// Parses a statement strictly: exact layout, known fields in order, and
    /// re-encoding must give back the same bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or("it does not end with a newline")?
            .split('\n');
        if lines.next() != Some(MAGIC) {
            return Err(format!("it does not start with `{MAGIC}`"));
        }
        let mut field = |name: &str| -> Result<&str, String> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(": "))
                .ok_or_else(|| format!("its `{name}` line is missing"))
        };
        let role = field("role")?;
        let role = Role::parse(role).ok_or_else(|| format!("unknown role `{}`", clip(role)))?;
        let principal = field("principal")?.to_owned();
        if !valid_principal(&principal) {
            return Err(format!("principal `{}` is not valid", clip(&principal)));
        }
        let digest = field("digest")?
            .parse::<Digest>()
            .map_err(|e| e.to_string())?;
        let signed_at = field("signed-at")?
            .parse::<jiff::Timestamp>()
            .map_err(|e| format!("bad `signed-at`: {e}"))?;
        let comment = match lines.next() {
            None => None,
            Some(line) => Some(
                line.strip_prefix("comment: ")
                    .ok_or("unexpected line after `signed-at`")?
                    .to_owned(),
            ),
        };
        if lines.next().is_some() {
            return Err("unexpected lines at the end".into());
        }
        let statement = Self {
            role,
            principal,
            digest,
            signed_at,
            comment,
        };
        if statement.encode() != text {
            return Err("it is not in canonical form".into());
        }
        Ok(statement)
    }
}

/// Makes a comment safe for one statement line.
pub fn clean_comment(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if nhi_provider_sdk::text::is_unsafe_char(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    cleaned.trim().chars().take(500).collect()
}

fn clip(text: &str) -> String {
    text.chars()
        .take(60)
        .filter(|c| !nhi_provider_sdk::text::is_unsafe_char(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Statement {
        Statement {
            role: Role::Approver,
            principal: "bob@example.com".into(),
            digest: Digest::of(b"body"),
            signed_at: "2026-11-22T12:00:00Z".parse().unwrap(),
            comment: Some("looks right".into()),
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(Statement::parse(&s.encode()).unwrap(), s);
        let no_comment = Statement { comment: None, ..s };
        assert_eq!(Statement::parse(&no_comment.encode()).unwrap(), no_comment);
    }

    #[test]
    fn rejects_anything_not_canonical() {
        let good = sample().encode();
        let cases = [
            good.replace("role: approver", "role: Approver"),
            good.replace("role: approver", "role: owner"),
            good.replace("nhi-signature-v1", "nhi-signature-v2"),
            good.trim_end().to_owned(),
            format!("{good}extra: 1\n"),
            good.replace("principal: bob@example.com", "principal: bob example"),
            good.replace("principal: bob@example.com", "principal: *"),
            good.replace(
                "signed-at: 2026-11-22T12:00:00Z",
                "signed-at: 2026-11-22T12:00:00+00:00",
            ),
            good.replace("digest: sha256:", "digest: sha1:"),
            good.replace('\n', "\r\n"),
        ];
        for bad in cases {
            assert!(Statement::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(clean_comment("ok\nrole: author\n"), "ok role: author");
    }
}
