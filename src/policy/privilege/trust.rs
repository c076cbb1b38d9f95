//! AWS role trust policies (the `trust_policy` attribute) open to anyone, to
//! another account without `sts:ExternalId`, or to any GitHub repository.

use nhi_provider_sdk::Identity;
use serde_json::Value;

use super::document::{Statement, statements, strings};
use super::{Concern, matches};
use crate::policy::Severity;
use crate::policy::catalogue::OPEN_TRUST;

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

    const OPEN: &str = OPEN_TRUST;

    type Found = Vec<(&'static str, Option<Severity>)>;

    fn found(out: &[Concern]) -> Found {
        out.iter().map(|c| (c.rule, c.severity)).collect()
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
