//! The AWS permissions that let an identity make itself more powerful, with
//! what it takes for each to escalate. Sources, cited by method and not copied:
//! Rhino Security Labs, "AWS IAM Privilege Escalation – Methods and Mitigation"
//! (methods 1–21); Prowler's `iam_policy_allows_privilege_escalation` and
//! `iam_inline_policy_allows_privilege_escalation` checks (their list of
//! escalating permission combinations) and `iam_no_custom_policy_permissive_role_assumption`
//! (`sts:AssumeRole` on `*`).

/// Which resources of a grant make the permission escalate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// Any resource: the target can be the identity itself.
    Any,
    /// A resource that is not the caller itself (`${aws:username}`).
    OtherUsers,
    /// Every resource, or every one of a type (`*`, `…:*`, `…/*`).
    Broad,
}

/// What in a statement's `Condition` keeps the permission from escalating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exempt {
    Never,
    /// Any condition (e.g. `iam:PassedToService`): judged as deliberate.
    AnyCondition,
    /// A condition on this key (e.g. `iam:PolicyARN` pins what can be attached).
    Key(&'static str),
}

/// One escalation permission.
#[derive(Debug, Clone, Copy)]
pub(super) struct Escalation {
    /// The action, as IAM names it.
    pub action: &'static str,
    /// The type of resource it acts on: how the resource part of its ARNs
    /// (after the account) starts, e.g. `role/`.
    pub target: &'static str,
    pub reach: Reach,
    pub exempt: Exempt,
    /// What it lets the identity do, completing "…: <how>".
    pub how: &'static str,
}

const fn entry(
    action: &'static str,
    target: &'static str,
    reach: Reach,
    exempt: Exempt,
    how: &'static str,
) -> Escalation {
    Escalation {
        action,
        target,
        reach,
        exempt,
        how,
    }
}

/// Every escalation permission, by Rhino method (R) and Prowler's list (P).
pub(super) const ESCALATIONS: &[Escalation] = &[
    // R3, R15–R17, R19, R21; P: with ec2:RunInstances, lambda:CreateFunction,
    // glue:CreateDevEndpoint, cloudformation:CreateStack, datapipeline:*.
    entry(
        "iam:PassRole",
        "role/",
        Reach::Broad,
        Exempt::AnyCondition,
        "it can hand any role to a service it controls",
    ),
    // R1
    entry(
        "iam:CreatePolicyVersion",
        "policy/",
        Reach::Any,
        Exempt::Never,
        "it can rewrite a managed policy, its own included, as the default version",
    ),
    // R2
    entry(
        "iam:SetDefaultPolicyVersion",
        "policy/",
        Reach::Any,
        Exempt::Never,
        "it can switch a managed policy to a more permissive version",
    ),
    // R4
    entry(
        "iam:CreateAccessKey",
        "user/",
        Reach::OtherUsers,
        Exempt::Never,
        "it can mint keys for other users and act as them",
    ),
    // R5
    entry(
        "iam:CreateLoginProfile",
        "user/",
        Reach::OtherUsers,
        Exempt::Never,
        "it can give other users a console password and sign in as them",
    ),
    // R6
    entry(
        "iam:UpdateLoginProfile",
        "user/",
        Reach::OtherUsers,
        Exempt::Never,
        "it can change other users' console passwords and sign in as them",
    ),
    // R7
    entry(
        "iam:AttachUserPolicy",
        "user/",
        Reach::Any,
        Exempt::Key("iam:PolicyARN"),
        "it can attach any managed policy, `AdministratorAccess` included, to a user",
    ),
    // R8
    entry(
        "iam:AttachGroupPolicy",
        "group/",
        Reach::Any,
        Exempt::Key("iam:PolicyARN"),
        "it can attach any managed policy, `AdministratorAccess` included, to a group",
    ),
    // R9
    entry(
        "iam:AttachRolePolicy",
        "role/",
        Reach::Any,
        Exempt::Key("iam:PolicyARN"),
        "it can attach any managed policy, `AdministratorAccess` included, to a role",
    ),
    // R10
    entry(
        "iam:PutUserPolicy",
        "user/",
        Reach::Any,
        Exempt::Never,
        "it can write a user an inline policy that grants anything",
    ),
    // R11
    entry(
        "iam:PutGroupPolicy",
        "group/",
        Reach::Any,
        Exempt::Never,
        "it can write a group an inline policy that grants anything",
    ),
    // R12
    entry(
        "iam:PutRolePolicy",
        "role/",
        Reach::Any,
        Exempt::Never,
        "it can write a role an inline policy that grants anything",
    ),
    // R13
    entry(
        "iam:AddUserToGroup",
        "group/",
        Reach::Any,
        Exempt::Never,
        "it can join a more powerful group",
    ),
    // R14
    entry(
        "iam:UpdateAssumeRolePolicy",
        "role/",
        Reach::Any,
        Exempt::Never,
        "it can rewrite who may assume a role, and then assume it",
    ),
    // R14 (the second half); P: sts:AssumeRole.
    entry(
        "sts:AssumeRole",
        "role/",
        Reach::Broad,
        Exempt::Never,
        "it can assume every role that trusts its account",
    ),
    // R18
    entry(
        "lambda:UpdateFunctionCode",
        "function:",
        Reach::Any,
        Exempt::Never,
        "it can run its own code as a function's execution role",
    ),
    // R20
    entry(
        "glue:UpdateDevEndpoint",
        "devEndpoint/",
        Reach::Any,
        Exempt::Never,
        "it can put its own SSH key on a Glue endpoint and act as the endpoint's role",
    ),
];

/// The services of [`ESCALATIONS`]: a document naming none of them (and no
/// wildcard) grants none of them, so it is not parsed.
pub(super) const SERVICES: &[&str] = &["iam", "sts", "lambda", "glue"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_escalation_is_of_a_listed_service_and_unique() {
        for (i, e) in ESCALATIONS.iter().enumerate() {
            let (service, name) = e.action.split_once(':').unwrap();
            assert!(SERVICES.contains(&service), "{}", e.action);
            assert!(!name.is_empty() && !name.contains('*'), "{}", e.action);
            assert!(
                !ESCALATIONS[..i].iter().any(|o| o.action == e.action),
                "{}",
                e.action
            );
        }
    }
}
