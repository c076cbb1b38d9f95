//! Project policy bindings as the neutral model: a binding's role, and its
//! resource, `*` when it is unconditional and `condition:<title>` when it holds
//! only under a condition, whose expression and description are its policy.
//!
//! Google lets one role be granted under several conditions of one title
//! (titles need not be unique). An account holding a role that way is read as
//! one binding whose policy lists every such condition, `{conditions: [...]}`:
//! it never equals a configured binding (which has one condition), so the plan
//! shows the extra grants and replaces them all with the configured one.

use nhi_provider_sdk::{Binding, Policy};
use serde_json::{Map, Value};

/// A binding's `resource` when it is unconditional on the project.
const PROJECT: &str = "*";
/// Prefix of a conditional binding's `resource`: `condition:<title>`.
const CONDITION_PREFIX: &str = "condition:";

/// A binding's condition, when it has one: `(title, expression, description)`.
pub(crate) struct Condition<'a> {
    pub(crate) title: &'a str,
    pub(crate) expression: String,
    pub(crate) description: String,
}

/// The condition a configured or planned binding stands for; `Err` says what is
/// wrong with it.
pub(crate) fn condition(binding: &Binding) -> Result<Option<Condition<'_>>, String> {
    if binding.resource == PROJECT {
        return match binding.policy {
            None => Ok(None),
            Some(_) => Err(format!(
                "binding `{}` on `*` is unconditional: a `policy` (condition) needs \
                 `resource: condition:<title>`",
                binding.role
            )),
        };
    }
    let Some(title) = binding.resource.strip_prefix(CONDITION_PREFIX) else {
        return Err(format!(
            "resource `{}` is not one the gcp provider binds: use `*` (the project) or \
             `condition:<title>` for a conditional binding on the project",
            binding.resource
        ));
    };
    if title.is_empty() {
        return Err("a conditional binding needs a title: `condition:<title>`".into());
    }
    let Some(Value::Object(mut fields)) = binding.policy.as_ref().map(Policy::to_value) else {
        return Err(format!(
            "conditional binding `{}` on `{}` needs `policy: {{expression: ...}}`",
            binding.role, binding.resource
        ));
    };
    if let Some(other) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "expression" | "description"))
    {
        return Err(format!(
            "a condition has `expression` and `description`, not `{other}`"
        ));
    }
    let expression = match fields.remove("expression") {
        Some(Value::String(e)) if !e.trim().is_empty() => e,
        _ => return Err("a condition needs a non-empty string `expression` (CEL)".into()),
    };
    let description = match fields.remove("description") {
        None => String::new(),
        Some(Value::String(d)) => d,
        Some(_) => return Err("a condition's `description` must be a string".into()),
    };
    Ok(Some(Condition {
        title,
        expression,
        description,
    }))
}

/// The conditions a planned binding stands for: its one condition, or, for a
/// binding read as several conditions of one title, each of them.
pub(crate) fn conditions(binding: &Binding) -> Result<Vec<Condition<'_>>, String> {
    let Some(Value::Object(mut fields)) = binding.policy.as_ref().map(Policy::to_value) else {
        return Ok(condition(binding)?.into_iter().collect());
    };
    let Some(listed) = fields.remove(CONDITIONS) else {
        return Ok(condition(binding)?.into_iter().collect());
    };
    let (Value::Array(listed), true) = (listed, fields.is_empty()) else {
        return Err(format!("`{CONDITIONS}` must be the only field, a list"));
    };
    let mut out = Vec::with_capacity(listed.len());
    for one in listed {
        let single = Binding {
            role: binding.role.clone(),
            resource: binding.resource.clone(),
            policy: Some(Policy::new(&one)),
        };
        let Some(c) = condition(&single)? else {
            return Err(format!("binding `{}` lists no condition", binding.role));
        };
        // `condition` borrows the title from `single`; it is `binding`'s too.
        out.push(Condition {
            title: condition_title(binding),
            expression: c.expression,
            description: c.description,
        });
    }
    if out.is_empty() {
        return Err(format!("binding `{}` lists no condition", binding.role));
    }
    Ok(out)
}

fn condition_title(binding: &Binding) -> &str {
    binding
        .resource
        .strip_prefix(CONDITION_PREFIX)
        .unwrap_or_default()
}

/// Field of a binding's policy that lists several conditions of one title.
const CONDITIONS: &str = "conditions";

