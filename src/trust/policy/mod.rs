//! The trust policy: owned by the applier, never by the plan. It names the
//! `allowed_signers` file and the approval rules; nothing inside a plan can lower
//! the bar that judges it.

use std::path::{Path, PathBuf};

use miette::LabeledSpan;
use nhi_provider_sdk::Age;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::TrustError;
pub use super::condition::Condition;
use super::error::PolicyProblem;
pub use super::revoke_bar::RevokeBar;

/// A loaded trust policy.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    pub path: PathBuf,
    /// Resolved against the directory of the policy file itself: the file a
    /// symbolic link leads to, never the link's directory.
    pub allowed_signers: PathBuf,
    pub require_author_signature: bool,
    /// Principals that may author plans; empty: any allowed signer.
    pub authors: Vec<String>,
    /// Distinct approvers every plan needs.
    pub required: usize,
    /// Whether the author's own approval counts.
    pub author_counts: bool,
    /// Plans older than this are refused whatever they say about their expiry.
    pub max_plan_age: Option<Age>,
    pub rules: Vec<Rule>,
    /// The receipt log every apply appends to (see `crate::log`): a directory
    /// (`receipt_log`, resolved like `allowed_signers`), or a bucket whose
    /// prefix also holds the scope locks (`backend: {s3: …}`); `None`:
    /// receipts are kept beside their plans only.
    pub receipt_log: Option<crate::backend::LogLocation>,
    /// The Rego bundle every plan must have been judged with (`policy_bundle:
    /// sha256:…`), so that a configuration change cannot drop the org policies.
    pub policy_bundle: Option<nhi_provider_sdk::Digest>,
    /// Who may break glass with `nhi revoke`; `None`: nobody may.
    pub revoke: Option<RevokeBar>,
    /// `partial_plans: refuse`: plans made with `nhi plan --target` are refused
    /// whatever their approvals (`allow`, the default, judges them as any plan;
    /// a rule `when: partial` can raise their bar instead).
    pub refuse_partial: bool,
    /// `plugins: {allow: [sha256:…]}`: the only plugin executables a plan may
    /// run; `None`: any plugin the plan pins.
    pub plugins_allowed: Option<Vec<nhi_provider_sdk::Digest>>,
}

/// What a trust policy does with partial plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartialPlans {
    #[default]
    Allow,
    Refuse,
}

/// A stricter requirement for plans holding changes of a risk class, or
/// findings of the governance gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub when: Condition,
    pub required: Option<usize>,
    /// At least one counted approval must come from one of these principals.
    pub require_one_of: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    allowed_signers: String,
    #[serde(default)]
    receipt_log: Option<Spanned<String>>,
    #[serde(default)]
    backend: Option<Spanned<super::backend_block::RawBackend>>,
    #[serde(default)]
    policy_bundle: Option<Spanned<String>>,
    #[serde(default = "yes")]
    require_author_signature: bool,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    approvals: RawApprovals,
    #[serde(default)]
    max_plan_age: Option<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    partial_plans: PartialPlans,
    revoke: Option<Spanned<super::revoke_bar::RawRevoke>>,
    #[serde(default)]
    plugins: Option<RawPlugins>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugins {
    allow: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    #[serde(default = "one")]
    required: Spanned<usize>,
    #[serde(default)]
    author_counts: bool,
}

