//! IAM policy documents as IAM evaluates them, for the AWS provider's inline
//! policies and the AWS-style documents of local bindings: administrator and
//! wildcard grants, and the escalation permissions of [`ESCALATIONS`].
//!
//! Semantics kept: `Statement` is one statement or a list; `Action`,
//! `NotAction`, `Resource` and `NotResource` are a string or a list; only
//! `Allow` grants; `NotAction` grants every action it does not name and
//! `NotResource` every resource; actions match case-insensitively with `*` and
//! `?`.

use std::fmt::Write as _;
use std::sync::LazyLock;

use memchr::memmem;

use serde_json::{Map, Value};

use super::escalation::{ESCALATIONS, Escalation, Exempt, Reach, SERVICES};
use super::{Concern, matches};
use crate::policy::Severity;
use crate::policy::catalogue::{ADMIN_PRIVILEGE, PRIVILEGE_ESCALATION, WILDCARD_ACTION};

/// The concerns of a policy document held as JSON text; text that is not a
/// document has none (the provider validates its documents).
pub(super) fn document_concerns(text: &str, out: &mut Vec<Concern>) {
    if !may_concern(text) {
        return;
    }
    if let Ok(document) = serde_json::from_str::<Value>(text) {
        value_concerns(&document, out);
    }
}

static NOT_ACTION: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"NotAction\""));

/// Whether the document can grant a wildcard or an escalation permission: it
/// holds a `*`, a `NotAction` or an action of a service of [`SERVICES`]. Most
/// documents do not, and are never parsed.
fn may_concern(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr(b'*', b).is_some()
        || NOT_ACTION.find(b).is_some()
        || memchr::memchr_iter(b':', b).any(|at| {
            SERVICES.iter().any(|s| {
                at > s.len()
                    && b[at - s.len() - 1] == b'"'
                    && b[at - s.len()..at].eq_ignore_ascii_case(s.as_bytes())
            })
        })
}

/// The concerns of a parsed policy document. An administrator grant subsumes
/// the escalation permissions it holds: they are not listed beside it.
pub(super) fn value_concerns(document: &Value, out: &mut Vec<Concern>) {
    let mut admin = false;
    for statement in statements(document) {
        admin |= statement.wildcard_concerns(out);
    }
    if !admin {
        for statement in statements(document) {
            statement.escalation_concerns(out);
        }
    }
}

/// The `Allow` statements of a document.
pub(super) fn statements(document: &Value) -> impl Iterator<Item = Statement<'_>> {
    let listed: &[Value] = match document.get("Statement") {
        Some(Value::Array(list)) => list,
        Some(one @ Value::Object(_)) => std::slice::from_ref(one),
        _ => &[],
    };
    listed.iter().filter_map(Statement::allow)
}

