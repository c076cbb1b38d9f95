//! What a served plugin answers to lines that look like nhi's but are not.

use super::{About, serve_on};
use crate::{Provider, ProviderContext, ProviderError, ProviderType};

/// A type whose settings must be an object with no `bad` key.
struct Picky;

impl ProviderType for Picky {
    fn type_name(&self) -> &'static str {
        "picky"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["service_account"]
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        if settings.get("bad").is_some() {
            Err("`bad` is not a setting".to_owned())
        } else {
            Ok(())
        }
    }

    fn connect(&self, _: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Err(ProviderError::Settings("not here".to_owned()))
    }
}

/// The answers to `lines`, after a handshake, one JSON value each.
fn answers(lines: &[&str]) -> Vec<serde_json::Value> {
    let mut input = String::from(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocols":["nhi-provider/1"],"host":"test"}}"#,
    );
    input.push('\n');
    for line in lines {
        input.push_str(line);
        input.push('\n');
    }
    let mut output: Vec<u8> = Vec::new();
    serve_on(
        &Picky,
        &About::new("picky", "1.0.0"),
        &mut input.as_bytes(),
        &mut output,
    )
    .unwrap();
    let mut all: Vec<serde_json::Value> = std::str::from_utf8(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all.remove(0);
    all.sort_by_key(|a| a["id"].as_u64());
    all
}

#[test]
fn a_request_in_nhis_shape_is_answered_from_its_params() {
    let all = answers(&[
        r#"{"jsonrpc":"2.0","id":2,"method":"check_settings","params":{"settings":{}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"check_settings","params":{"settings":{"bad":1}}}"#,
    ]);
    assert_eq!(
        all[0],
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "result": {"problem": null}})
    );
    assert_eq!(all[1]["result"]["problem"], "`bad` is not a setting");
}

#[test]
fn a_request_with_fields_after_its_params_is_read_whole() {
    let all = answers(&[
        r#"{"jsonrpc":"2.0","id":2,"method":"check_settings","params":{"settings":{"bad":1}},"x":{}}"#,
    ]);
    assert_eq!(all[0]["id"], 2);
    assert_eq!(all[0]["result"]["problem"], "`bad` is not a setting");
}

#[test]
fn params_of_the_wrong_shape_are_invalid_params_and_broken_json_is_not_a_request() {
    let all = answers(&[
        r#"{"jsonrpc":"2.0","id":2,"method":"check_settings","params":{"setting":{}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"check_settings","params":{"settings":{]}"#,
    ]);
    assert_eq!(all[0]["id"], 2);
    assert_eq!(all[0]["error"]["code"], super::super::wire::INVALID_PARAMS);
    let message = all[0]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("invalid params: "), "{message}");
    assert_eq!(all[1]["id"], 3);
    assert_eq!(all[1]["error"]["code"], super::PARSE_ERROR);
    let message = all[1]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("not a request: "), "{message}");
}