impl Default for RawApprovals {
    fn default() -> Self {
        Self {
            required: one(),
            author_counts: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(deserialize_with = "super::condition::condition")]
    when: Condition,
    #[serde(default)]
    required: Option<Spanned<usize>>,
    #[serde(default)]
    require_one_of: Vec<String>,
}

fn yes() -> bool {
    true
}

pub(super) fn one() -> Spanned<usize> {
    Spanned::new(1, Location::UNKNOWN, Location::UNKNOWN)
}

/// Where the policy is looked for without `--trust` and `NHI_TRUST`:
/// `$XDG_CONFIG_HOME/nhi/trust.yaml`, else `$HOME/.config/nhi/trust.yaml`. Never
/// the directory of the configuration being applied. The caller reads the
/// environment (an empty `XDG_CONFIG_HOME` counts as unset).
pub fn default_path(xdg_config_home: Option<&Path>, home: Option<&Path>) -> PathBuf {
    let base = xdg_config_home
        .filter(|v| !v.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .or_else(|| home.map(|h| h.join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("nhi").join("trust.yaml")
}

/// Where to find the applier's trust policy, most specific first.
#[derive(Debug, Clone)]
pub struct PolicyLocation {
    /// `--trust FILE`.
    pub flag: Option<PathBuf>,
    /// `NHI_TRUST`, when set and not empty.
    pub env: Option<PathBuf>,
    /// [`default_path`].
    pub default: PathBuf,
}

impl TrustPolicy {
    /// Loads `--trust FILE`, else `NHI_TRUST`, else the default path.
    pub fn locate(location: &PolicyLocation) -> Result<Self, TrustError> {
        if let Some(path) = location.flag.as_deref().or(location.env.as_deref()) {
            return Self::load(path);
        }
        let default = &location.default;
        if !default.exists() {
            return Err(TrustError::NoPolicy {
                default: default.display().to_string(),
            });
        }
        Self::load(default)
    }

    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let fail = |detail: String| TrustError::Policy {
            path: path.to_owned(),
            detail,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(crate::config::lowercase_first(&e.to_string())))?;
        // A link to the policy (from a repository, say) must not choose the
        // allowed signers: they are found beside the file the link leads to.
        let real = std::fs::canonicalize(path)
            .map_err(|e| fail(crate::config::lowercase_first(&e.to_string())))?;
        let real_dir = real.parent().unwrap_or(Path::new("/"));
        let given_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Paths stay as the user wrote them when they lead to the same place.
        let dir = if std::fs::canonicalize(given_dir).is_ok_and(|d| d == real_dir) {
            given_dir
        } else {
            real_dir
        };
        Self::parse_in(path, dir, &text)
    }

    /// A policy from its text; `path` names it in errors and anchors
    /// `allowed_signers`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, TrustError> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::parse_in(path, dir, text)
    }

    /// [`Self::parse`], with `allowed_signers` resolved against `dir`.
    fn parse_in(path: &Path, dir: &Path, text: &str) -> Result<Self, TrustError> {
        let fail = |detail: String| TrustError::Policy {
            path: path.to_owned(),
            detail,
        };
        if text.len() > 1024 * 1024 {
            return Err(fail("larger than 1 MiB".into()));
        }
        let source = crate::config::Source::new(&path.display().to_string(), text);
        // Reported as configuration errors are: the file named, the text underlined.
        let invalid = |span, message: &str, label: String, help: String| {
            TrustError::PolicyInvalid(Box::new(PolicyProblem {
                message: format!("cannot use trust policy `{}`: {message}", path.display()),
                help,
                src: source.named(),
                labels: vec![LabeledSpan::new_primary_with_span(Some(label), span)],
            }))
        };
        let raw: RawPolicy = serde_saphyr::from_str(text).map_err(|e| {
            let e = crate::config::explain(&source, &e);
            invalid(e.span, &e.message, e.label, e.help)
        })?;
        let required = &raw.approvals.required;
        // A policy that asks for signed plans but no approvals is a slip; one that
        // asks for neither is the open policy of demos and walkthroughs.
        if required.value == 0 && raw.require_author_signature {
            return Err(invalid(
                source.span(&required.referenced),
                "`approvals.required` is 0",
                "no approval would be needed".into(),
                "set it to 1 or more (`approvals.author_counts: true` lets the author's own approval count); a policy that needs no signatures at all also sets `require_author_signature: false`".into(),
            ));
        }
        if required.value > 64 {
            return Err(invalid(
                source.span(&required.referenced),
                "`approvals.required` is larger than 64",
                "more than 64".into(),
                "set it to at most 64".into(),
            ));
        }
        if let Some(zero) = raw
            .rules
            .iter()
            .filter_map(|r| r.required.as_ref())
            .find(|r| r.value == 0)
        {
            return Err(invalid(
                source.span(&zero.referenced),
                "a rule's `required` is 0",
                "a rule can only raise the bar".into(),
                "set it to 1 or more, or remove it to keep `approvals.required`".into(),
            ));
        }
        let policy_bundle = match &raw.policy_bundle {
            None => None,
            Some(text) => Some(text.value.parse::<nhi_provider_sdk::Digest>().map_err(|_| {
                invalid(
                    source.span(&text.referenced),
                    "`policy_bundle` is not a digest",
                    "not `sha256:` and 64 hexadecimal digits".into(),
                    "write the bundle's digest as `nhi policy test` prints it, e.g. `sha256:3f…`".into(),
                )
            })?),
        };
        let max_plan_age = raw
            .max_plan_age
            .map(|t| {
                t.parse::<Age>()
                    .map_err(|e| fail(format!("`max_plan_age`: {e}")))
            })
            .transpose()?;
        for principal in raw
            .authors
            .iter()
            .chain(raw.rules.iter().flat_map(|r| &r.require_one_of))
        {
            if !super::statement::valid_principal(principal) {
                return Err(fail(format!("principal `{principal}` is not valid")));
            }
        }
        let plugins_allowed = raw
            .plugins
            .map(|p| {
                p.allow
                    .iter()
                    .map(|d| {
                        d.parse::<nhi_provider_sdk::Digest>().map_err(|_| {
                            fail(format!(
                                "`plugins.allow` lists digests `sha256:<64 hex digits>`, not `{d}`"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let revoke = super::revoke_bar::parse(raw.revoke.as_ref(), &source, &invalid, &fail)?;
        let receipt_log = match (raw.receipt_log, raw.backend) {
            (Some(_), Some(backend)) => {
                return Err(invalid(
                    source.span(&backend.referenced),
                    "`receipt_log` and `backend` are both given",
                    "the log would be kept here too".into(),
                    "keep one: `receipt_log: DIR` for a log on this machine, or `backend: {s3: …}` for the log and the scope locks in S3".into(),
                ));
            }
            (Some(log), None) => Some(crate::backend::LogLocation::Dir(dir.join(log.value))),
            (None, Some(backend)) => Some(super::backend_block::s3_backend(
                backend.value.s3,
                &source,
                &invalid,
            )?),
            (None, None) => None,
        };
        Ok(Self {
            revoke,
            path: path.to_owned(),
            allowed_signers: dir.join(raw.allowed_signers),
            receipt_log,
            policy_bundle,
            require_author_signature: raw.require_author_signature,
            authors: raw.authors,
            required: raw.approvals.required.value,
            author_counts: raw.approvals.author_counts,
            max_plan_age,
            refuse_partial: raw.partial_plans == PartialPlans::Refuse,
            plugins_allowed,
            rules: raw
                .rules
                .into_iter()
                .map(|r| Rule {
                    when: r.when,
                    required: r.required.map(|r| r.value),
                    require_one_of: r.require_one_of,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
pub(super) mod tests;