/// The strings of a policy element that is a string or a list of them.
pub(super) fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many) = match value {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(list)) => (None, Some(list.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

/// An `Allow` statement.
pub(super) struct Statement<'a> {
    pub object: &'a Map<String, Value>,
}

impl<'a> Statement<'a> {
    fn allow(value: &'a Value) -> Option<Self> {
        let object = value.as_object()?;
        let effect = object.get("Effect")?.as_str()?;
        effect
            .eq_ignore_ascii_case("Allow")
            .then_some(Self { object })
    }

    pub(super) fn get(&self, element: &str) -> Option<&'a Value> {
        self.object.get(element)
    }

    /// Whether the statement grants the action `name`.
    pub(super) fn grants(&self, name: &str) -> bool {
        if let Some(not) = self.get("NotAction") {
            return !strings(Some(not)).any(|p| matches(p, name));
        }
        strings(self.get("Action")).any(|p| matches(p, name))
    }

    /// Whether a `Condition` names `key` (condition keys ignore case).
    pub(super) fn conditions_on(&self, key: &str) -> bool {
        self.conditions()
            .any(|(_, k, _)| k.eq_ignore_ascii_case(key))
    }

    /// Every `(operator, key, values)` of the `Condition`.
    pub(super) fn conditions(&self) -> impl Iterator<Item = (&'a str, &'a str, &'a Value)> {
        self.get("Condition")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|operators| operators.iter())
            .filter_map(|(operator, keys)| Some((operator, keys.as_object()?)))
            .flat_map(|(operator, keys)| {
                keys.iter()
                    .map(move |(key, values)| (operator.as_str(), key.as_str(), values))
            })
    }

    fn resources(&self) -> Option<Resources<'a>> {
        if let Some(not) = self.get("NotResource") {
            return Some(Resources::AllBut(not));
        }
        self.get("Resource").map(Resources::Listed)
    }

    /// Pushes the statement's administrator and wildcard grants; `true` when
    /// one of them is an administrator's.
    fn wildcard_concerns(&self, out: &mut Vec<Concern>) -> bool {
        let Some(resources) = self.resources() else {
            return false;
        };
        let mut admin = false;
        if let Some(not) = self.get("NotAction") {
            // Every IAM escalation left in on every resource: it can make
            // itself anything, as `iam:*` can.
            if resources.all()
                && ESCALATIONS
                    .iter()
                    .filter(|e| e.action.starts_with("iam:"))
                    .all(|e| self.grants(e.action))
            {
                out.push(Concern::new(
                    ADMIN_PRIVILEGE,
                    format!(
                        "allows every action but {} (`NotAction`) on `*`, IAM's included: it \
                         can grant itself any permission",
                        listing(strings(Some(not)))
                    ),
                ));
                return true;
            }
            let severity = if resources.all() {
                Severity::High
            } else {
                Severity::Medium
            };
            out.push(Concern::at(
                WILDCARD_ACTION,
                severity,
                format!(
                    "allows every action but {} (`NotAction`) on {}",
                    listing(strings(Some(not))),
                    resources.shown(None)
                ),
            ));
            return false;
        }
        for pattern in strings(self.get("Action")) {
            admin |= action_concern(pattern, &resources, out);
        }
        admin
    }

    /// Pushes one concern for each action pattern (or the `NotAction`) that
    /// grants escalation permissions on the resources they escalate on.
    fn escalation_concerns(&self, out: &mut Vec<Concern>) {
        let Some(resources) = self.resources() else {
            return;
        };
        let escalates = |e: &&Escalation| {
            let exempt = match e.exempt {
                Exempt::Never => false,
                Exempt::AnyCondition => self.conditions().next().is_some(),
                Exempt::Key(key) => self.conditions_on(key),
            };
            !exempt && resources.reached(e).is_some()
        };
        if let Some(not) = self.get("NotAction") {
            let mut granted = ESCALATIONS
                .iter()
                .filter(|e| !strings(Some(not)).any(|p| matches(p, e.action)))
                .filter(escalates)
                .peekable();
            if let Some(first) = granted.peek().copied() {
                let on = resources.shown(resources.reached(first));
                out.push(Concern::new(
                    PRIVILEGE_ESCALATION,
                    format!(
                        "allows every action but {} (`NotAction`) on {on}, which grants the \
                         escalation permissions {}",
                        listing(strings(Some(not))),
                        listing(granted.map(|e| e.action))
                    ),
                ));
            }
            return;
        }
        for pattern in strings(self.get("Action")) {
            let mut granted = ESCALATIONS
                .iter()
                .filter(|e| matches(pattern, e.action))
                .filter(escalates)
                .peekable();
            let Some(first) = granted.next() else {
                continue;
            };
            let on = resources.shown(resources.reached(first));
            let message = if granted.peek().is_some() {
                format!(
                    "allows `{pattern}` on {on}, which grants the escalation permissions {}",
                    listing(std::iter::once(first.action).chain(granted.map(|e| e.action)))
                )
            } else {
                let unless = match first.exempt {
                    Exempt::Never => String::new(),
                    Exempt::AnyCondition => " without a condition".to_owned(),
                    Exempt::Key(key) => format!(" without a condition on `{key}`"),
                };
                if pattern.eq_ignore_ascii_case(first.action) {
                    format!("allows `{}` on {on}{unless}: {}", first.action, first.how)
                } else {
                    format!(
                        "allows `{pattern}` on {on}{unless}, which grants `{}`: {}",
                        first.action, first.how
                    )
                }
            };
            out.push(Concern::new(PRIVILEGE_ESCALATION, message));
        }
    }
}

