//! Access keys against moto: rotation within IAM's two key slots, and the
//! Secrets Manager sink.

use std::collections::BTreeMap;

use nhi_provider_sdk::{Operation, Sink};
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::harness::*;

/// Names a key minted for a local sink, as the engine does once it delivered it.
async fn record(aws: &nhi_provider_aws::AwsProvider, user: &str, key_id: &str) {
    nhi_provider_sdk::Provider::record_key(
        aws,
        nhi_provider_sdk::RecordKeyRequest {
            identity: user.into(),
            key: "primary".into(),
            key_id: key_id.into(),
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn rotation_stays_within_two_key_slots() {
    let moto = moto_or_skip!();
    let iam = moto.iam();
    let aws = moto.provider("/rot/", &json!({}));
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("rot-ci", "team"),
        },
    )
    .await;
    let first = apply(
        &aws,
        Operation::CreateKey {
            identity: "rot-ci".into(),
            key: "primary".into(),
        },
    )
    .await
    .new_key_id
    .unwrap();
    record(&aws, "rot-ci", &first).await;
    // An extra key made out of band fills the second slot, unnamed.
    let extra = iam
        .create_access_key()
        .user_name("rot-ci")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let keys = read(&aws).await.state.identities[0].keys.clone();
    let named: BTreeMap<_, _> = keys
        .iter()
        .map(|k| (k.id.clone(), k.name.clone()))
        .collect();
    assert_eq!(
        named,
        BTreeMap::from([
            (first.clone(), Some("primary".to_owned())),
            (extra.clone(), None)
        ])
    );

    // Both slots full: a rotation (as the engine applies it: a new key, delivered
    // and recorded, then the old key deleted) cannot create first.
    let old = keys.iter().find(|k| k.id == first).unwrap().clone();
    let create = Operation::CreateKey {
        identity: "rot-ci".into(),
        key: "primary".into(),
    };
    let err = try_apply(&aws, create.clone(), Some(Sink::Stdout))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("LimitExceeded"), "{err}");
    assert_eq!(
        read(&aws).await.state.identities[0].keys,
        keys,
        "nothing changed"
    );

    // As the plan orders it: delete the unmanaged key, then rotate.
    let extra_key = keys.iter().find(|k| k.id == extra).unwrap().clone();
    apply(
        &aws,
        Operation::DeleteKey {
            identity: "rot-ci".into(),
            key: extra_key.clone(),
        },
    )
    .await;
    let rotated = apply(&aws, create.clone()).await;
    let new = rotated.new_key_id.clone().unwrap();
    assert!(rotated.secret.is_some());
    assert_ne!(new, first);
    record(&aws, "rot-ci", &new).await;
    apply(
        &aws,
        Operation::DeleteKey {
            identity: "rot-ci".into(),
            key: old.clone(),
        },
    )
    .await;
    let keys = read(&aws).await.state.identities[0].keys.clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0].id.as_str(), keys[0].name.as_deref()),
        (new.as_str(), Some("primary"))
    );
    // The old key's name tag went with it.
    let tags = iam
        .list_user_tags()
        .user_name("rot-ci")
        .send()
        .await
        .unwrap();
    let key_tags: Vec<&str> = tags
        .tags()
        .iter()
        .map(aws_sdk_iam::types::Tag::key)
        .filter(|k| k.starts_with("nhi:key:"))
        .collect();
    assert_eq!(key_tags, [format!("nhi:key:{new}")]);

    // Deleting keys that are gone already succeeds.
    for key in [old, extra_key] {
        apply(
            &aws,
            Operation::DeleteKey {
                identity: "rot-ci".into(),
                key,
            },
        )
        .await;
    }
}

