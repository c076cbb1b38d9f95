//! New key material: its JSON form, and delivery to AWS Secrets Manager when that
//! is the key's sink. The material lives in wiped memory and is never formatted
//! into a message.

use aws_sdk_secretsmanager::Client;
use nhi_provider_sdk::ProviderError;
use zeroize::Zeroizing;

use crate::error::api_error;

/// `{"AccessKeyId":"…","SecretAccessKey":"…"}`, built in place so that no
/// unwiped copy of the secret is left behind.
pub(crate) fn secret_json(key_id: &str, secret: &str) -> Zeroizing<String> {
    // Escaping never grows a character past 6 bytes (`\u00XX`).
    let mut json = Zeroizing::new(String::with_capacity(
        40 + 6 * (key_id.len() + secret.len()),
    ));
    // The shape AWS's `credential_process` reads (Version 1), and plain JSON with
    // `AccessKeyId` and `SecretAccessKey` for everyone else:
    // https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html
    json.push_str(r#"{"Version":1,"AccessKeyId":"#);
    push_json_string(&mut json, key_id);
    json.push_str(r#","SecretAccessKey":"#);
    push_json_string(&mut json, secret);
    json.push('}');
    json
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[n >> 4]));
                out.push(char::from(HEX[n & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Stores `value` as the current version of `secret_id`: a new version of an
/// existing secret (by name or ARN), or a new secret of that name.
pub(crate) async fn deliver(
    client: &Client,
    secret_id: &str,
    value: &Zeroizing<String>,
) -> Result<(), ProviderError> {
    let object = format!("secret `{secret_id}`");
    let put = || async {
        client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.as_str())
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("secretsmanager:PutSecretValue", &object, &err))
    };
    match put().await {
        Err(ProviderError::NotFound(_)) => {}
        other => return other,
    }
    let created = client
        .create_secret()
        .name(secret_id)
        .secret_string(value.as_str())
        .description("AWS access key created by nhi")
        .send()
        .await
        .map(drop)
        .map_err(|err| api_error("secretsmanager:CreateSecret", &object, &err));
    match created {
        // Someone created it in between: give it a new version after all.
        Err(ProviderError::AlreadyExists(_)) => put().await,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_valid_and_escaped() {
        let cases = [
            ("AKIA1", "abc/+def"),
            ("AKIA2", "q\"uo\\te\n\u{1}"),
            ("", ""),
        ];
        for (id, secret) in cases {
            let json = secret_json(id, secret);
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(
                parsed,
                serde_json::json!({"Version": 1, "AccessKeyId": id, "SecretAccessKey": secret})
            );
        }
    }
}
