//! The canonical form of IAM policy documents, so that documents IAM treats as
//! equal compare equal, and the decoding of documents as the API returns them.

use serde_json::Value;

/// Statement fields whose value is a string or a list of strings.
const LIST_FIELDS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];
/// Statement fields that map a principal type to a string or a list of strings.
const PRINCIPAL_FIELDS: &[&str] = &["Principal", "NotPrincipal"];

/// Brings an IAM policy document to its canonical form: `Statement` is always a
/// list; a one-element list of strings becomes the string for `Action`,
/// `NotAction`, `Resource`, `NotResource` and inside `Principal`, `NotPrincipal`
/// and `Condition` values. Object key order never counts (JSON maps are sorted);
/// list order does, as IAM keeps it. Anything that is not a policy document is
/// returned unchanged.
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
        let statements = statements.into_iter().map(normalize_statement).collect();
        document.insert("Statement".to_owned(), Value::Array(statements));
    }
    Value::Object(document)
}

fn normalize_statement(statement: Value) -> Value {
    let Value::Object(mut statement) = statement else {
        return statement;
    };
    for (field, value) in &mut statement {
        if LIST_FIELDS.contains(&field.as_str()) {
            unwrap_single(value);
        } else if PRINCIPAL_FIELDS.contains(&field.as_str()) {
            if let Value::Object(principals) = value {
                principals.values_mut().for_each(unwrap_single);
            }
        } else if field == "Condition"
            && let Value::Object(operators) = value
        {
            for keys in operators.values_mut() {
                if let Value::Object(keys) = keys {
                    keys.values_mut().for_each(unwrap_single);
                }
            }
        }
    }
    Value::Object(statement)
}

/// `["x"]` → `"x"`; anything else stays.
fn unwrap_single(value: &mut Value) {
    if let Value::Array(items) = value
        && let [Value::String(_)] = items.as_slice()
    {
        let only = items.pop().expect("invariant: one element");
        *value = only;
    }
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
                "Action": "s3:GetObject",
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

    #[test]
    fn differences_that_matter_stay() {
        let a = json!({"Statement": [{"Effect": "Allow", "Action": ["a", "b"]}]});
        let b = json!({"Statement": [{"Effect": "Allow", "Action": ["b", "a"]}]});
        assert_ne!(normalize_policy(a), normalize_policy(b));
        // Non-documents and odd shapes are left alone.
        for odd in [
            json!("text"),
            json!({"Statement": "x"}),
            json!({"Statement": [1, {"Action": [1]}]}),
            json!({"Principal": ["x"]}),
            json!({"Statement": [{"Principal": "*", "NotPrincipal": {"AWS": ["a", "b"]}}]}),
        ] {
            assert_eq!(normalize_policy(odd.clone()), odd);
        }
    }

    #[test]
    fn decodes_url_encoded_and_plain() {
        let want = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]});
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