/// What an action pattern on `resources` grants beyond least privilege: every
/// action, every IAM action (an administrator's, on every resource) or every
/// action of a service. `true` for an administrator's.
pub(super) fn action_concern(
    pattern: &str,
    resources: &Resources<'_>,
    out: &mut Vec<Concern>,
) -> bool {
    let (service, action) = pattern.split_once(':').unwrap_or(("*", pattern));
    if !action.bytes().all(|b| b == b'*') || action.is_empty() {
        return false;
    }
    let all = resources.all();
    let on = resources.shown(None);
    if service.bytes().all(|b| b == b'*') {
        if all {
            out.push(Concern::new(
                ADMIN_PRIVILEGE,
                format!("allows `{pattern}` on `*` (every action on every resource)"),
            ));
            return true;
        }
        out.push(Concern::new(
            WILDCARD_ACTION,
            format!("allows `{pattern}` on {on} (every action on it)"),
        ));
    } else if service.eq_ignore_ascii_case("iam") && all {
        out.push(Concern::new(
            ADMIN_PRIVILEGE,
            format!("allows `{pattern}` on `*`: it can grant itself any permission"),
        ));
        return true;
    } else if !service.contains(['*', '?']) {
        let severity = if all {
            Severity::High
        } else {
            Severity::Medium
        };
        out.push(Concern::at(
            WILDCARD_ACTION,
            severity,
            format!(
                "allows `{pattern}` on {on} (every `{service}` action, today's and future ones)"
            ),
        ));
    }
    false
}

/// A statement's resources.
#[derive(Debug, Clone, Copy)]
pub(super) enum Resources<'a> {
    /// `Resource`: a string or a list.
    Listed(&'a Value),
    /// `NotResource`: every resource but these.
    AllBut(&'a Value),
}

impl<'a> Resources<'a> {
    /// Every resource, as `*` or through `NotResource`.
    pub(super) fn all(&self) -> bool {
        match self {
            Self::Listed(listed) => strings(Some(listed)).any(|r| r == "*"),
            Self::AllBut(_) => true,
        }
    }

    /// The first resource `escalation` escalates on (`Some("")` for
    /// `NotResource`); `None` when there is none. Only a resource of the type
    /// the action acts on counts: `*` on an S3 bucket rewrites no IAM policy,
    /// and `iam:PassRole` on users passes no role.
    fn reached(&self, escalation: &Escalation) -> Option<&'a str> {
        let Self::Listed(listed) = self else {
            return Some("");
        };
        let mut listed = strings(Some(listed)).filter(|r| fits(r, escalation));
        match escalation.reach {
            Reach::Any => listed.next(),
            Reach::OtherUsers => listed.find(|r| !contains_ignore_case(r, "${aws:username}")),
            Reach::Broad => listed.find(|r| *r == "*" || r.ends_with(":*") || r.ends_with("/*")),
        }
    }

    /// The resources as a message says them: `resource` when given, else the
    /// first (`*` first), with how many more.
    fn shown(&self, resource: Option<&str>) -> String {
        match self {
            Self::AllBut(not) => format!("every resource but {}", listing(strings(Some(not)))),
            Self::Listed(listed) => {
                let count = strings(Some(listed)).count();
                let first = resource
                    .filter(|r| !r.is_empty())
                    .or_else(|| strings(Some(listed)).find(|r| *r == "*"))
                    .or_else(|| strings(Some(listed)).next())
                    .unwrap_or_default();
                match count {
                    0 | 1 => format!("`{first}`"),
                    2 => format!("`{first}` and 1 other resource"),
                    n => format!("`{first}` and {} other resources", n - 1),
                }
            }
        }
    }
}

