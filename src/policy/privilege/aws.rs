//! AWS IAM: AWS managed policies that make an administrator, and inline policy
//! documents (see [`super::document`]). Role trust policies are [`super::trust`]'s.

use nhi_provider_sdk::Binding;

use super::Concern;
use super::document::document_concerns;
use crate::policy::Severity;
use crate::policy::catalogue::ADMIN_PRIVILEGE;

/// AWS managed policies that are an administrator's, by name, with the
/// severity and what they grant. Source: the AWS Managed Policy Reference
/// (`AdministratorAccess`: `*` on `*`; `IAMFullAccess`: `iam:*` on `*`, so it
/// can grant itself anything; `PowerUserAccess`: `NotAction` of IAM,
/// Organizations and Account on `*`, every other service's actions); CIS AWS
/// Foundations 1.16 and Prowler `iam_aws_attached_policy_no_administrative_privileges`.
const ADMIN_POLICIES: &[(&str, Severity, &str)] = &[
    (
        "AdministratorAccess",
        Severity::Critical,
        "every action on every resource",
    ),
    (
        "IAMFullAccess",
        Severity::Critical,
        "every IAM action: it can grant itself any permission",
    ),
    (
        "PowerUserAccess",
        Severity::High,
        "every action of every service but IAM, Organizations and Account",
    ),
];

pub(super) fn binding_concerns(binding: &Binding, out: &mut Vec<Concern>) {
    if let Some(policy) = &binding.policy {
        document_concerns(policy.as_str(), out);
    } else if let Some(name) = aws_managed(&binding.role)
        && let Some((name, severity, what)) = ADMIN_POLICIES.iter().find(|(n, ..)| *n == name)
    {
        out.push(Concern::at(
            ADMIN_PRIVILEGE,
            *severity,
            format!("grants `{name}` ({what})"),
        ));
    }
    // Customer managed policies and groups: their documents are not in the
    // model, so nothing can be said of them here.
}

