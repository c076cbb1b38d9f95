//! What a trust-policy rule applies to: a risk class, or findings of the
//! governance gate, as written after `when:`.

use serde::Deserialize as _;

use crate::diff::Risk;

/// What a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `when: <risk>`: the plan holds a change of this class.
    Risk(Risk),
    /// `when: finding:<rule-id>`: the plan holds a finding of this rule that no
    /// exception excuses, whatever its enforcement (the configuration, which the
    /// plan's author controls, cannot lower this bar).
    Finding(String),
    /// `when: soft`: the plan holds a soft finding no exception excuses.
    Soft,
    /// `when: exception`: the plan uses an exception of its policy.
    Exception,
    /// `when: partial`: the plan was made with `nhi plan --target`.
    Partial,
    /// `when: replace_requested`: the plan rotates or replaces something
    /// because `nhi plan --replace` asked for it.
    ReplaceRequested,
}

impl From<Risk> for Condition {
    fn from(risk: Risk) -> Self {
        Self::Risk(risk)
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Risk(risk) => write!(f, "{risk} changes"),
            Self::Finding(rule) => write!(f, "`{rule}` findings"),
            Self::Soft => f.write_str("soft findings"),
            Self::Exception => f.write_str("exceptions"),
            Self::Partial => f.write_str("partial plans"),
            Self::ReplaceRequested => f.write_str("`replace requested` changes"),
        }
    }
}

impl Condition {
    /// Whether a plan body meets this condition.
    pub fn holds(&self, body: &crate::plan::PlanBody) -> bool {
        use crate::policy::Enforcement;
        match self {
            Self::Risk(risk) => body.changes.iter().any(|c| c.risk == *risk),
            Self::Finding(rule) => body.findings.iter().any(|f| f.counts() && f.rule == *rule),
            Self::Soft => body
                .findings
                .iter()
                .any(|f| f.counts() && f.enforcement == Enforcement::Soft),
            Self::Exception => body.findings.iter().any(|f| f.exception.is_some()),
            Self::Partial => body.is_partial(),
            Self::ReplaceRequested => body
                .changes
                .iter()
                .any(|c| c.reason == crate::diff::Reason::ReplaceRequested),
        }
    }
}

/// `finding:<rule-id>`, `soft`, `exception`, or a risk in either spelling.
pub(super) fn condition<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Condition, D::Error> {
    let text = String::deserialize(deserializer)?;
    if let Some(rule) = text.strip_prefix("finding:") {
        let known = crate::policy::find_rule(rule).is_some()
            || rule
                .strip_prefix("rego:")
                .is_some_and(|id| !id.is_empty() && !id.contains(char::is_control));
        if !known {
            return Err(serde::de::Error::custom(format!(
                "unknown rule `{}` (built-in rules: {}; an org policy's rule is `rego:<id>`)",
                rule.escape_debug(),
                crate::policy::RULES
                    .iter()
                    .map(|r| r.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(Condition::Finding(rule.to_owned()));
    }
    match text.as_str() {
        "soft" => return Ok(Condition::Soft),
        "exception" => return Ok(Condition::Exception),
        "partial" => return Ok(Condition::Partial),
        // As the plan text prints the reason, or as JSON spells it.
        "replace requested" | "replace_requested" | "replace-requested" => {
            return Ok(Condition::ReplaceRequested);
        }
        _ => {}
    }
    risk_either_spelling(&text)
        .map(Condition::Risk)
        .ok_or_else(|| {
            serde::de::Error::unknown_variant(
                &text,
                &[
                    "low",
                    "privilege-reducing",
                    "credential",
                    "privilege-increasing",
                    "destructive",
                    "soft",
                    "exception",
                    "partial",
                    "replace_requested",
                    "finding:<rule-id>",
                ],
            )
        })
}

/// A risk as the plan prints it (`privilege-increasing`) or as JSON spells it
/// (`privilege_increasing`): a rule copied from either reads the same.
fn risk_either_spelling(text: &str) -> Option<Risk> {
    use serde::de::IntoDeserializer as _;
    let snake = text.replace('-', "_");
    let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        snake.as_str().into_deserializer();
    Risk::deserialize(text).ok()
}
