//! The built-in rules: stable ids, default severity, a one-line rationale, and
//! the benchmarks each follows (cited by control, not copied).

use super::Severity;

/// One built-in rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable: trust policies (`when: finding:<id>`), exceptions and SARIF name it.
    pub id: &'static str,
    pub severity: Severity,
    /// Why it matters, in one line.
    pub rationale: &'static str,
    /// The benchmark controls and scanner checks it follows.
    pub sources: &'static str,
}

pub const OWNER_MISSING: &str = "owner-missing";
pub const KEY_MAX_AGE: &str = "key-max-age";
pub const KEY_NO_ROTATION: &str = "key-no-rotation";
pub const KEY_UNUSED: &str = "key-unused";
pub const KEY_NEVER_USED: &str = "key-never-used";
pub const KEY_LEAKED: &str = "key-leaked";
pub const TWO_ACTIVE_KEYS: &str = "two-active-keys";
pub const ADMIN_PRIVILEGE: &str = "admin-privilege";
pub const WILDCARD_ACTION: &str = "wildcard-action";
pub const PRIVILEGE_ESCALATION: &str = "privilege-escalation";
pub const OPEN_TRUST: &str = "open-trust";
pub const USER_MANAGED_KEY: &str = "user-managed-key";
pub const SHADOW_IDENTITY: &str = "shadow-identity";

/// Every built-in rule, in the order reports list them.
pub const RULES: &[Rule] = &[
    Rule {
        id: OWNER_MISSING,
        severity: Severity::High,
        rationale: "an identity nobody answers for is never reviewed, rotated or retired",
        sources: "CIS Controls v8 5.1 (account inventory with owner); Prowler iam_user_*; NIST SP 800-53 AC-2",
    },
    Rule {
        id: KEY_MAX_AGE,
        severity: Severity::High,
        rationale: "a long-lived key has had the longest time to leak and still works",
        sources: "CIS AWS Foundations 1.14; CIS GCP Foundations 1.7; AWS FSBP IAM.3; Prowler iam_rotate_access_key_90_days, iam_sa_user_managed_key_rotate_90_days",
    },
    Rule {
        id: KEY_NO_ROTATION,
        severity: Severity::Medium,
        rationale: "a key with neither `rotate_after` nor `expires` is never replaced",
        sources: "CIS AWS Foundations 1.14; CIS GCP Foundations 1.7",
    },
    Rule {
        id: KEY_UNUSED,
        severity: Severity::Medium,
        rationale: "a key nothing uses is only a liability",
        sources: "CIS AWS Foundations 1.12; AWS FSBP IAM.8; Prowler iam_user_accesskey_unused",
    },
    Rule {
        id: KEY_NEVER_USED,
        severity: Severity::Medium,
        rationale: "a key never used since it was made was not needed",
        sources: "CIS AWS Foundations 1.12; Prowler iam_user_accesskey_unused",
    },
    Rule {
        id: KEY_LEAKED,
        severity: Severity::Critical,
        rationale: "the cloud itself reports the key's secret exposed or used in an attack: someone else may hold it",
        sources: "Google Cloud IAM, best practices for managing service account keys (leaked keys, iam.serviceAccountKeyExposureResponse); CIS Controls v8 5.6",
    },
    Rule {
        id: TWO_ACTIVE_KEYS,
        severity: Severity::Medium,
        rationale: "a second active key doubles what can leak and hides which one is in use",
        sources: "CIS AWS Foundations 1.13; Prowler iam_user_two_active_access_key",
    },
    Rule {
        id: ADMIN_PRIVILEGE,
        severity: Severity::Critical,
        rationale: "an administrator grant on a machine identity gives whoever holds its key the whole account",
        sources: "CIS AWS Foundations 1.16; AWS FSBP IAM.1; AWS Managed Policy Reference (AdministratorAccess, IAMFullAccess, PowerUserAccess); CIS GCP Foundations 1.5; Prowler iam_aws_attached_policy_no_administrative_privileges, iam_inline_policy_no_administrative_privileges, iam_sa_no_administrative_privileges",
    },
    Rule {
        id: WILDCARD_ACTION,
        severity: Severity::High,
        rationale: "a wildcard action grants every permission a service has and every one it will add",
        sources: "AWS FSBP IAM.21; Prowler iam_inline_policy_no_full_access_to_cloudtrail, iam_inline_policy_no_full_access_to_kms (the same test for every service)",
    },
    Rule {
        id: PRIVILEGE_ESCALATION,
        severity: Severity::High,
        rationale: "the permission lets an identity grant itself, or act as, a more powerful one",
        sources: "Rhino Security Labs, AWS IAM privilege escalation methods 1-21 and Privilege Escalation in Google Cloud Platform; Prowler iam_policy_allows_privilege_escalation, iam_inline_policy_allows_privilege_escalation, iam_no_custom_policy_permissive_role_assumption; CIS GCP Foundations 1.6",
    },
    Rule {
        id: OPEN_TRUST,
        severity: Severity::Critical,
        rationale: "a role anyone, any account or any repository can assume is not an identity of yours",
        sources: "AWS IAM User Guide, the confused deputy problem and sts:ExternalId; AWS IAM User Guide, creating a role for OIDC federation (GitHub: condition on token.actions.githubusercontent.com:sub); GitHub Docs, configuring OpenID Connect in Amazon Web Services; Prowler iam_role_cross_service_confused_deputy_prevention",
    },
    Rule {
        id: USER_MANAGED_KEY,
        severity: Severity::Medium,
        rationale: "a user-managed service-account key is a long-lived secret outside Google's custody",
        sources: "CIS GCP Foundations 1.4; Prowler iam_sa_no_user_managed_keys",
    },
    Rule {
        id: SHADOW_IDENTITY,
        severity: Severity::High,
        rationale: "an identity in scope that no configuration declares holds access nobody reviews",
        sources: "CIS Controls v8 5.1, 5.3; NIST SP 800-53 AC-2(3)",
    },
];

/// The built-in rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        for (i, rule) in RULES.iter().enumerate() {
            assert!(
                rule.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                rule.id
            );
            assert!(!RULES[..i].iter().any(|r| r.id == rule.id), "{}", rule.id);
        }
    }
}
