//! The canonical form of IAM policy documents, so that documents IAM treats as
//! equal compare equal, and the decoding of documents as the API returns them.
//!
//! Every rewrite here is one IAM's evaluation cannot tell apart; anything IAM
//! matches case-sensitively (resource ARNs, condition values, principals other
//! than a bare account id) is left exactly as written.

use serde_json::Value;

/// Statement fields whose value is a string or a list of strings, matched as a
/// set: any element may match, so order and repeats never count.
const SET_FIELDS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];
/// Of those, the ones holding action names, which IAM matches case-insensitively
/// ("Action … values are not case-sensitive", IAM JSON policy elements:
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>).
const ACTION_FIELDS: &[&str] = &["Action", "NotAction"];
/// Statement fields that map a principal type to a string or a list of strings.
const PRINCIPAL_FIELDS: &[&str] = &["Principal", "NotPrincipal"];

/// Brings an IAM policy document to its canonical form, in which documents IAM
/// evaluates alike compare equal:
///
/// - `Statement` is always a list, its statements sorted (IAM evaluates every
///   statement; their order never counts);
/// - `Action` and `NotAction` names are lowercased (IAM matches them
///   case-insensitively);
/// - `Action`, `NotAction`, `Resource`, `NotResource`, each principal type's
///   principals and each condition key's values are sorted sets without
///   repeats, a one-element set written as the string;
/// - a principal `{"AWS": "123456789012"}` is written as IAM stores it,
///   `arn:aws:iam::123456789012:root` (IAM JSON policy elements: Principal,
///   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts>);
/// - condition values that are JSON booleans or numbers become strings, as IAM
///   compares them (`true` and `"true"` are one value).
///
/// Object key order never counts (JSON maps are sorted). Anything that is not a
/// policy document is returned unchanged.
pub fn normalize_policy(policy: Value) -> Value {
    let Value::Object(mut document) = policy else {
        return policy;
    };
    if let Some(statement) = document.remove("Statement") {
        let statements = match statement {
            Value::Array(statements) => statements,
            single @ Value::Object(_) => vec![single],
            other => {
                document.insert("Statement".to_owned(), other);
                return Value::Object(document);
            }
        };
        let mut statements: Vec<Value> = statements.into_iter().map(normalize_statement).collect();
        sort_unique(&mut statements);
        document.insert("Statement".to_owned(), Value::Array(statements));
    }
    Value::Object(document)
}

fn normalize_statement(statement: Value) -> Value {
    let Value::Object(mut statement) = statement else {
        return statement;
    };
    for (field, value) in &mut statement {
        if SET_FIELDS.contains(&field.as_str()) {
            if ACTION_FIELDS.contains(&field.as_str()) {
                each_string(value, str::to_ascii_lowercase);
            }
            string_set(value);
        } else if PRINCIPAL_FIELDS.contains(&field.as_str()) {
            if let Value::Object(principals) = value {
                for (kind, principals) in principals.iter_mut() {
                    if kind == "AWS" {
                        each_string(principals, account_root);
                    }
                    string_set(principals);
                }
            }
        } else if field == "Condition"
            && let Value::Object(operators) = value
        {
            for keys in operators.values_mut() {
                if let Value::Object(keys) = keys {
                    for values in keys.values_mut() {
                        condition_strings(values);
                        string_set(values);
                    }
                }
            }
        }
    }
    Value::Object(statement)
}

/// A bare 12-digit account id as a principal means the account's root ARN,
/// which is what IAM stores and returns.
fn account_root(principal: &str) -> String {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        format!("arn:aws:iam::{principal}:root")
    } else {
        principal.to_owned()
    }
}

/// Applies `f` to a string, or to each string of a list; other values stay.
fn each_string(value: &mut Value, f: impl Fn(&str) -> String) {
    match value {
        Value::String(s) => *s = f(s),
        Value::Array(items) => {
            for item in items {
                if let Value::String(s) = item {
                    *s = f(s);
                }
            }
        }
        _ => {}
    }
}

/// Condition values are strings to IAM: a JSON boolean or number is the same
/// value as its text.
fn condition_strings(value: &mut Value) {
    let as_text = |v: &mut Value| match v {
        Value::Bool(b) => *v = Value::String(b.to_string()),
        Value::Number(n) => *v = Value::String(n.to_string()),
        _ => {}
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(as_text),
        other => as_text(other),
    }
}

/// A string or a list of strings as a set: sorted, without repeats, one element
/// written as the string. Lists holding anything but strings stay as they are.
fn string_set(value: &mut Value) {
    let Value::Array(items) = value else {
        return;
    };
    if !items.iter().all(Value::is_string) {
        return;
    }
    sort_unique(items);
    if let [Value::String(_)] = items.as_slice() {
        let only = items.pop().expect("invariant: one element");
        *value = only;
    }
}

/// Sorts values by their JSON text and drops repeats.
fn sort_unique(items: &mut Vec<Value>) {
    let mut keyed: Vec<(String, Value)> = items
        .drain(..)
        .map(|v| (serde_json::to_string(&v).unwrap_or_default(), v))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    items.extend(keyed.into_iter().map(|(_, v)| v));
}

