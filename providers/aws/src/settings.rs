//! The `settings` of an `aws` provider block: what the block manages (an IAM path
//! prefix and optionally a managed tag) and how to reach AWS.

use nhi_provider_sdk::settings::{self, number, string};
use serde_json::Value;

/// Every setting the aws provider takes, for messages.
const KNOWN: &[&str] = &[
    "path_prefix",
    "managed_tag",
    "region",
    "profile",
    "endpoint_url",
    "concurrency",
    "max_attempts",
];

const DEFAULT_CONCURRENCY: usize = 8;
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Validated settings of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// IAM path every object in scope lives under, e.g. `/nhi/`; also the path of
    /// objects nhi creates.
    pub(crate) path_prefix: String,
    /// When set, only objects tagged `<managed_tag>=true` are in scope; nhi tags
    /// what it creates.
    pub(crate) managed_tag: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    /// How many per-user calls a read runs at once.
    pub(crate) concurrency: usize,
    /// Attempts per API call, including the first (SDK standard retry mode).
    pub(crate) max_attempts: u32,
}

impl Settings {
    pub(crate) fn parse(value: &Value) -> Result<Self, String> {
        let fields = settings::fields(value, "aws", KNOWN, "at least `path_prefix`, e.g. `/nhi/`")?;
        let path_prefix = match string(fields.get("path_prefix"), "path_prefix")? {
            None => {
                return Err(
                    "missing setting `path_prefix`: the IAM path this block manages, e.g. `/nhi/`"
                        .to_owned(),
                );
            }
            Some(path) => check_path_prefix(path)?,
        };
        let managed_tag = string(fields.get("managed_tag"), "managed_tag")?
            .map(check_managed_tag)
            .transpose()?;
        let endpoint_url = settings::url(fields.get("endpoint_url"), "endpoint_url")?;
        Ok(Self {
            path_prefix,
            managed_tag,
            region: string(fields.get("region"), "region")?.map(str::to_owned),
            profile: string(fields.get("profile"), "profile")?.map(str::to_owned),
            endpoint_url,
            concurrency: number(fields.get("concurrency"), "concurrency", 64)?
                .map_or(DEFAULT_CONCURRENCY, |n| {
                    usize::try_from(n).expect("invariant: at most 64")
                }),
            max_attempts: number(fields.get("max_attempts"), "max_attempts", 10)?
                .map_or(DEFAULT_MAX_ATTEMPTS, |n| {
                    u32::try_from(n).expect("invariant: at most 10")
                }),
        })
    }
}

/// IAM's path rule: starts and ends with `/`, printable ASCII, at most 512 characters.
fn check_path_prefix(path: &str) -> Result<String, String> {
    let valid = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if valid && crate::mapping::reserved_path(path) {
        return Err(format!(
            "setting `path_prefix` `{path}` lies under a path AWS reserves for roles it \
             creates itself (`/aws-service-role/`, `/aws-reserved/`), which nhi never manages"
        ));
    }
    if valid {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "setting `path_prefix` must start and end with `/` and hold only printable \
             characters without spaces, e.g. `/nhi/`, not `{path}`"
        ))
    }
}

/// IAM's tag key rule; `aws:` and our own `nhi:` keys are reserved.
fn check_managed_tag(key: &str) -> Result<String, String> {
    if key.starts_with("aws:") || key.starts_with("nhi:") {
        return Err(format!(
            "setting `managed_tag` must not start with `aws:` or `nhi:`, which are reserved: `{key}`"
        ));
    }
    if key.chars().count() > 128 || !key.chars().all(tag_char) {
        return Err(format!(
            "setting `managed_tag` must be a tag key: at most 128 letters, digits, spaces \
             and `_.:/=+-@`, not `{key}`"
        ));
    }
    Ok(key.to_owned())
}

/// Characters IAM accepts in tag keys and values.
pub(crate) fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_full() {
        let minimal = Settings::parse(&json!({"path_prefix": "/nhi/"})).unwrap();
        assert_eq!(
            minimal,
            Settings {
                path_prefix: "/nhi/".into(),
                managed_tag: None,
                region: None,
                profile: None,
                endpoint_url: None,
                concurrency: 8,
                max_attempts: 3,
            }
        );
        let full = Settings::parse(&json!({
            "path_prefix": "/", "managed_tag": "nhi-managed", "region": "eu-west-1",
            "profile": "prod", "endpoint_url": "http://127.0.0.1:5000",
            "concurrency": 64, "max_attempts": 1
        }))
        .unwrap();
        assert_eq!(full.managed_tag.as_deref(), Some("nhi-managed"));
        assert_eq!(full.region.as_deref(), Some("eu-west-1"));
        assert_eq!(full.profile.as_deref(), Some("prod"));
        assert_eq!(full.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!((full.concurrency, full.max_attempts), (64, 1));
    }

    #[test]
    fn rejections() {
        let cases: &[(Value, &str)] = &[
            (json!(null), "settings must be a mapping"),
            (json!({}), "missing setting `path_prefix`"),
            (
                json!({"path_prefix": "nhi/"}),
                "must start and end with `/`",
            ),
            (
                json!({"path_prefix": "/nhi"}),
                "must start and end with `/`",
            ),
            (
                json!({"path_prefix": "/a b/"}),
                "must start and end with `/`",
            ),
            (
                json!({"path_prefix": 3}),
                "setting `path_prefix` must be a string",
            ),
            (json!({"path_prefix": ""}), "setting `path_prefix` is empty"),
            (
                json!({"path_prefix": "/aws-service-role/"}),
                "lies under a path AWS reserves",
            ),
            (
                json!({"path_prefix": "/AWS-Reserved/sso.amazonaws.com/"}),
                "lies under a path AWS reserves",
            ),
            (
                json!({"path_prefix": "/n/", "state": "x", "zone": 1}),
                "unknown settings `state`, `zone`; the aws provider takes `path_prefix`",
            ),
            (
                json!({"path_prefix": "/n/", "managed_tag": "nhi:managed"}),
                "reserved",
            ),
            (
                json!({"path_prefix": "/n/", "managed_tag": "a,b"}),
                "must be a tag key",
            ),
            (
                json!({"path_prefix": "/n/", "endpoint_url": "localhost:5000"}),
                "http:// or https://",
            ),
            (
                json!({"path_prefix": "/n/", "concurrency": 0}),
                "`concurrency` must be a whole number from 1 to 64",
            ),
            (
                json!({"path_prefix": "/n/", "concurrency": 65}),
                "`concurrency` must be a whole number from 1 to 64",
            ),
            (
                json!({"path_prefix": "/n/", "max_attempts": 11}),
                "`max_attempts` must be a whole number from 1 to 10",
            ),
            (
                json!({"path_prefix": "/n/", "max_attempts": "3"}),
                "`max_attempts` must be a whole number from 1 to 10",
            ),
        ];
        for (settings, want) in cases {
            let err = Settings::parse(settings).unwrap_err();
            assert!(err.contains(want), "{settings}: {err}");
        }
    }
}
