//! The local provider: free role names, of which `admin`, `owner` and
//! `editor` are an administrator's; roles named like IAM actions (`s3:*`) and
//! AWS-style policy documents are judged as AWS's are.

use nhi_provider_sdk::Binding;
use serde_json::Value;

use super::Concern;
use super::document::{Resources, action_concern, document_concerns};
use crate::policy::Severity;
use crate::policy::catalogue::ADMIN_PRIVILEGE;

pub(super) fn binding_concerns(binding: &Binding, out: &mut Vec<Concern>) {
    let role = binding.role.as_str();
    let severity = if role.eq_ignore_ascii_case("admin") || role.eq_ignore_ascii_case("owner") {
        Some(Severity::Critical)
    } else if role.eq_ignore_ascii_case("editor") {
        Some(Severity::High)
    } else {
        None
    };
    if let Some(severity) = severity {
        out.push(Concern::at(
            ADMIN_PRIVILEGE,
            severity,
            format!("grants `{role}` on `{}`", binding.resource),
        ));
    } else if role == "*" || role.ends_with(":*") {
        let resource = Value::String(binding.resource.clone());
        action_concern(role, &Resources::Listed(&resource), out);
    }
    if let Some(policy) = &binding.policy {
        document_concerns(policy.as_str(), out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::catalogue::{PRIVILEGE_ESCALATION as ESC, WILDCARD_ACTION as WILD};

    const ADMIN: &str = ADMIN_PRIVILEGE;

    type Found = Vec<(&'static str, Option<Severity>)>;

    fn concerns(
        role: &str,
        resource: &str,
        policy: Option<Value>,
    ) -> Vec<(&'static str, Option<Severity>)> {
        let mut out = Vec::new();
        binding_concerns(
            &Binding {
                role: role.into(),
                resource: resource.into(),
                policy: policy.map(Into::into),
            },
            &mut out,
        );
        out.iter().map(|c| (c.rule, c.severity)).collect()
    }

    fn document(action: &str, resource: &str) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": [action], "Resource": resource}]
        })
    }

    #[test]
    fn roles_and_documents() {
        let critical = Some(Severity::Critical);
        let high = Some(Severity::High);
        let medium = Some(Severity::Medium);
        let cases: Vec<(&str, &str, Option<Value>, Found)> = vec![
            ("admin", "*", None, vec![(ADMIN, critical)]),
            ("admin", "bucket/x", None, vec![(ADMIN, critical)]),
            ("owner", "project/web", None, vec![(ADMIN, critical)]),
            ("editor", "*", None, vec![(ADMIN, high)]),
            ("deployer", "project/web", None, vec![]),
            ("monitoring-viewer", "*", None, vec![]),
            ("s3:*", "bucket/x", None, vec![(WILD, medium)]),
            ("s3:*", "*", None, vec![(WILD, high)]),
            ("*", "*", None, vec![(ADMIN, None)]),
            // The benchmark's bindings.
            ("reader", "bucket/data-0001", None, vec![]),
            (
                "publisher",
                "queue/jobs-001",
                Some(document("sqs:SendMessage", "arn:aws:sqs:::jobs-001")),
                vec![],
            ),
            // The quickstart's.
            (
                "artifact-upload",
                "bucket/releases",
                Some(document("s3:PutObject", "arn:aws:s3:::releases/*")),
                vec![],
            ),
            (
                "publisher",
                "queue/x",
                Some(document("iam:PassRole", "*")),
                vec![(ESC, None)],
            ),
            (
                "publisher",
                "queue/x",
                Some(document("*", "*")),
                vec![(ADMIN, None)],
            ),
            (
                "publisher",
                "queue/x",
                Some(document("sqs:*", "*")),
                vec![(WILD, high)],
            ),
            (
                "admin",
                "*",
                Some(document("sqs:*", "*")),
                vec![(ADMIN, critical), (WILD, high)],
            ),
        ];
        for (role, resource, policy, want) in cases {
            assert_eq!(
                concerns(role, resource, policy),
                want,
                "{role} on {resource}"
            );
        }
    }
}