#[tokio::test]
async fn secrets_manager_sink_receives_the_key() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/sm/", &json!({}));
    let secrets = moto.secrets();
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("sm-ci", "team"),
        },
    )
    .await;
    let sink = Some(Sink::Provider {
        kind: "aws_secrets_manager".into(),
        settings: serde_json::json!({"secret_id": "nhi/sm-ci/primary"}),
    });
    let created = try_apply(
        &aws,
        Operation::CreateKey {
            identity: "sm-ci".into(),
            key: "primary".into(),
        },
        sink.clone(),
    )
    .await
    .unwrap();
    assert!(created.secret.is_none());
    let first = created.new_key_id.clone().unwrap();
    let stored = secrets
        .get_secret_value()
        .secret_id("nhi/sm-ci/primary")
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert_eq!(value["AccessKeyId"], first.as_str());
    let secret = value["SecretAccessKey"].as_str().unwrap().to_owned();
    assert!(!format!("{created:?}").contains(&secret));

    // Delivered to its provider sink, the key is named at once.
    let old = read(&aws).await.state.identities[0].keys[0].clone();
    assert_eq!(old.name.as_deref(), Some("primary"));

    // Rotation puts a new version of the same secret; then the old key goes.
    let rotated = try_apply(
        &aws,
        Operation::CreateKey {
            identity: "sm-ci".into(),
            key: "primary".into(),
        },
        sink,
    )
    .await
    .unwrap();
    apply(
        &aws,
        Operation::DeleteKey {
            identity: "sm-ci".into(),
            key: old,
        },
    )
    .await;
    assert!(rotated.secret.is_none());
    let second = rotated.new_key_id.unwrap();
    let stored = secrets
        .get_secret_value()
        .secret_id("nhi/sm-ci/primary")
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert_eq!(value["AccessKeyId"], second.as_str());
    let keys = &read(&aws).await.state.identities[0].keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, second);
}

/// The `nhi:key:<id>` tags of a user, sorted.
async fn key_tags(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let tags = iam.list_user_tags().user_name(user).send().await.unwrap();
    let mut keys: Vec<String> = tags
        .tags()
        .iter()
        .map(|t| t.key().to_owned())
        .filter(|k| k.starts_with("nhi:key:"))
        .collect();
    keys.sort();
    keys
}

/// Regression: tags of keys deleted out of band stayed on the user for ever,
/// filling IAM's 50 tags until no new key could be named.
#[tokio::test]
async fn tags_of_keys_deleted_out_of_band_go_with_the_next_key_minted_or_deleted() {
    let moto = moto_or_skip!();
    let iam = moto.iam();
    let aws = moto.provider("/stale/", &json!({}));
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("stale-ci", "team"),
        },
    )
    .await;
    let mint = Operation::CreateKey {
        identity: "stale-ci".into(),
        key: "primary".into(),
    };
    let mut dead = Vec::new();
    for _ in 0..2 {
        let id = apply(&aws, mint.clone()).await.new_key_id.unwrap();
        record(&aws, "stale-ci", &id).await;
        iam.delete_access_key()
            .user_name("stale-ci")
            .access_key_id(&id)
            .send()
            .await
            .unwrap();
        dead.push(format!("nhi:key:{id}"));
    }
    dead.sort();
    assert_eq!(key_tags(&iam, "stale-ci").await, dead);

    // The read that plans (and re-reads at apply) finds them; the next key's
    // recording removes them.
    assert!(read(&aws).await.state.identities[0].keys.is_empty());
    let live = apply(&aws, mint.clone()).await.new_key_id.unwrap();
    record(&aws, "stale-ci", &live).await;
    assert_eq!(
        key_tags(&iam, "stale-ci").await,
        [format!("nhi:key:{live}")]
    );

    // Deleting a key also takes the tags of keys that went out of band.
    let second = apply(&aws, mint.clone()).await.new_key_id.unwrap();
    record(&aws, "stale-ci", &second).await;
    iam.delete_access_key()
        .user_name("stale-ci")
        .access_key_id(&second)
        .send()
        .await
        .unwrap();
    let keys = read(&aws).await.state.identities[0].keys.clone();
    let [key] = keys.as_slice() else {
        panic!("{keys:?}")
    };
    apply(
        &aws,
        Operation::DeleteKey {
            identity: "stale-ci".into(),
            key: key.clone(),
        },
    )
    .await;
    assert!(key_tags(&iam, "stale-ci").await.is_empty());
}
