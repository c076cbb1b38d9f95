//! What a grant or a trust policy lets an identity do, per provider type:
//! administrator and wildcard grants, privilege-escalation permissions, and
//! trust policies open to anyone. Pure: judged from the model alone, and cheap
//! on the path that finds nothing (no parse, no allocation), since it runs over
//! every binding of the estate.

mod aws;
mod document;
mod escalation;
mod gcp;
mod local;
mod trust;

use nhi_provider_sdk::{Binding, Identity};

use super::Severity;

/// One thing a rule found in one object; the judge adds the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Concern {
    pub rule: &'static str,
    /// `None`: the rule's own severity.
    pub severity: Option<Severity>,
    pub message: String,
}

impl Concern {
    pub(crate) fn new(rule: &'static str, message: String) -> Self {
        Self {
            rule,
            severity: None,
            message,
        }
    }

    /// A concern graver or lighter than its rule's default.
    pub(crate) fn at(rule: &'static str, severity: Severity, message: String) -> Self {
        Self {
            rule,
            severity: Some(severity),
            message,
        }
    }
}

/// The concerns of one binding of an identity of `kind`, for the provider type
/// `type_name`. Types other than the built-in ones have no privilege knowledge.
pub(crate) fn binding_concerns(
    type_name: &str,
    _kind: &str,
    binding: &Binding,
    out: &mut Vec<Concern>,
) {
    // The kind is not needed yet: no rule here differs between an AWS user and
    // role (`judge_changes` passes `""`).
    match type_name {
        "aws" => aws::binding_concerns(binding, out),
        "gcp" => gcp::binding_concerns(binding, out),
        "local" => local::binding_concerns(binding, out),
        _ => {}
    }
}

/// The concerns of an identity's own attributes (e.g. an AWS role's trust policy).
pub(crate) fn identity_concerns(type_name: &str, identity: &Identity, out: &mut Vec<Concern>) {
    if type_name == "aws" {
        trust::identity_concerns(identity, out);
    }
}

/// Whether the IAM pattern `pattern` (`*`: any run of characters, `?`: any one)
/// matches `name`, ignoring ASCII case, as IAM matches action names.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and how much of `name` it has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&n[ni])) {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_iam_matches_actions() {
        let cases = [
            ("*", "iam:PutUserPolicy", true),
            ("iam:*", "iam:PutUserPolicy", true),
            ("iam:Put*", "iam:PutUserPolicy", true),
            ("IAM:put*policy", "iam:PutUserPolicy", true),
            ("iam:Put?serPolicy", "iam:PutUserPolicy", true),
            ("iam:*Policy", "iam:PutUserPolicy", true),
            ("iam:*User*", "iam:PutUserPolicy", true),
            ("iam:Put", "iam:PutUserPolicy", false),
            ("iam:Get*", "iam:PutUserPolicy", false),
            ("s3:*", "iam:PutUserPolicy", false),
            ("iam:PutUserPolicy?", "iam:PutUserPolicy", false),
            ("", "iam:PutUserPolicy", false),
            ("**", "", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches(pattern, name), want, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn other_provider_types_have_no_privilege_knowledge() {
        let binding = Binding {
            role: "admin".into(),
            resource: "*".into(),
            policy: None,
        };
        let mut out = Vec::new();
        binding_concerns("plugin-x", "", &binding, &mut out);
        assert!(out.is_empty());
    }
}