/// One binding for `bindings` (conditional, one role and title, at least two
/// different conditions): a policy listing their conditions in a fixed order.
pub(crate) fn merged_conditions(bindings: &[Binding]) -> Binding {
    let mut listed: Vec<Value> = bindings
        .iter()
        .filter_map(|b| b.policy.as_ref().map(Policy::to_value))
        .collect();
    listed.sort_by_cached_key(Value::to_string);
    listed.dedup();
    let mut fields = Map::new();
    fields.insert(CONDITIONS.into(), Value::Array(listed));
    Binding {
        role: bindings[0].role.clone(),
        resource: bindings[0].resource.clone(),
        policy: Some(Policy::new(&Value::Object(fields))),
    }
}

/// Roles Google accepts in a project policy: predefined (`roles/…`) or custom
/// (`projects/<id>/roles/…`, `organizations/<id>/roles/…`).
pub(crate) fn check_role(role: &str) -> Result<(), String> {
    let rest = role
        .strip_prefix("roles/")
        .or_else(|| {
            let (scope, rest) = role.split_once('/')?;
            let (_id, rest) = rest.split_once('/')?;
            matches!(scope, "projects" | "organizations")
                .then_some(rest)
                .and_then(|r| r.strip_prefix("roles/"))
        })
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        });
    match rest {
        Some(_) => Ok(()),
        None => Err(format!(
            "`{role}` is not a Google Cloud role: use `roles/<name>` or a custom role \
             `projects/<id>/roles/<name>`"
        )),
    }
}

/// A binding as observed: the role and the condition (if any) of a policy
/// binding that holds the member.
pub(crate) fn observed_binding(role: &str, condition: Option<(&str, &str, &str)>) -> Binding {
    match condition {
        None => Binding {
            role: role.to_owned(),
            resource: PROJECT.to_owned(),
            policy: None,
        },
        Some((title, expression, description)) => {
            let mut fields = Map::new();
            fields.insert("expression".into(), Value::String(expression.into()));
            if !description.is_empty() {
                fields.insert("description".into(), Value::String(description.into()));
            }
            Binding {
                role: role.to_owned(),
                resource: format!("{CONDITION_PREFIX}{title}"),
                policy: Some(Policy::new(&Value::Object(fields))),
            }
        }
    }
}

/// Brings a configured condition to the form it is observed in (an empty
/// description is no description).
pub(crate) fn normalize_policy(policy: Value) -> Value {
    match policy {
        Value::Object(mut fields) => {
            if fields.get("description").and_then(Value::as_str) == Some("") {
                fields.remove("description");
            }
            Value::Object(fields)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_and_conditions() {
        for role in [
            "roles/viewer",
            "roles/storage.objectViewer",
            "projects/p1/roles/deployer",
        ] {
            assert!(check_role(role).is_ok(), "{role}");
        }
        for role in ["viewer", "roles/", "folders/1/roles/x", "roles/a b"] {
            assert!(check_role(role).is_err(), "{role}");
        }
        let plain = observed_binding("roles/viewer", None);
        assert!(condition(&plain).unwrap().is_none());
        let conditional = observed_binding("roles/viewer", Some(("office-hours", "true", "")));
        assert_eq!(conditional.resource, "condition:office-hours");
        assert_eq!(
            conditional.policy,
            Some(json!({"expression": "true"}).into())
        );
        let c = condition(&conditional).unwrap().unwrap();
        assert_eq!(
            (c.title, c.expression.as_str(), c.description.as_str()),
            ("office-hours", "true", "")
        );
        for (resource, policy, want) in [
            (
                "*",
                Some(json!({"expression": "true"}).into()),
                "unconditional",
            ),
            ("bucket/x", None, "not one the gcp provider binds"),
            (
                "condition:",
                Some(json!({"expression": "true"}).into()),
                "needs a title",
            ),
            ("condition:t", None, "needs `policy"),
            (
                "condition:t",
                Some(json!({"expression": ""}).into()),
                "non-empty string",
            ),
            (
                "condition:t",
                Some(json!({"expression": "true", "x": 1}).into()),
                "not `x`",
            ),
        ] {
            let b = Binding {
                role: "roles/viewer".into(),
                resource: resource.into(),
                policy,
            };
            let err = condition(&b).err().unwrap_or_default();
            assert!(err.contains(want), "{resource}: {err}");
        }
    }
}
