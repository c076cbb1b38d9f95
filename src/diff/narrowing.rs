//! Whether one IAM-style policy document grants no more than another: the test
//! that lets a risk class call a trust-policy or inline-policy edit
//! privilege-reducing. Sound, not complete: anything it cannot prove narrower
//! counts as wider.

use serde_json::{Map, Value};

/// Whether `after` allows nothing that `before` does not.
///
/// Proven when the documents agree outside `Statement`, every `Allow` statement
/// of `after` is covered by one of `before` (see [`covers`]), and every other
/// statement of `before` (its `Deny`s) is still in `after` unchanged: what
/// `after` allows is then a subset of what `before` allows, minus at least as
/// much. A document of any other shape is not proven narrower.
pub(super) fn narrows(before: &Value, after: &Value) -> bool {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return false;
    };
    let outside = |doc: &Map<String, Value>| doc.keys().filter(|k| *k != "Statement").count();
    if outside(before) != outside(after)
        || before
            .iter()
            .any(|(k, v)| k != "Statement" && after.get(k) != Some(v))
    {
        return false;
    }
    let (Some(before), Some(after)) = (statements(before), statements(after)) else {
        return false;
    };
    let allows = |s: &Map<String, Value>| s.get("Effect") == Some(&Value::from("Allow"));
    let denies_kept = before
        .iter()
        .filter(|s| !allows(s))
        .all(|deny| after.contains(deny));
    let allows_covered = after.iter().all(|s| {
        if allows(s) {
            before.iter().any(|b| allows(b) && covers(b, s))
        } else {
            // A restriction added (or kept): only an exact `Deny` is known to be one.
            s.get("Effect") == Some(&Value::from("Deny"))
        }
    });
    denies_kept && allows_covered
}

/// A document's statements; one statement may be written without the list.
fn statements(doc: &Map<String, Value>) -> Option<Vec<&Map<String, Value>>> {
    match doc.get("Statement")? {
        Value::Object(one) => Some(vec![one]),
        Value::Array(many) => many.iter().map(Value::as_object).collect(),
        _ => None,
    }
}

/// Whether the `Allow` statement `before` allows everything `after` does:
/// `after`'s principals, actions and resources are among `before`'s (or
/// `before` names `*`), `after` keeps every condition of `before` (conditions
/// must all hold, so added ones narrow), and every other element is equal. `Sid` is
/// a label and does not count.
fn covers(before: &Map<String, Value>, after: &Map<String, Value>) -> bool {
    let keys = before.keys().chain(after.keys());
    keys.filter(|k| *k != "Sid").all(|key| {
        let (b, a) = (before.get(key), after.get(key));
        match key.as_str() {
            "Condition" => conditions_kept(b, a),
            "Principal" => match (b, a) {
                (Some(b), Some(a)) => principals_within(b, a),
                _ => b == a,
            },
            "Action" | "Resource" => match (b, a) {
                (Some(b), Some(a)) => within(b, a),
                _ => b == a,
            },
            _ => b == a,
        }
    })
}

/// A string or a list of strings, as a list; `None` for anything else.
fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(one) => Some(vec![one]),
        Value::Array(many) => many.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Every string of `after` is one of `before`'s, or `before` has `*`. No other
/// pattern is interpreted: `s3:*` does not cover `s3:GetObject` here.
fn within(before: &Value, after: &Value) -> bool {
    match (strings(before), strings(after)) {
        (Some(b), Some(a)) => {
            !a.is_empty() && (b.contains(&"*") || a.iter().all(|x| b.contains(x)))
        }
        _ => false,
    }
}

/// `Principal` is `*` (everyone) or a map from a principal type (`AWS`,
/// `Service`, `Federated`, …) to names; `after` is within `before` when
/// `before` is `*`, or each of `after`'s types is one of `before`'s with names
/// within it.
fn principals_within(before: &Value, after: &Value) -> bool {
    if before == "*" {
        return true;
    }
    match (before.as_object(), after.as_object()) {
        (Some(b), Some(a)) => {
            !a.is_empty()
                && a.iter()
                    .all(|(kind, names)| b.get(kind).is_some_and(|b| within(b, names)))
        }
        _ => before == after,
    }
}

