//! How bindings stand for IAM policies: a managed policy attached by ARN, an
//! inline policy named `inline:<PolicyName>` with its document, or a user's
//! membership of a group, `group:<GroupName>`, through which the user holds
//! whatever the group's policies grant.

use nhi_provider_sdk::{Binding, Policy, ProviderError};

/// Binding role prefix of inline policies: `inline:<PolicyName>`.
pub(crate) const INLINE_PREFIX: &str = "inline:";

/// Binding role prefix of group memberships: `group:<GroupName>`.
pub(crate) const GROUP_PREFIX: &str = "group:";

/// What reviewers read beside a planned group membership: the binding grants
/// nothing by itself, the group's policies do.
pub(crate) const GROUP_ADVICE: &str = "Membership of an IAM group grants the user everything the \
    group's attached and inline policies grant, now and as they change later; review the \
    group's policies (`aws iam list-attached-group-policies`, `list-group-policies`) before \
    approving";

/// What a binding stands for in IAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant<'a> {
    /// A managed policy attachment, by ARN.
    Managed(&'a str),
    /// An inline policy, by name, with its document.
    Inline { name: &'a str, document: &'a Policy },
    /// Membership of a group (users only), by group name.
    Group(&'a str),
}

/// The grant a binding stands for, or why it cannot exist in IAM.
pub(crate) fn grant(binding: &Binding) -> Result<Grant<'_>, ProviderError> {
    let bad = |why: &str| {
        ProviderError::Other(format!(
            "binding `{}` cannot exist in IAM: {why}",
            binding.role
        ))
    };
    if binding.resource != "*" {
        return Err(bad("IAM policies are not bound to one resource; use `*`"));
    }
    if let Some(name) = binding.role.strip_prefix(INLINE_PREFIX) {
        let document = binding
            .policy
            .as_ref()
            .ok_or_else(|| bad("an inline policy needs a `policy` document"))?;
        if name.is_empty() {
            return Err(bad("an inline policy needs a name after `inline:`"));
        }
        return Ok(Grant::Inline { name, document });
    }
    if let Some(name) = binding.role.strip_prefix(GROUP_PREFIX) {
        if binding.policy.is_some() {
            return Err(bad(
                "a group membership takes no `policy` document; the group's policies apply",
            ));
        }
        // IAM's rule for group names: 1 to 128 of letters, digits and `+=,.@_-`
        // (CreateGroup, <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateGroup.html>).
        let valid = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !valid {
            return Err(bad(
                "a group name is 1 to 128 letters, digits and `+=,.@_-`",
            ));
        }
        return Ok(Grant::Group(name));
    }
    if !binding.role.starts_with("arn:") {
        return Err(bad(
            "the role must be a managed policy ARN, `inline:<policy name>` or `group:<group name>`",
        ));
    }
    if binding.policy.is_some() {
        return Err(bad(
            "a managed policy attachment takes no `policy` document",
        ));
    }
    Ok(Grant::Managed(&binding.role))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn grants() {
        let doc = Policy::new(&json!({"Statement": []}));
        let b = |role: &str, resource: &str, policy: Option<Policy>| Binding {
            role: role.into(),
            resource: resource.into(),
            policy,
        };
        let managed = b("arn:aws:iam::aws:policy/ReadOnlyAccess", "*", None);
        assert_eq!(
            grant(&managed).unwrap(),
            Grant::Managed("arn:aws:iam::aws:policy/ReadOnlyAccess")
        );
        let inline = b("inline:s3", "*", Some(doc.clone()));
        assert_eq!(
            grant(&inline).unwrap(),
            Grant::Inline {
                name: "s3",
                document: &doc
            }
        );
        assert_eq!(
            grant(&b("group:admins", "*", None)).unwrap(),
            Grant::Group("admins")
        );
        for bad in [
            b("group:", "*", None),
            b("group:a b", "*", None),
            b("group:admins", "*", Some(doc.clone())),
            b("group:admins", "team", None),
            b("inline:s3", "*", None),
            b("inline:", "*", Some(doc.clone())),
            b("viewer", "*", None),
            b("arn:aws:iam::aws:policy/X", "bucket", None),
            b("arn:aws:iam::aws:policy/X", "*", Some(doc.clone())),
        ] {
            assert!(grant(&bad).is_err(), "{bad:?}");
        }
    }
}
