//! What a grant or a trust policy lets an identity do, per provider type:
//! administrator and wildcard grants, privilege-escalation permissions, and
//! trust policies open to anyone. Pure: judged from the model alone.

use nhi_provider_sdk::{Binding, Identity};

use super::Severity;
use super::catalogue::ADMIN_PRIVILEGE;

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
}

/// The concerns of one binding of an identity of `kind`, for the provider type
/// `type_name`.
pub(crate) fn binding_concerns(
    type_name: &str,
    _kind: &str,
    binding: &Binding,
    out: &mut Vec<Concern>,
) {
    if type_name == "local" && binding.role == "admin" {
        out.push(Concern::new(
            ADMIN_PRIVILEGE,
            format!("grants `admin` on `{}`", binding.resource),
        ));
    }
}

/// The concerns of an identity's own attributes (e.g. an AWS role's trust policy).
pub(crate) fn identity_concerns(_type_name: &str, _identity: &Identity, _out: &mut Vec<Concern>) {}
