//! Errors against moto: they name the object and never the secret.

use nhi_provider_sdk::{Operation, Provider as _, ProviderError, Sink};
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::harness::*;

#[tokio::test]
async fn errors_name_the_object_and_never_the_secret() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/err/", &json!({}));
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("err-ci", "team"),
        },
    )
    .await;
    let created = apply(
        &aws,
        Operation::CreateKey {
            identity: "err-ci".into(),
            key: "primary".into(),
        },
    )
    .await;
    let secret = created.secret.as_ref().unwrap().secret.to_string();
    let material: Value = serde_json::from_str(&secret).unwrap();
    let secret_key = material["SecretAccessKey"].as_str().unwrap();
    for text in [format!("{created:?}"), format!("{:?}", created.secret)] {
        assert!(!text.contains(secret_key), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    // A policy that does not exist.
    let err = try_apply(
        &aws,
        Operation::CreateBinding {
            identity: "err-ci".into(),
            binding: managed("arn:aws:iam::aws:policy/NoSuchPolicy"),
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("NoSuchPolicy"), "{err}");

    // Bindings IAM cannot hold are refused before any call.
    let err = try_apply(
        &aws,
        Operation::CreateBinding {
            identity: "err-ci".into(),
            binding: managed("roles/viewer"),
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("managed policy ARN"), "{err}");

    // A third key exceeds IAM's quota of two: the AWS code and message come through.
    apply(
        &aws,
        Operation::CreateKey {
            identity: "err-ci".into(),
            key: "secondary".into(),
        },
    )
    .await;
    let err = try_apply(
        &aws,
        Operation::CreateKey {
            identity: "err-ci".into(),
            key: "third".into(),
        },
        Some(Sink::Stdout),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`iam:CreateAccessKey` on user `err-ci` failed: LimitExceeded"),
        "{err}"
    );
    assert!(!format!("{err:?}").contains(secret_key));

    // Keys for a user that does not exist (after the bounded consistency retries).
    let err = try_apply(
        &aws,
        Operation::CreateKey {
            identity: "err-nobody".into(),
            key: "primary".into(),
        },
        Some(Sink::Stdout),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "user `err-nobody` does not exist");
}

/// Regression: a refused credential or a throttled call showed the SDK's `Debug`
/// output; now the call, AWS's code and message, and what to configure.
#[tokio::test]
async fn refused_credentials_name_the_call_the_code_and_what_to_configure() {
    let moto = moto_or_skip!();
    let proxy = moto.proxy();
    let aws = moto.provider("/creds/", &json!({"endpoint_url": proxy.endpoint}));
    proxy.control(
        "POST",
        "/_proxy/faults",
        &json!({
            "action": "GetAccountAuthorizationDetails",
            "code": "InvalidClientTokenId",
            "status": 403,
            "message": "The security token included in the request is invalid.",
        }),
    );
    let err = aws
        .read(nhi_provider_sdk::ReadRequest::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "`iam:GetAccountAuthorizationDetails` on the account failed: AWS refused the \
             credentials: InvalidClientTokenId: The security token included in the request is \
             invalid.; configure AWS credentials: set `AWS_PROFILE`"
        ),
        "{err}"
    );
    for debug in ["ServiceError", "ErrorMetadata", "Some(", "{"] {
        assert!(!err.contains(debug), "{err}");
    }
}
