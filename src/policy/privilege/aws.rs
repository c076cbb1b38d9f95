//! AWS IAM: AWS managed policies that make an administrator, inline policy
//! documents (see [`super::document`]), and role trust policies open to anyone,
//! to another account without `sts:ExternalId`, or to any GitHub repository.

use nhi_provider_sdk::{Binding, Identity};
use serde_json::Value;

use super::document::{Statement, document_concerns, statements, strings};
use super::{Concern, matches};
use crate::policy::Severity;
use crate::policy::catalogue::{ADMIN_PRIVILEGE, OPEN_TRUST};

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

/// The attribute that holds a role's trust policy (the provider's `trust_policy`).
const TRUST_POLICY: &str = "trust_policy";
const PERMISSIONS_BOUNDARY: &str = "permissions_boundary";
const GITHUB_ISSUER: &str = "token.actions.githubusercontent.com";
const GITHUB_SUB: &str = "token.actions.githubusercontent.com:sub";

/// Condition keys that tie a `*` principal to known callers.
const CALLER_KEYS: &[&str] = &[
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOrgID",
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

pub(super) fn identity_concerns(identity: &Identity, out: &mut Vec<Concern>) {
    let Some(trust) = identity.attributes.get(TRUST_POLICY) else {
        return;
    };
    let own = identity
        .attributes
        .get(PERMISSIONS_BOUNDARY)
        .and_then(Value::as_str)
        .and_then(account_of);
    for statement in statements(trust) {
        trust_concerns(&statement, own, out);
    }
}

/// The account of an IAM ARN (`arn:aws:iam::123456789012:root`) or a bare
/// account id; `None` for AWS's own (`aws`) and for anything else.
fn account_of(principal: &str) -> Option<&str> {
    let account = match principal.strip_prefix("arn:") {
        Some(rest) => rest.split(':').nth(3)?,
        None => principal,
    };
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

fn trust_concerns(statement: &Statement<'_>, own: Option<&str>, out: &mut Vec<Concern>) {
    let tied = CALLER_KEYS.iter().any(|k| statement.conditions_on(k));
    if statement.get("NotPrincipal").is_some() {
        if !tied {
            out.push(Concern::new(
                OPEN_TRUST,
                "trusts every principal but its `NotPrincipal`: anyone in any AWS account can \
                 assume it"
                    .into(),
            ));
        }
        return;
    }
    let principal = statement.get("Principal");
    if principal.and_then(Value::as_str) == Some("*") {
        if !tied {
            out.push(open_to_anyone());
        }
        return;
    }
    let Some(principal) = principal.and_then(Value::as_object) else {
        return;
    };
    for aws in strings(principal.get("AWS")) {
        if aws == "*" {
            if !tied {
                out.push(open_to_anyone());
            }
        } else if let Some(account) = account_of(aws)
            && Some(account) != own
            && !statement.conditions_on("sts:ExternalId")
        {
            out.push(Concern::at(
                OPEN_TRUST,
                Severity::High,
                format!(
                    "trusts `{aws}` without an `sts:ExternalId` condition: account \
                     `{account}` may be another one (nhi cannot tell the role's own account)"
                ),
            ));
        }
    }
    for federated in strings(principal.get("Federated")) {
        let github = federated == GITHUB_ISSUER
            || federated.ends_with(&format!(":oidc-provider/{GITHUB_ISSUER}"));
        if github && statement.grants("sts:AssumeRoleWithWebIdentity") {
            github_concerns(statement, out);
        }
    }
}

fn open_to_anyone() -> Concern {
    Concern::new(
        OPEN_TRUST,
        "trusts `*` without a condition on the caller: anyone in any AWS account can assume it"
            .into(),
    )
}

/// A GitHub OIDC trust must pin the `sub` claim to repositories of one
/// organisation at least; a negated or organisation-wildcard `sub` does not.
fn github_concerns(statement: &Statement<'_>, out: &mut Vec<Concern>) {
    let mut pinned = false;
    for (operator, key, values) in statement.conditions() {
        if !key.eq_ignore_ascii_case(GITHUB_SUB) {
            continue;
        }
        let open = if operator.contains("Not") {
            Some(operator)
        } else {
            strings(Some(values)).find(|v| !pins_organisation(v))
        };
        if let Some(open) = open {
            out.push(Concern::new(
                OPEN_TRUST,
                format!(
                    "trusts GitHub's OIDC issuer with `sub` `{open}`, which does not pin an \
                     organisation: repositories of others can assume it"
                ),
            ));
            return;
        }
        pinned = true;
    }
    if !pinned {
        out.push(Concern::new(
            OPEN_TRUST,
            format!(
                "trusts GitHub's OIDC issuer without a condition on `{GITHUB_SUB}`: any \
                 repository on GitHub can assume it"
            ),
        ));
    }
}

/// Whether a `sub` pattern names one organisation: `repo:<org>/…` with no
/// wildcard in `<org>`; other claims (custom `sub` templates) are judged
/// pinned unless they start with a wildcard.
fn pins_organisation(sub: &str) -> bool {
    match sub.strip_prefix("repo:") {
        Some(rest) => {
            let org = rest.split(['/', ':']).next().unwrap_or_default();
            !org.is_empty() && !org.contains(['*', '?']) && rest[org.len()..].starts_with('/')
        }
        None => !sub.is_empty() && !sub.starts_with(['*', '?']) && !matches(sub, "repo:x/y"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nhi_provider_sdk::Tags;
    use serde_json::json;

    use super::*;
    use crate::policy::catalogue::{PRIVILEGE_ESCALATION as ESC, WILDCARD_ACTION as WILD};

    const ADMIN: &str = ADMIN_PRIVILEGE;
    const OPEN: &str = OPEN_TRUST;

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

    fn role(trust: Value, boundary: Option<&str>) -> Vec<Concern> {
        let mut attributes = BTreeMap::new();
        let mut document = json!({"Version": "2012-10-17"});
        document["Statement"] = trust;
        attributes.insert(TRUST_POLICY.to_owned(), document);
        if let Some(arn) = boundary {
            attributes.insert(PERMISSIONS_BOUNDARY.to_owned(), json!(arn));
        }
        let identity = Identity {
            name: "r".into(),
            kind: "role".into(),
            owner: "o@example.com".into(),
            description: String::new(),
            tags: Tags::default(),
            attributes,
        };
        let mut out = Vec::new();
        identity_concerns(&identity, &mut out);
        out
    }

    fn trusts(principal: Value, condition: Option<Value>) -> Value {
        let mut statement = json!({"Effect": "Allow", "Action": "sts:AssumeRole"});
        statement["Principal"] = principal;
        if let Some(condition) = condition {
            statement["Condition"] = condition;
        }
        statement
    }

    fn github(condition: Option<Value>) -> Value {
        let mut statement = json!({
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:assumerolewithwebidentity"
        });
        if let Some(condition) = condition {
            statement["Condition"] = condition;
        }
        statement
    }

    #[test]
    fn trust_policies_open_to_anyone() {
        let high = Some(Severity::High);
        let aud = json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}});
        let cases: Vec<(&str, Value, Option<&str>, Found)> = vec![
            (
                "a service",
                trusts(json!({"Service": "ec2.amazonaws.com"}), None),
                None,
                vec![],
            ),
            ("anyone", trusts(json!("*"), None), None, vec![(OPEN, None)]),
            (
                "any AWS principal",
                trusts(json!({"AWS": "*"}), None),
                None,
                vec![(OPEN, None)],
            ),
            (
                "any principal of the organisation",
                trusts(
                    json!({"AWS": "*"}),
                    Some(json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})),
                ),
                None,
                vec![],
            ),
            (
                "another account",
                trusts(json!({"AWS": "arn:aws:iam::111122223333:root"}), None),
                None,
                vec![(OPEN, high)],
            ),
            (
                "a bare account id",
                trusts(json!({"AWS": "111122223333"}), None),
                None,
                vec![(OPEN, high)],
            ),
            (
                "a role of another account",
                trusts(json!({"AWS": ["arn:aws:iam::111122223333:role/x"]}), None),
                None,
                vec![(OPEN, high)],
            ),
            (
                "another account with an external id",
                trusts(
                    json!({"AWS": "arn:aws:iam::111122223333:root"}),
                    Some(json!({"StringEquals": {"sts:ExternalId": "x-123"}})),
                ),
                None,
                vec![],
            ),
            (
                "its own account, known from its boundary",
                trusts(json!({"AWS": "arn:aws:iam::111122223333:root"}), None),
                Some("arn:aws:iam::111122223333:policy/boundary"),
                vec![],
            ),
            (
                "not its own account",
                trusts(json!({"AWS": "arn:aws:iam::111122223333:root"}), None),
                Some("arn:aws:iam::aws:policy/ReadOnlyAccess"),
                vec![(OPEN, high)],
            ),
            (
                "github, any repository",
                github(None),
                None,
                vec![(OPEN, None)],
            ),
            (
                "github, audience only",
                github(Some(aud)),
                None,
                vec![(OPEN, None)],
            ),
            (
                "github, one branch",
                github(Some(
                    json!({"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"}}),
                )),
                None,
                vec![],
            ),
            (
                "github, an organisation",
                github(Some(
                    json!({"StringLike": {"token.actions.githubusercontent.com:sub": ["repo:acme/*"]}}),
                )),
                None,
                vec![],
            ),
            (
                "github, every organisation",
                github(Some(
                    json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}),
                )),
                None,
                vec![(OPEN, None)],
            ),
            (
                "github, organisations by wildcard",
                github(Some(
                    json!({"StringLike": {"token.actions.githubusercontent.com:sub": ["repo:acme/app:*", "repo:ac*/app:*"]}}),
                )),
                None,
                vec![(OPEN, None)],
            ),
            (
                "github, negated",
                github(Some(
                    json!({"StringNotLike": {"token.actions.githubusercontent.com:sub": "repo:evil/*"}}),
                )),
                None,
                vec![(OPEN, None)],
            ),
            (
                "deny",
                json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}),
                None,
                vec![],
            ),
            (
                "NotPrincipal",
                json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"}),
                None,
                vec![(OPEN, None)],
            ),
        ];
        for (name, trust, boundary, want) in cases {
            assert_eq!(found(&role(trust, boundary)), want, "{name}");
        }
        assert_eq!(
            role(github(None), None)[0].message,
            "trusts GitHub's OIDC issuer without a condition on \
             `token.actions.githubusercontent.com:sub`: any repository on GitHub can assume it"
        );
    }

    #[test]
    fn identities_without_a_trust_policy_have_none() {
        let identity = Identity {
            name: "u".into(),
            kind: "user".into(),
            owner: "o@example.com".into(),
            description: String::new(),
            tags: Tags::default(),
            attributes: BTreeMap::new(),
        };
        let mut out = Vec::new();
        identity_concerns(&identity, &mut out);
        assert!(out.is_empty());
    }
}
