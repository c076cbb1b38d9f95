//! Errors against moto: they name the object and never the secret.

use nhi_provider_sdk::{Operation, ProviderError, Sink};
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
