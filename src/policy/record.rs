//! The policy a plan was judged by, as the plan records it: thresholds,
//! enforcement by rule, exceptions, and the Rego bundle's digest. It comes from
//! the configuration's `policy:` section; apply judges the plan again with it.

use std::collections::BTreeMap;

use nhi_provider_sdk::{Address, Age, Digest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Enforcement, ExceptionUse};

/// Contract: `enforcement` keys are rule ids (built-in or `rego:…`) or
/// `default`, which sets every built-in rule not named; unnamed rules are
/// advisory (built-in) or as their Rego rule says (`deny`: hard, `warn`:
/// advisory). `exceptions` are in configuration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    /// Keys older than this are findings whatever their `rotate_after` says.
    pub key_max_age: Age,
    /// Active keys unused this long (or never used and this old) are findings.
    pub unused_after: Age,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enforcement: BTreeMap<String, Enforcement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
    /// The org policies the plan was judged with; `None`: built-in rules only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego: Option<RegoRecord>,
}

/// A finding the organisation accepts for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub rule: String,
    /// The object, or an identity for everything it holds.
    pub address: Address,
    pub justification: String,
    /// The last day (UTC) it applies; after it the finding counts again.
    pub expires: jiff::civil::Date,
}

/// A Rego bundle: the `.rego` files under the configured paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegoRecord {
    /// The paths as configured, relative to the configuration's directory.
    pub paths: Vec<String>,
    /// `sha256:` over the bundle's files (see `policy::rego`); apply and a
    /// trust policy's `policy_bundle` compare it.
    pub digest: Digest,
}

pub const DEFAULT_KEY_MAX_AGE: &str = "90d";
pub const DEFAULT_UNUSED_AFTER: &str = "45d";

impl Default for PolicyRecord {
    fn default() -> Self {
        Self {
            key_max_age: DEFAULT_KEY_MAX_AGE
                .parse()
                .expect("invariant: the default is an age"),
            unused_after: DEFAULT_UNUSED_AFTER
                .parse()
                .expect("invariant: the default is an age"),
            enforcement: BTreeMap::new(),
            exceptions: Vec::new(),
            rego: None,
        }
    }
}

impl PolicyRecord {
    /// The enforcement of a built-in rule.
    pub fn builtin_enforcement(&self, rule: &str) -> Enforcement {
        self.enforcement
            .get(rule)
            .or_else(|| self.enforcement.get("default"))
            .copied()
            .unwrap_or(Enforcement::Advisory)
    }

    /// The enforcement of an org policy's rule whose own default is `default`.
    pub fn rego_enforcement(&self, rule: &str, default: Enforcement) -> Enforcement {
        self.enforcement.get(rule).copied().unwrap_or(default)
    }

    /// The first exception for `rule` that covers `address` on `today`: the
    /// same address, or an identity above it.
    pub fn exception(
        &self,
        rule: &str,
        address: &Address,
        today: jiff::civil::Date,
    ) -> Option<ExceptionUse> {
        self.exceptions
            .iter()
            .find(|e| e.rule == rule && e.expires >= today && covers(&e.address, address))
            .map(|e| ExceptionUse {
                justification: e.justification.clone(),
                expires: e.expires,
            })
    }
}

fn covers(exception: &Address, address: &Address) -> bool {
    let (e, a) = (exception.as_str(), address.as_str());
    a == e || (a.starts_with(e) && a.as_bytes().get(e.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_covers_its_object_and_what_an_identity_holds_until_it_expires() {
        let day = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
        let identity = Address::provider("local", "demo").identity("ci");
        let record = PolicyRecord {
            exceptions: vec![Exception {
                rule: "admin-privilege".into(),
                address: identity.clone(),
                justification: "migration".into(),
                expires: day("2026-12-31"),
            }],
            ..PolicyRecord::default()
        };
        let binding = identity.binding("admin", "*");
        let other = Address::provider("local", "demo").identity("ci2");
        assert!(
            record
                .exception("admin-privilege", &binding, day("2026-12-31"))
                .is_some()
        );
        assert!(
            record
                .exception("admin-privilege", &identity, day("2026-01-01"))
                .is_some()
        );
        assert!(
            record
                .exception("admin-privilege", &binding, day("2027-01-01"))
                .is_none()
        );
        assert!(
            record
                .exception("key-max-age", &binding, day("2026-01-01"))
                .is_none()
        );
        assert!(
            record
                .exception("admin-privilege", &other, day("2026-01-01"))
                .is_none()
        );
    }
}
