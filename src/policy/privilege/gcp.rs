//! Google Cloud IAM: basic and administrator roles, and the roles that act as
//! every service account of the project when granted on the project itself.
//! The gcp provider binds on the project: `resource` is `*`, or
//! `condition:<title>` when the grant holds only under a condition, which nhi
//! does not evaluate.

use nhi_provider_sdk::Binding;

use super::Concern;
use crate::policy::Severity;
use crate::policy::catalogue::{ADMIN_PRIVILEGE, PRIVILEGE_ESCALATION};

const PROJECT: &str = "*";
const CONDITION_PREFIX: &str = "condition:";

/// Roles that let a member act as, or mint credentials for, service accounts:
/// on the project, every service account in it. Sources: CIS GCP Foundations
/// 1.6 (no `serviceAccountUser` or `serviceAccountTokenCreator` at project
/// level); Google's "Roles for service account authentication" (key and
/// workload-identity impersonation); Rhino Security Labs, "Privilege
/// Escalation in Google Cloud Platform" (`iam.serviceAccountKeys.create`,
/// `getAccessToken`, `actAs`).
const IMPERSONATION: &[(&str, &str)] = &[
    (
        "roles/iam.serviceAccountUser",
        "it can act as every service account in the project",
    ),
    (
        "roles/iam.serviceAccountTokenCreator",
        "it can mint tokens for every service account in the project",
    ),
    (
        "roles/iam.serviceAccountKeyAdmin",
        "it can mint keys for every service account in the project",
    ),
    (
        "roles/iam.workloadIdentityUser",
        "it can impersonate every service account in the project",
    ),
];

/// Administrator roles graver than the rest: they rewrite the project's IAM
/// policy, so they can grant themselves `roles/owner`.
const POLICY_ADMINS: &[&str] = &[
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.securityAdmin",
];

pub(super) fn binding_concerns(binding: &Binding, out: &mut Vec<Concern>) {
    let role = binding.role.as_str();
    // Cheap first: most roles are neither basic, nor administrator, nor IAM's.
    let Some(name) = role.strip_prefix("roles/") else {
        // Custom roles (`projects/…/roles/…`): their permissions are not in the model.
        return;
    };
    // `roles/compute.instanceAdmin.v1`: a version does not change what a role is.
    let unversioned = match name.rsplit_once('.') {
        Some((head, v))
            if v.len() > 1 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => name,
    };
    let admin = name == "owner"
        || name == "editor"
        || unversioned.ends_with("Admin")
        || unversioned.rsplit('.').next() == Some("admin");
    if !admin && !name.starts_with("iam.") {
        return;
    }
    let condition = binding.resource.strip_prefix(CONDITION_PREFIX);
    let on_project = binding.resource == PROJECT || condition.is_some();
    let under = match condition {
        Some(title) => format!(" under the condition `{title}`, which nhi does not evaluate"),
        None => String::new(),
    };
    if let Some((_, how)) = IMPERSONATION.iter().find(|(r, _)| *r == role) {
        if on_project {
            // A condition can narrow the grant to some service accounts.
            let severity = if condition.is_some() {
                Severity::Medium
            } else {
                Severity::High
            };
            out.push(Concern::at(
                PRIVILEGE_ESCALATION,
                severity,
                format!("grants `{role}` on the project{under}: {how}"),
            ));
        }
        return;
    }
    if !admin {
        return;
    }
    let (severity, what) = match name {
        "owner" => (Severity::Critical, "every permission in the project"),
        "editor" => (
            Severity::High,
            "write access to almost every resource in the project",
        ),
        _ if POLICY_ADMINS.contains(&role) => (
            Severity::Critical,
            "it can grant itself any role, `roles/owner` included",
        ),
        _ => (Severity::High, "an administrator role"),
    };
    let on = if on_project {
        "the project".to_owned()
    } else {
        format!("`{}`", binding.resource)
    };
    out.push(Concern::at(
        ADMIN_PRIVILEGE,
        severity,
        format!("grants `{role}` on {on}{under} ({what})"),
    ));
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::Policy;
    use serde_json::json;

    use super::*;

    const ADMIN: &str = ADMIN_PRIVILEGE;
    const ESC: &str = PRIVILEGE_ESCALATION;

    type Expected = &'static [(&'static str, Severity)];

    fn concerns(role: &str, resource: &str) -> Vec<Concern> {
        let policy = resource.starts_with(CONDITION_PREFIX).then(|| {
            Policy::from(json!({"expression": "request.time < timestamp('2027-01-01T00:00:00Z')"}))
        });
        let mut out = Vec::new();
        binding_concerns(
            &Binding {
                role: role.into(),
                resource: resource.into(),
                policy,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn basic_administrator_and_impersonation_roles() {
        use Severity::{Critical, High, Medium};
        let sa = "projects/p/serviceAccounts/ci@p.iam.gserviceaccount.com";
        let cases: &[(&str, &str, Expected)] = &[
            ("roles/owner", "*", &[(ADMIN, Critical)]),
            ("roles/editor", "*", &[(ADMIN, High)]),
            ("roles/owner", "condition:until-2027", &[(ADMIN, Critical)]),
            ("roles/storage.admin", "*", &[(ADMIN, High)]),
            ("roles/compute.instanceAdmin.v1", "*", &[(ADMIN, High)]),
            ("roles/compute.viewer.v1", "*", &[]),
            ("roles/compute.instanceAdmin", "*", &[(ADMIN, High)]),
            ("roles/iam.serviceAccountAdmin", "*", &[(ADMIN, High)]),
            (
                "roles/resourcemanager.projectIamAdmin",
                "*",
                &[(ADMIN, Critical)],
            ),
            ("roles/iam.securityAdmin", "*", &[(ADMIN, Critical)]),
            ("roles/viewer", "*", &[]),
            ("roles/storage.objectViewer", "*", &[]),
            ("roles/iam.serviceAccountViewer", "*", &[]),
            ("roles/iam.serviceAccountUser", "*", &[(ESC, High)]),
            ("roles/iam.serviceAccountTokenCreator", "*", &[(ESC, High)]),
            ("roles/iam.serviceAccountKeyAdmin", "*", &[(ESC, High)]),
            ("roles/iam.workloadIdentityUser", "*", &[(ESC, High)]),
            (
                "roles/iam.serviceAccountUser",
                "condition:ci-only",
                &[(ESC, Medium)],
            ),
            ("roles/iam.serviceAccountUser", sa, &[]),
            ("roles/iam.serviceAccountKeyAdmin", sa, &[]),
            // Custom roles: their permissions are not in the model.
            ("projects/p/roles/superAdmin", "*", &[]),
        ];
        for (role, resource, want) in cases {
            let got: Vec<(&str, Severity)> = concerns(role, resource)
                .iter()
                .map(|c| (c.rule, c.severity.expect("gcp concerns say their severity")))
                .collect();
            assert_eq!(got, *want, "{role} on {resource}");
        }
    }

    #[test]
    fn messages_say_the_reach_and_the_condition() {
        let cases = [
            (
                "roles/owner",
                "*",
                "grants `roles/owner` on the project (every permission in the project)",
            ),
            (
                "roles/owner",
                "condition:until-2027",
                "grants `roles/owner` on the project under the condition `until-2027`, which nhi \
                 does not evaluate (every permission in the project)",
            ),
            (
                "roles/iam.serviceAccountUser",
                "*",
                "grants `roles/iam.serviceAccountUser` on the project: it can act as every \
                 service account in the project",
            ),
        ];
        for (role, resource, want) in cases {
            assert_eq!(concerns(role, resource)[0].message, want);
        }
    }
}
