//! The `settings` of a `gcp` provider block: the project it manages, how to reach
//! Google Cloud, and what deleting a service account means.

use nhi_provider_sdk::settings::{self, number, string};
use serde_json::Value;

/// Every setting the gcp provider takes, for messages.
const KNOWN: &[&str] = &[
    "project",
    "endpoint",
    "credentials",
    "concurrency",
    "on_delete",
    "max_attempts",
    "reads_per_minute",
    "writes_per_minute",
    "max_service_accounts",
];

/// Key listings run at once by default. Google allows 6,000 reads a minute per
/// project; at 8 concurrent calls of about 50 ms that is 9,600 a minute at most,
/// so reads also pace themselves (see `read`).
const DEFAULT_CONCURRENCY: usize = 8;
/// Upper bound on `concurrency`: more would only meet the quota sooner.
const MAX_CONCURRENCY: u64 = 32;
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Google's default quotas are 6,000 reads and 600 writes per project per minute;
/// by default nhi keeps to five sixths of them, leaving room for other callers.
const DEFAULT_READS_PER_MINUTE: u32 = 5_000;
const DEFAULT_WRITES_PER_MINUTE: u32 = 500;
/// Google's default quota of service accounts per project is 100
/// (<https://cloud.google.com/iam/quotas#quotas>, "Service account count");
/// a project granted more sets `max_service_accounts` to its quota.
const DEFAULT_MAX_SERVICE_ACCOUNTS: u32 = 100;

/// How the block's credentials are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// Application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
    /// login, or the metadata server).
    Default,
    /// No credentials: only for a local stand-in or emulator behind `endpoint`.
    Anonymous,
}

/// What a planned deletion of a service account does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDelete {
    /// Delete it (undeletable for 30 days, then gone for good).
    Delete,
    /// Disable it first; a later plan deletes it once it is disabled.
    DisableFirst,
}

/// Validated settings of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The project id every managed service account lives in.
    pub(crate) project: String,
    /// One base URL for both the IAM and the Resource Manager API, e.g. a local
    /// stand-in; `None` for Google's own endpoints.
    pub(crate) endpoint: Option<String>,
    pub(crate) credentials: CredentialSource,
    /// How many key listings a read runs at once.
    pub(crate) concurrency: usize,
    pub(crate) on_delete: OnDelete,
    /// Attempts per API call, including the first, on availability errors (quota
    /// errors are retried across a quota window instead, see `quota`).
    pub(crate) max_attempts: u32,
    /// Pace of read and write calls (a token bucket holding a minute's worth).
    pub(crate) reads_per_minute: u32,
    pub(crate) writes_per_minute: u32,
    /// The project's quota of service accounts, checked at plan.
    pub(crate) max_service_accounts: u32,
}

impl Settings {
    pub(crate) fn parse(value: &Value) -> Result<Self, String> {
        let fields = settings::fields(
            value,
            "gcp",
            KNOWN,
            "at least `project`, e.g. `my-project-123`",
        )?;
        let project = match string(fields.get("project"), "project")? {
            None => {
                return Err(
                    "missing setting `project`: the id of the project this block manages".into(),
                );
            }
            Some(project) => check_project(project)?,
        };
        let endpoint = settings::url(fields.get("endpoint"), "endpoint")?;
        let credentials = match string(fields.get("credentials"), "credentials")? {
            None | Some("default") => CredentialSource::Default,
            Some("anonymous") if endpoint.is_some() => CredentialSource::Anonymous,
            Some("anonymous") => {
                return Err(
                    "setting `credentials: anonymous` needs an `endpoint` (a local stand-in): \
                     Google's own endpoints refuse anonymous calls"
                        .into(),
                );
            }
            Some(other) => {
                return Err(format!(
                    "setting `credentials` must be `default` or `anonymous`, not `{other}`"
                ));
            }
        };
        let on_delete = match string(fields.get("on_delete"), "on_delete")? {
            None | Some("delete") => OnDelete::Delete,
            Some("disable_first") => OnDelete::DisableFirst,
            Some(other) => {
                return Err(format!(
                    "setting `on_delete` must be `delete` or `disable_first`, not `{other}`"
                ));
            }
        };
        let concurrency = number(fields.get("concurrency"), "concurrency", MAX_CONCURRENCY)?
            .map_or(DEFAULT_CONCURRENCY, |n| {
                usize::try_from(n).expect("invariant: at most MAX_CONCURRENCY")
            });
        let max_attempts = number(fields.get("max_attempts"), "max_attempts", 10)?
            .map_or(DEFAULT_MAX_ATTEMPTS, |n| {
                u32::try_from(n).expect("invariant: at most 10")
            });
        let reads_per_minute = per_minute(fields.get("reads_per_minute"), "reads_per_minute")?
            .unwrap_or(DEFAULT_READS_PER_MINUTE);
        let writes_per_minute = per_minute(fields.get("writes_per_minute"), "writes_per_minute")?
            .unwrap_or(DEFAULT_WRITES_PER_MINUTE);
        let max_service_accounts = number(
            fields.get("max_service_accounts"),
            "max_service_accounts",
            100_000,
        )?
        .map_or(DEFAULT_MAX_SERVICE_ACCOUNTS, |n| {
            u32::try_from(n).expect("invariant: at most 100,000")
        });
        Ok(Self {
            project,
            endpoint,
            credentials,
            concurrency,
            on_delete,
            max_attempts,
            reads_per_minute,
            writes_per_minute,
            max_service_accounts,
        })
    }