/// `Condition` maps an operator to keys and their allowed values (any one
/// matches). `after` keeps `before`'s conditions when it has each of its
/// operator and key pairs with the same values or, for an operator that is
/// not negated, fewer. A negated operator (`StringNotEquals`, `NotIpAddress`, …)
/// with fewer values matches more, so it must stay as it was.
fn conditions_kept(before: Option<&Value>, after: Option<&Value>) -> bool {
    let Some(before) = before else {
        // None before: whatever `after` adds only narrows, if it is a mapping.
        return after.is_none_or(Value::is_object);
    };
    let (Some(before), Some(after)) = (before.as_object(), after.and_then(Value::as_object)) else {
        return false;
    };
    before.iter().all(|(operator, keys)| {
        let (Some(keys), Some(kept)) = (
            keys.as_object(),
            after.get(operator).and_then(Value::as_object),
        ) else {
            return false;
        };
        keys.iter().all(|(key, values)| {
            kept.get(key).is_some_and(|now| {
                now == values || (!operator.contains("Not") && fewer(values, now))
            })
        })
    })
}

/// `after`'s values are a non-empty subset of `before`'s (each a value or a list).
fn fewer(before: &Value, after: &Value) -> bool {
    let list = |v: &Value| match v {
        Value::Array(many) => many.clone(),
        one => vec![one.clone()],
    };
    let (before, after) = (list(before), list(after));
    !after.is_empty() && after.iter().all(|v| before.contains(v))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::narrows;

    fn trust(statement: &serde_json::Value) -> serde_json::Value {
        json!({"Version": "2012-10-17", "Statement": statement})
    }

    #[test]
    fn narrowing_is_proven_only_where_it_holds() {
        let ci = json!({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]}, "Action": "sts:AssumeRole"});
        let one = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"});
        let everyone =
            json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"});
        let with_mfa = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}});
        let ext = |ids: serde_json::Value| {
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": ids}}})
        };
        let not_ext = |ids: serde_json::Value| {
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringNotEquals": {"sts:ExternalId": ids}}})
        };
        let deny = json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::2:root"}, "Action": "sts:AssumeRole"});
        let cases = [
            (
                "a principal removed",
                trust(&json!([ci])),
                trust(&json!([one])),
                true,
            ),
            (
                "a principal added",
                trust(&json!([one])),
                trust(&json!([ci])),
                false,
            ),
            (
                "opened to everyone",
                trust(&json!([one])),
                trust(&json!([everyone])),
                false,
            ),
            (
                "everyone narrowed to one",
                trust(&json!([everyone])),
                trust(&json!([one])),
                true,
            ),
            (
                "a condition added",
                trust(&json!([one])),
                trust(&json!([with_mfa])),
                true,
            ),
            (
                "a condition removed",
                trust(&json!([with_mfa])),
                trust(&json!([one])),
                false,
            ),
            (
                "fewer allowed values",
                trust(&json!([ext(json!(["a", "b"]))])),
                trust(&json!([ext(json!("a"))])),
                true,
            ),
            (
                "more allowed values",
                trust(&json!([ext(json!("a"))])),
                trust(&json!([ext(json!(["a", "b"]))])),
                false,
            ),
            (
                "fewer excluded values",
                trust(&json!([not_ext(json!(["a", "b"]))])),
                trust(&json!([not_ext(json!("a"))])),
                false,
            ),
            (
                "a statement removed",
                trust(&json!([one, everyone])),
                trust(&json!([one])),
                true,
            ),
            (
                "a statement added",
                trust(&json!([one])),
                trust(&json!([one, with_mfa])),
                true,
            ),
            (
                "a single statement unlisted",
                trust(&json!([one])),
                trust(&one),
                true,
            ),
            (
                "a deny added",
                trust(&json!([everyone])),
                trust(&json!([everyone, deny])),
                true,
            ),
            (
                "a deny removed",
                trust(&json!([everyone, deny])),
                trust(&json!([everyone])),
                false,
            ),
            (
                "the version changed",
                trust(&json!([one])),
                json!({"Version": "2008-10-17", "Statement": [one]}),
                false,
            ),
            (
                "an action narrowed",
                json!({"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "*"}]}),
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}),
                true,
            ),
            (
                "a wildcard action",
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}),
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
                false,
            ),
            (
                "NotAction appears",
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}),
                json!({"Statement": [{"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"}]}),
                false,
            ),
            ("not a document", json!("text"), json!("text"), false),
        ];
        for (case, before, after, narrower) in cases {
            assert_eq!(narrows(&before, &after), narrower, "{case}");
        }
    }
}
