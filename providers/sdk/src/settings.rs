//! Reading a provider block's `settings` (JSON from the configuration): the
//! checks every provider makes the same way, with the same messages.

use serde_json::{Map, Value};

/// The settings as a mapping holding only `known` names. `needs` completes
/// "settings must be a mapping with …" (e.g. "at least `project`").
pub fn fields<'a>(
    settings: &'a Value,
    provider: &str,
    known: &[&str],
    needs: &str,
) -> Result<&'a Map<String, Value>, String> {
    let Some(fields) = settings.as_object() else {
        return Err(format!("settings must be a mapping with {needs}"));
    };
    let unknown: Vec<String> = fields
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("`{k}`"))
        .collect();
    if !unknown.is_empty() {
        let plural = if unknown.len() == 1 { "" } else { "s" };
        let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        return Err(format!(
            "unknown setting{plural} {}; the {provider} provider takes {}",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    Ok(fields)
}

/// A non-empty string setting, if present.
pub fn string<'a>(value: Option<&'a Value>, name: &str) -> Result<Option<&'a str>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => {
            Err(format!("setting `{name}` is empty; leave it out instead"))
        }
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("setting `{name}` must be a string")),
    }
}

/// A whole-number setting in `1..=max`, if present.
pub fn number(value: Option<&Value>, name: &str, max: u64) -> Result<Option<u64>, String> {
    match value {
        None => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "setting `{name}` must be a whole number from 1 to {max}"
            )),
        },
    }
}

/// An `http://` or `https://` URL setting, if present, without a trailing `/`.
pub fn url(value: Option<&Value>, name: &str) -> Result<Option<String>, String> {
    string(value, name)?
        .map(|url| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url.trim_end_matches('/').to_owned())
            } else {
                Err(format!(
                    "setting `{name}` must be an http:// or https:// URL, not `{url}`"
                ))
            }
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shared_checks_say_what_is_wrong() {
        let known = &["a", "b"];
        assert!(fields(&json!({"a": 1}), "demo", known, "at least `a`").is_ok());
        assert_eq!(
            fields(&json!([]), "demo", known, "at least `a`").unwrap_err(),
            "settings must be a mapping with at least `a`"
        );
        assert_eq!(
            fields(&json!({"c": 1, "d": 2}), "demo", known, "").unwrap_err(),
            "unknown settings `c`, `d`; the demo provider takes `a`, `b`"
        );
        assert_eq!(
            string(Some(&json!("")), "x").unwrap_err(),
            "setting `x` is empty; leave it out instead"
        );
        assert_eq!(
            string(Some(&json!(1)), "x").unwrap_err(),
            "setting `x` must be a string"
        );
        assert_eq!(
            number(Some(&json!(0)), "n", 5).unwrap_err(),
            "setting `n` must be a whole number from 1 to 5"
        );
        assert_eq!(number(Some(&json!(5)), "n", 5), Ok(Some(5)));
        assert_eq!(
            url(Some(&json!("http://h:1/")), "u"),
            Ok(Some("http://h:1".into()))
        );
        assert!(
            url(Some(&json!("h:1")), "u")
                .unwrap_err()
                .contains("http:// or https://")
        );
    }
}
