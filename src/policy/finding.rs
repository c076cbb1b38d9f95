//! Findings: what a rule found, where, how grave it is, and what it costs. The
//! plan records them; apply re-derives them and refuses a plan that lost one.

use std::fmt;

use nhi_provider_sdk::Address;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How grave a finding is. Ordered from least to most grave.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Self; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a finding costs, in the levels Sentinel users know.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Shown to reviewers; costs nothing.
    Advisory,
    /// Apply needs the extra approvals the applier's trust policy names for
    /// soft findings (`when: soft`).
    Soft,
    /// No plan is written; a plan file that holds one is refused.
    Hard,
}

impl Enforcement {
    pub const ALL: [Self; 3] = [Self::Advisory, Self::Soft, Self::Hard];

    pub fn name(self) -> &'static str {
        match self {
            Self::Advisory => "advisory",
            Self::Soft => "soft",
            Self::Hard => "hard",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a finding judges, which decides how apply re-derives it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// An object a change creates or updates, judged from the operation alone:
    /// every decode of the plan re-derives these from its changes.
    Change,
    /// The estate as it will be after apply (live objects kept, declared
    /// settings): apply re-derives these from the live state it re-reads and
    /// the configuration, at the plan's clock.
    State,
    /// An object a change deletes or replaces, judged from the operation alone:
    /// what the plan resolves. Costs nothing; re-derived like `change`.
    Resolved,
}

/// One finding.
///
/// Contract: `rule` is a built-in rule id (`admin-privilege`) or an org policy's
/// `rego:<package>.<id>`; `enforcement` is the one the plan's policy record gives
/// the rule; `exception` is set exactly when an unexpired exception of the policy
/// record covers `address` for `rule`, and then the finding costs nothing.
/// Findings are sorted by address, then rule, then message, and unique.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub address: Address,
    pub rule: String,
    pub severity: Severity,
    pub enforcement: Enforcement,
    pub subject: Subject,
    /// One sentence for reviewers, with the facts that triggered the rule.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionUse>,
}

impl Finding {
    /// Whether this finding costs anything: open (not resolved by the plan)
    /// and not covered by an exception.
    pub fn counts(&self) -> bool {
        self.exception.is_none() && self.subject != Subject::Resolved
    }

    /// The ordering key findings are sorted and compared by.
    pub fn key(&self) -> (&Address, &str, &str) {
        (&self.address, &self.rule, &self.message)
    }
}

/// The exception a finding was excused by, as the policy record holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionUse {
    pub justification: String,
    /// The last day (UTC) it applies.
    pub expires: jiff::civil::Date,
}