/// Whether the resource pattern `resource` can name a resource `escalation`
/// acts on: `*`, or an ARN of its service whose resource part (after the
/// account) can start with its target type.
fn fits(resource: &str, escalation: &Escalation) -> bool {
    if resource == "*" {
        return true;
    }
    let service = match escalation.action.split_once(':') {
        // Roles are IAM's resources.
        Some(("sts", _)) => "iam",
        Some((service, _)) => service,
        None => "",
    };
    let mut fields = resource.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(of), Some(_region), Some(_account), Some(part)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return false;
    };
    // What the pattern fixes before its first wildcard.
    let fixed = &part[..part.find(['*', '?']).unwrap_or(part.len())];
    let target = escalation.target;
    let compatible = if fixed.len() >= target.len() {
        fixed.as_bytes()[..target.len()].eq_ignore_ascii_case(target.as_bytes())
    } else {
        target.as_bytes()[..fixed.len()].eq_ignore_ascii_case(fixed.as_bytes())
    };
    matches(of, service) && compatible
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `a`, `b` and `c`; at most three named, then how many more.
pub(super) fn listing<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    let named = items.len().min(3);
    let mut out = String::new();
    for (i, item) in items[..named].iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == named && items.len() == named {
                " and "
            } else {
                ", "
            });
        }
        out.push('`');
        out.push_str(item);
        out.push('`');
    }
    if items.len() > named {
        let _ = write!(out, " and {} more", items.len() - named);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_documents_that_can_concern_are_parsed() {
        let cases = [
            // The benchmark's publisher document.
            (
                r#"{"Statement":[{"Action":["sqs:SendMessage"],"Effect":"Allow","Resource":"arn:aws:sqs:::jobs-001"}],"Version":"2012-10-17"}"#,
                false,
            ),
            // An IAM ARN as a resource names no IAM action.
            (
                r#"{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:aws:iam::1:role/x"}]}"#,
                false,
            ),
            (
                r#"{"Statement":[{"Action":"iam:passrole","Effect":"Allow","Resource":"arn:aws:iam::1:role/x"}]}"#,
                true,
            ),
            (
                r#"{"Statement":[{"Action":"STS:AssumeRole","Effect":"Allow","Resource":"r"}]}"#,
                true,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","NotAction":"s3:GetObject","Resource":"r"}]}"#,
                true,
            ),
            (
                r#"{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:aws:s3:::b/*"}]}"#,
                true,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(may_concern(text), want, "{text}");
        }
    }

    #[test]
    fn listings_name_three_then_count() {
        let cases: [(&[&str], &str); 5] = [
            (&[], ""),
            (&["a"], "`a`"),
            (&["a", "b"], "`a` and `b`"),
            (&["a", "b", "c"], "`a`, `b` and `c`"),
            (&["a", "b", "c", "d", "e"], "`a`, `b`, `c` and 2 more"),
        ];
        for (items, want) in cases {
            assert_eq!(listing(items.iter().copied()), want);
        }
    }

    #[test]
    fn statements_are_one_or_many_and_only_allow_grants() {
        let cases = [
            (
                json!({"Statement": {"Effect": "Allow", "Action": "x:y", "Resource": "*"}}),
                1,
            ),
            (
                json!({"Statement": [
                    {"Effect": "Allow", "Action": "x:y", "Resource": "*"},
                    {"Effect": "Deny", "Action": "*", "Resource": "*"},
                    {"Effect": "allow", "Action": ["a:b"], "Resource": "*"}
                ]}),
                2,
            ),
            (json!({"Statement": "nonsense"}), 0),
            (json!({}), 0),
        ];
        for (document, want) in cases {
            assert_eq!(statements(&document).count(), want, "{document}");
        }
    }
}