/// A policy document as IAM returns it (URL-encoded JSON; some emulators skip the
/// encoding), parsed and normalised.
pub(crate) fn decode_document(text: &str) -> Result<Value, String> {
    let trimmed = text.trim_start();
    let decoded = if trimmed.starts_with('{') {
        std::borrow::Cow::Borrowed(text)
    } else {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|err| format!("policy document is not URL-encoded UTF-8: {err}"))?
    };
    serde_json::from_str(&decoded)
        .map(normalize_policy)
        .map_err(|err| format!("policy document is not JSON: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equivalent_documents_normalise_equal() {
        let canonical = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "s3:getobject",
                "Resource": ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"],
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ci"}}
            }]
        });
        let variants = [
            canonical.clone(),
            json!({
                "Statement": {
                    "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["ci"]}},
                    "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]},
                    "Resource": ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"],
                    "Action": ["s3:GetObject"],
                    "Effect": "Allow"
                },
                "Version": "2012-10-17"
            }),
        ];
        for variant in variants {
            assert_eq!(normalize_policy(variant), canonical);
        }
        // Idempotent.
        assert_eq!(
            normalize_policy(normalize_policy(canonical.clone())),
            canonical
        );
    }

    /// One statement's worth of document around `statement`.
    fn doc(statement: &Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [statement]})
    }

    /// Regression: documents IAM evaluates alike showed as drift (reordered or
    /// repeated actions, action case, `true` for `"true"`, a bare account id).
    #[test]
    fn documents_iam_treats_as_equal_normalise_equal_and_real_differences_stay() {
        let equal: &[(&str, Value, Value)] = &[
            (
                "reordered actions",
                json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}),
                json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}),
            ),
            (
                "action names are case-insensitive",
                json!({"Effect": "Allow", "Action": "S3:getobject", "Resource": "*"}),
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            ),
            (
                "repeated actions",
                json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:getObject", "s3:GetObject"], "Resource": "*"}),
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            ),
            (
                "not-actions are case-insensitive too",
                json!({"Effect": "Deny", "NotAction": ["IAM:*", "sts:GetCallerIdentity"], "Resource": "*"}),
                json!({"Effect": "Deny", "NotAction": ["sts:getcalleridentity", "iam:*"], "Resource": "*"}),
            ),
            (
                "reordered and repeated resources",
                json!({"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::a/*", "arn:aws:s3:::b/*"]}),
                json!({"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"]}),
            ),
            (
                "a boolean condition value is its text",
                json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": false}}}),
                json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            ),
            (
                "a numeric condition value is its text",
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": [10]}}}),
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}}),
            ),
            (
                "reordered condition values",
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["b", "a"]}}}),
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["a", "b", "a"]}}}),
            ),
            (
                "a bare account id is the account's root",
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "123456789012"}}),
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}),
            ),
            (
                "reordered principals, account ids among them",
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ["arn:aws:iam::111111111111:role/x", "222222222222"]}}),
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ["arn:aws:iam::222222222222:root", "arn:aws:iam::111111111111:role/x"]}}),
            ),
        ];
        for (what, a, b) in equal {
            assert_eq!(normalize_policy(doc(a)), normalize_policy(doc(b)), "{what}");
        }
        // Reordered statements are the same policy.
        let (s1, s2) = (&equal[0].1, &equal[5].1);
        assert_eq!(
            normalize_policy(json!({"Statement": [s1, s2]})),
            normalize_policy(json!({"Statement": [s2, s1, s1]}))
        );

        let unequal: &[(&str, Value, Value)] = &[
            (
                "resource ARNs are case-sensitive",
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::Bucket/*"}),
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}),
            ),
            (
                "condition values are case-sensitive",
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "CI"}}}),
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ci"}}}),
            ),
            (
                "another action",
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
                json!({"Effect": "Allow", "Action": "s3:GetObjectAcl", "Resource": "*"}),
            ),
            (
                "one action more",
                json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}),
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            ),
            (
                "Action is not NotAction",
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
                json!({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}),
            ),
            (
                "the effect",
                json!({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                json!({"Effect": "Deny", "Action": "*", "Resource": "*"}),
            ),
            (
                "a role is not its account",
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"}}),
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "123456789012"}}),
            ),
            (
                "an 11-digit id is not an account",
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "12345678901"}}),
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::12345678901:root"}}),
            ),
            (
                "service principals keep their case",
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "EC2.amazonaws.com"}}),
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}),
            ),
            (
                "a condition value list is not one value",
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"k": ["a", "b"]}}}),
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"k": "a"}}}),
            ),
        ];
        for (what, a, b) in unequal {
            assert_ne!(normalize_policy(doc(a)), normalize_policy(doc(b)), "{what}");
        }
        // Canonical documents stay canonical.
        for (_, a, b) in equal.iter().chain(unequal) {
            for d in [doc(a), doc(b)] {
                let once = normalize_policy(d);
                assert_eq!(normalize_policy(once.clone()), once);
            }
        }
    }

    #[test]
    fn odd_shapes_are_left_alone() {
        for odd in [
            json!("text"),
            json!({"Statement": "x"}),
            json!({"Statement": [{"Action": [1, "b"]}]}),
            json!({"Principal": ["x"]}),
            json!({"Statement": [{"Principal": "*", "NotPrincipal": {"AWS": ["a", "b"]}}]}),
        ] {
            assert_eq!(normalize_policy(odd.clone()), odd);
        }
    }

    #[test]
    fn decodes_url_encoded_and_plain() {
        let want = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:get*", "Resource": "*"}]});
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22s3%3AGet%2A%22%5D%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        assert_eq!(decode_document(encoded).unwrap(), want);
        let plain = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": ["*"]}}"#;
        assert_eq!(decode_document(plain).unwrap(), want);
        // A literal `%` inside plain JSON is not decoded.
        let percent = r#"{"Statement": [{"Condition": {"StringLike": {"k": "50%25"}}}]}"#;
        assert_eq!(
            decode_document(percent).unwrap()["Statement"][0]["Condition"]["StringLike"]["k"],
            "50%25"
        );
        assert!(decode_document("%7Bnot json").is_err());
        assert!(decode_document("%FF%FE").is_err());
    }
}