    /// `projects/<project>`, the resource name of the project.
    pub(crate) fn project_resource(&self) -> String {
        format!("projects/{}", self.project)
    }

    /// The email of the service account with this account id.
    pub(crate) fn email(&self, account_id: &str) -> String {
        format!("{account_id}@{}", self.email_domain())
    }

    /// `<project>.iam.gserviceaccount.com`: the domain of the service accounts a
    /// project's users create. Accounts with other domains (Google-created default
    /// accounts and service agents) are never in scope.
    pub(crate) fn email_domain(&self) -> String {
        format!("{}.iam.gserviceaccount.com", self.project)
    }

    /// `projects/<project>/serviceAccounts/<email>`.
    pub(crate) fn account_resource(&self, account_id: &str) -> String {
        format!(
            "projects/{}/serviceAccounts/{}",
            self.project,
            self.email(account_id)
        )
    }
}

/// A quota pace in calls per minute, if present.
fn per_minute(value: Option<&Value>, name: &str) -> Result<Option<u32>, String> {
    number(value, name, 1_000_000)
        .map(|n| n.map(|n| u32::try_from(n).expect("invariant: at most 1,000,000")))
        .map_err(|e| format!("{e} (calls per minute)"))
}

/// Google's rule for project ids: 6 to 30 characters, lowercase letters, digits
/// and hyphens, starting with a letter and not ending with a hyphen.
fn check_project(project: &str) -> Result<String, String> {
    let bytes = project.as_bytes();
    let valid = (6..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !project.ends_with('-');
    if valid {
        Ok(project.to_owned())
    } else {
        Err(format!(
            "setting `project` must be a project id (6 to 30 lowercase letters, digits and \
             hyphens, starting with a letter), not `{project}`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults() {
        let s = Settings::parse(&json!({"project": "acme-prod"})).unwrap();
        assert_eq!(s.project, "acme-prod");
        assert_eq!(s.endpoint, None);
        assert_eq!(s.credentials, CredentialSource::Default);
        assert_eq!(s.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(s.on_delete, OnDelete::Delete);
        assert_eq!(s.max_service_accounts, 100, "Google's default quota");
        assert_eq!(
            s.email("ci-bot"),
            "ci-bot@acme-prod.iam.gserviceaccount.com"
        );
        assert_eq!(
            s.account_resource("ci-bot"),
            "projects/acme-prod/serviceAccounts/ci-bot@acme-prod.iam.gserviceaccount.com"
        );
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            (json!([]), "settings must be a mapping"),
            (json!({}), "missing setting `project`"),
            (json!({"project": "Acme"}), "must be a project id"),
            (
                json!({"project": "acme-prod", "zone": 1}),
                "unknown setting `zone`",
            ),
            (
                json!({"project": "acme-prod", "credentials": "anonymous"}),
                "needs an `endpoint`",
            ),
            (
                json!({"project": "acme-prod", "endpoint": "ftp://x"}),
                "http:// or https://",
            ),
            (
                json!({"project": "acme-prod", "on_delete": "archive"}),
                "`delete` or `disable_first`",
            ),
            (
                json!({"project": "acme-prod", "concurrency": 0}),
                "from 1 to 32",
            ),
            (
                json!({"project": "acme-prod", "concurrency": 33}),
                "from 1 to 32",
            ),
            (
                json!({"project": "acme-prod", "max_attempts": 0}),
                "from 1 to 10",
            ),
            (
                json!({"project": "acme-prod", "reads_per_minute": 0}),
                "calls per minute",
            ),
            (
                json!({"project": "acme-prod", "max_service_accounts": 0}),
                "`max_service_accounts` must be a whole number from 1 to 100000",
            ),
        ];
        for (value, want) in cases {
            let err = Settings::parse(&value).unwrap_err();
            assert!(err.contains(want), "{value}: {err}");
        }
    }

    #[test]
    fn anonymous_with_an_endpoint() {
        let s = Settings::parse(&json!({
            "project": "acme-prod",
            "endpoint": "http://127.0.0.1:9/",
            "credentials": "anonymous",
            "on_delete": "disable_first",
        }))
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(s.credentials, CredentialSource::Anonymous);
        assert_eq!(s.on_delete, OnDelete::DisableFirst);
    }
}