/// The name of an AWS managed policy ARN, in any partition:
/// `arn:aws:iam::aws:policy/AdministratorAccess` → `AdministratorAccess`.
fn aws_managed(role: &str) -> Option<&str> {
    let rest = role.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let path = rest.strip_prefix("iam::aws:policy/")?;
    Some(path.rsplit('/').next().unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::policy::catalogue::{PRIVILEGE_ESCALATION as ESC, WILDCARD_ACTION as WILD};

    const ADMIN: &str = ADMIN_PRIVILEGE;

    type Found = Vec<(&'static str, Option<Severity>)>;
    type Expected = &'static [(&'static str, Option<Severity>)];

    fn found(out: &[Concern]) -> Found {
        out.iter().map(|c| (c.rule, c.severity)).collect()
    }

    fn managed(role: &str) -> Vec<Concern> {
        let mut out = Vec::new();
        binding_concerns(
            &Binding {
                role: role.into(),
                resource: "*".into(),
                policy: None,
            },
            &mut out,
        );
        out
    }

    fn inline(statement: Value) -> Vec<Concern> {
        let mut out = Vec::new();
        let mut document = json!({"Version": "2012-10-17"});
        document["Statement"] = statement;
        binding_concerns(
            &Binding {
                role: "inline:x".into(),
                resource: "*".into(),
                policy: Some(document.into()),
            },
            &mut out,
        );
        out
    }

    fn allow(action: &str, resource: &str) -> Value {
        json!({"Effect": "Allow", "Action": action, "Resource": resource})
    }

    #[test]
    fn aws_managed_administrator_policies() {
        let cases: &[(&str, Expected)] = &[
            (
                "arn:aws:iam::aws:policy/AdministratorAccess",
                &[(ADMIN, Some(Severity::Critical))],
            ),
            (
                "arn:aws-us-gov:iam::aws:policy/AdministratorAccess",
                &[(ADMIN, Some(Severity::Critical))],
            ),
            (
                "arn:aws:iam::aws:policy/IAMFullAccess",
                &[(ADMIN, Some(Severity::Critical))],
            ),
            (
                "arn:aws:iam::aws:policy/PowerUserAccess",
                &[(ADMIN, Some(Severity::High))],
            ),
            ("arn:aws:iam::aws:policy/ReadOnlyAccess", &[]),
            ("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", &[]),
            // A customer managed policy of the same name: its document is unknown.
            ("arn:aws:iam::123456789012:policy/AdministratorAccess", &[]),
            ("group:admins", &[]),
        ];
        for (role, want) in cases {
            assert_eq!(found(&managed(role)), *want, "{role}");
        }
        assert_eq!(
            managed("arn:aws:iam::aws:policy/AdministratorAccess")[0].message,
            "grants `AdministratorAccess` (every action on every resource)"
        );
    }

    #[test]
    fn inline_wildcard_and_administrator_grants() {
        let high = Some(Severity::High);
        let medium = Some(Severity::Medium);
        let cases: Vec<(&str, Value, Found)> = vec![
            ("every action", allow("*", "*"), vec![(ADMIN, None)]),
            (
                "every action, listed",
                json!([{"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]}]),
                vec![(ADMIN, None)],
            ),
            ("every IAM action", allow("iam:*", "*"), vec![(ADMIN, None)]),
            (
                "a service's actions",
                allow("s3:*", "*"),
                vec![(WILD, high)],
            ),
            (
                "a service's actions on a bucket",
                allow("s3:*", "arn:aws:s3:::b/*"),
                vec![(WILD, medium)],
            ),
            (
                "every action on a bucket",
                allow("*", "arn:aws:s3:::b"),
                vec![(WILD, None)],
            ),
            (
                "every IAM action on users",
                allow("iam:*", "arn:aws:iam::*:user/*"),
                vec![(WILD, medium), (ESC, None)],
            ),
            (
                "one action on everything",
                allow("s3:GetObject", "*"),
                vec![],
            ),
            ("a prefix of actions", allow("s3:Get*", "*"), vec![]),
            (
                "deny never grants",
                json!({"Effect": "Deny", "Action": "*", "Resource": "*"}),
                vec![],
            ),
            (
                "NotAction grants the rest, escalations included",
                json!({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}),
                vec![(WILD, high), (ESC, None)],
            ),
            (
                "NotAction that leaves IAM in",
                json!({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "*"}),
                vec![(ADMIN, None)],
            ),
            (
                "NotAction that leaves IAM in, on one bucket",
                json!({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::b"}),
                vec![(WILD, medium)],
            ),
            (
                "NotAction, PowerUserAccess's",
                json!({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"}),
                vec![(WILD, high), (ESC, None)],
            ),
            (
                "NotAction of every escalating service",
                json!({"Effect": "Allow", "NotAction": ["iam:*", "sts:*", "lambda:*", "glue:*"], "Resource": "*"}),
                vec![(WILD, high)],
            ),
            (
                "admin subsumes the escalations beside it",
                json!([allow("*", "*"), allow("iam:PassRole", "*")]),
                vec![(ADMIN, None)],
            ),
        ];
        for (name, statement, want) in cases {
            assert_eq!(found(&inline(statement)), want, "{name}");
        }
        assert_eq!(
            inline(allow("*", "*"))[0].message,
            "allows `*` on `*` (every action on every resource)"
        );
        assert_eq!(
            inline(allow("s3:*", "*"))[0].message,
            "allows `s3:*` on `*` (every `s3` action, today's and future ones)"
        );
    }

    #[test]
    fn inline_escalation_permissions() {
        let passed_to = json!({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}});
        let policy_arn =
            json!({"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}});
        let cases: Vec<(&str, Value, usize)> = vec![
            ("PassRole on everything", allow("iam:PassRole", "*"), 1),
            ("PassRole, canonical case", allow("iam:passrole", "*"), 1),
            (
                "PassRole on every role",
                allow("iam:PassRole", "arn:aws:iam::*:role/*"),
                1,
            ),
            (
                "PassRole to one service",
                json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*", "Condition": passed_to}),
                0,
            ),
            (
                "PassRole of one role",
                allow("iam:PassRole", "arn:aws:iam::123456789012:role/app"),
                0,
            ),
            (
                "PassRole outside NotResource",
                json!({"Effect": "Allow", "Action": "iam:PassRole", "NotResource": "arn:aws:iam::1:role/x"}),
                1,
            ),
            (
                "CreatePolicyVersion on one policy",
                allow("iam:CreatePolicyVersion", "arn:aws:iam::1:policy/p"),
                1,
            ),
            (
                "keys of every user",
                allow("iam:CreateAccessKey", "arn:aws:iam::*:user/*"),
                1,
            ),
            (
                "keys of itself",
                allow("iam:CreateAccessKey", "arn:aws:iam::*:user/${aws:username}"),
                0,
            ),
            ("attach anything", allow("iam:AttachRolePolicy", "*"), 1),
            (
                "attach one policy",
                json!({"Effect": "Allow", "Action": "iam:AttachRolePolicy", "Resource": "*", "Condition": policy_arn}),
                0,
            ),
            ("put any inline policy", allow("iam:Put*", "*"), 1),
            ("assume any role", allow("sts:AssumeRole", "*"), 1),
            (
                "assume one role",
                allow("sts:AssumeRole", "arn:aws:iam::1:role/deploy"),
                0,
            ),
            ("read IAM", allow("iam:Get*", "*"), 0),
            (
                "PassRole on users passes no role",
                allow("iam:PassRole", "arn:aws:iam::*:user/*"),
                0,
            ),
            (
                "a policy version of a role",
                allow("iam:CreatePolicyVersion", "arn:aws:iam::1:role/x"),
                0,
            ),
            (
                "code of any function",
                allow("lambda:UpdateFunctionCode", "arn:aws:lambda:*:1:function:*"),
                1,
            ),
            (
                "deny",
                json!({"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}),
                0,
            ),
            (
                "two patterns, two concerns",
                json!({"Effect": "Allow", "Action": ["iam:PassRole", "iam:AddUserToGroup"], "Resource": "*"}),
                2,
            ),
        ];
        for (name, statement, want) in cases {
            let got = inline(statement);
            assert!(got.iter().all(|c| c.rule == ESC), "{name}: {got:?}");
            assert_eq!(got.len(), want, "{name}: {got:?}");
        }
        let messages = |statement| -> Vec<String> {
            inline(statement).into_iter().map(|c| c.message).collect()
        };
        assert_eq!(
            messages(allow("iam:PassRole", "*")),
            [
                "allows `iam:PassRole` on `*` without a condition: it can hand any role to a \
              service it controls"
            ]
        );
        assert_eq!(
            messages(allow("iam:Put*", "*")),
            [
                "allows `iam:Put*` on `*`, which grants the escalation permissions \
              `iam:PutUserPolicy`, `iam:PutGroupPolicy` and `iam:PutRolePolicy`"
            ]
        );
        assert_eq!(
            messages(allow("iam:Pass*", "*")),
            [
                "allows `iam:Pass*` on `*` without a condition, which grants `iam:PassRole`: it \
              can hand any role to a service it controls"
            ]
        );
        assert_eq!(
            messages(allow("iam:CreateAccessKey", "arn:aws:iam::*:user/*")),
            [
                "allows `iam:CreateAccessKey` on `arn:aws:iam::*:user/*`: it can mint keys for \
              other users and act as them"
            ]
        );
    }
}
