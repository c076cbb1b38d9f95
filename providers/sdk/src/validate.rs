//! Offline validation: what a provider type is asked about declared identities
//! before any live state is read. One request carries any number of identities,
//! borrowed from the configuration, and one response lists every problem, so a
//! provider behind a pipe can answer a whole configuration at once.

use std::collections::BTreeMap;

use crate::{Binding, Tags};

/// Declared identities to check, all of one provider block. Serialises as the
/// protocol's `validate` params, straight from the borrowed configuration.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ValidateRequest<'a> {
    pub identities: &'a [DeclaredIdentity<'a>],
}

/// One declared identity, as far as the configuration's own checks got. A field
/// is `None` where those checks already failed (the engine reports that); check
/// what is there. Serialises as the protocol's `Declared`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DeclaredIdentity<'a> {
    /// One of the type's `kinds()`; `None` when the declared kind is unknown.
    pub kind: Option<&'a str>,
    pub name: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub description: &'a str,
    pub tags: &'a Tags,
    /// The identity's `attributes:` as written (an empty mapping when absent).
    pub attributes: Option<&'a BTreeMap<String, serde_json::Value>>,
    /// Names of the keys that parsed, in order.
    pub key_names: &'a [&'a str],
    /// Bindings that parsed, in order, their policies normalised by
    /// `ProviderType::normalize_policy`.
    pub bindings: &'a [Binding],
}

/// Every problem found, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateResponse {
    pub problems: Vec<ValidationProblem>,
}

/// One problem: which identity (index into the request), which part of it, and
/// why, in a phrase the engine shows under the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationProblem {
    pub identity: usize,
    pub part: DeclaredPart,
    pub reason: String,
}

/// The part of a declared identity a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredPart {
    /// The name is not one the cloud accepts for the kind.
    Name,
    /// The attributes are not valid for the kind.
    Attributes,
    /// Binding `n` (index into `bindings`) cannot exist in the cloud.
    Binding(usize),
    /// The tags are not accepted (reserved keys, value syntax, limits).
    Tags,
    /// The owner and description cannot be stored where the provider keeps them.
    Description,
}

impl ValidateResponse {
    /// Adds a problem when `check` failed.
    pub fn check(&mut self, identity: usize, part: DeclaredPart, check: Result<(), String>) {
        if let Err(reason) = check {
            self.problems.push(ValidationProblem {
                identity,
                part,
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{DeclaredIdentity, ValidateRequest};
    use crate::plugin::wire::ValidateParams;
    use crate::{Binding, Tags};

    /// nhi sends the borrowed request; plugins read `ValidateParams`.
    #[test]
    fn a_borrowed_validate_request_reads_as_the_protocols_params() {
        let mut tags = Tags::new();
        tags.insert("team".into(), "a".into());
        let attributes = BTreeMap::from([("x".to_owned(), serde_json::json!(1))]);
        let bindings = [Binding {
            role: "reader".into(),
            resource: "bucket/b".into(),
            policy: None,
        }];
        let declared = [
            DeclaredIdentity {
                kind: Some("service_account"),
                name: Some("svc"),
                owner: Some("o@example.com"),
                description: "d",
                tags: &tags,
                attributes: Some(&attributes),
                key_names: &["primary"],
                bindings: &bindings,
            },
            DeclaredIdentity {
                kind: None,
                name: None,
                owner: None,
                description: "",
                tags: &tags,
                attributes: None,
                key_names: &[],
                bindings: &[],
            },
        ];
        let sent = serde_json::to_string(&ValidateRequest {
            identities: &declared,
        })
        .unwrap();
        let read: ValidateParams = serde_json::from_str(&sent).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), sent);
        assert_eq!(read.identities[0].key_names, ["primary"]);
        assert_eq!(read.identities[1].name, None);
    }
}
