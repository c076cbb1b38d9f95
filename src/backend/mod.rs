//! Where shared state lives: the receipt log and, for teams past one machine,
//! the scope locks. The default is a directory the applier owns, with local
//! file locks; the trust policy's `backend: {s3: …}` puts both in an S3 bucket,
//! made safe by S3's conditional writes ([`s3`]: `If-None-Match: *` to create,
//! `If-Match` to replace) and fenced leases ([`lease`]).

mod error;
pub mod lease;
mod record;
pub mod s3;

use std::path::PathBuf;
use std::time::Duration;

pub use lease::{Lease, LockError, LockRecord};

/// Where the receipt log (and, with S3, the scope locks) are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// A directory (`receipt_log:`), locked with a local file lock.
    Dir(PathBuf),
    /// An S3 bucket and prefix (`backend: {s3: …}`).
    S3(S3Settings),
}

impl LogLocation {
    /// The directory, for a log kept in one.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match self {
            Self::Dir(dir) => Some(dir),
            Self::S3(_) => None,
        }
    }

    /// The S3 settings, for a log kept in a bucket.
    pub fn s3(&self) -> Option<&S3Settings> {
        match self {
            Self::Dir(_) => None,
            Self::S3(s3) => Some(s3),
        }
    }
}

impl std::fmt::Display for LogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::S3(s3) => write!(f, "{}", s3.url()),
        }
    }
}

/// `backend: {s3: {bucket, prefix, region, endpoint_url, lease}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Keys go under `<prefix>/`; empty: at the top of the bucket. Never starts
    /// or ends with `/`.
    pub prefix: String,
    /// `None`: the standard AWS chain's region.
    pub region: Option<String>,
    /// Another endpoint than AWS's (moto, an S3-compatible store); addressed
    /// path-style (`<endpoint>/<bucket>/<key>`).
    pub endpoint_url: Option<String>,
    /// How long a lock holds without renewal; its holder renews it every third
    /// of that while it works.
    pub lease: Duration,
}

/// The lease a lock holds when the policy does not say.
pub const DEFAULT_LEASE: Duration = Duration::from_mins(1);

impl S3Settings {
    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// Parses `s3://BUCKET[/PREFIX]` into the bucket and the prefix.
    pub fn parse_url(url: &str) -> Result<(String, String), String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{url}` does not start with `s3://`"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        Ok((bucket.to_owned(), normalise_prefix(prefix)?))
    }
}

/// S3's rules for bucket names (3 to 63 lowercase letters, digits, dots and
/// hyphens), which also keep the name safe in a URL.
pub fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an S3 bucket name (3 to 63 lowercase letters, digits, `.` and `-`)",
            bucket.escape_debug()
        ))
    }
}

/// A prefix without its outer slashes; only letters, digits and `-_./` in
/// segments that are neither empty nor `.` or `..`.
pub fn normalise_prefix(prefix: &str) -> Result<String, String> {
    let prefix = prefix.trim_matches('/');
    let bad = prefix.len() > 512
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        || (!prefix.is_empty()
            && prefix
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."));
    if bad {
        return Err(format!(
            "`{}` is not a key prefix nhi uses (letters, digits, `-`, `_`, `.` and `/` between segments)",
            prefix.escape_debug()
        ));
    }
    Ok(prefix.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        type Split<'a> = Result<(&'a str, &'a str), &'a str>;
        let cases: &[(&str, Split<'_>)] = &[
            ("s3://nhi-state", Ok(("nhi-state", ""))),
            ("s3://nhi-state/", Ok(("nhi-state", ""))),
            ("s3://nhi-state/team/a/", Ok(("nhi-state", "team/a"))),
            ("s3://Nhi", Err("is not an S3 bucket name")),
            ("s3://nhi-state/a//b", Err("is not a key prefix")),
            ("s3://nhi-state/a/../b", Err("is not a key prefix")),
            ("nhi-state/a", Err("does not start with `s3://`")),
        ];
        for (url, want) in cases {
            let got = S3Settings::parse_url(url);
            match (want, got) {
                (Ok((b, p)), Ok((gb, gp))) => assert_eq!((*b, *p), (gb.as_str(), gp.as_str())),
                (Err(part), Err(e)) => assert!(e.contains(part), "{url}: {e}"),
                (want, got) => panic!("{url}: want {want:?}, got {got:?}"),
            }
        }
    }
}
