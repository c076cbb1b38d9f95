//! Identities against moto: an estate created from nothing, re-applied, updated,
//! replaced and deleted, each step read back.

use nhi_provider_aws::normalize_policy;
use nhi_provider_sdk::{KeyStatus, ObservedIdentity, Operation, ProviderError};
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::harness::*;

#[tokio::test]
async fn create_from_nothing_reads_back_exactly_and_reapply_is_idempotent() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/create/", &json!({}));
    assert!(read(&aws).await.state.identities.is_empty());

    for op in estate_ops() {
        apply(&aws, op).await;
    }
    let key = apply(
        &aws,
        Operation::CreateKey {
            identity: "create-ci".into(),
            key: "primary".into(),
        },
    )
    .await;
    let key_id = key.new_key_id.clone().unwrap();
    let secret = key.secret.as_ref().unwrap();
    assert_eq!(secret.key_id, key_id);
    let material: Value = serde_json::from_str(&secret.secret).unwrap();
    assert_eq!(material["AccessKeyId"], key_id.as_str());
    assert!(material["SecretAccessKey"].as_str().unwrap().len() >= 20);
    // Named only once the engine says its secret was delivered.
    let unnamed = read(&aws).await.state;
    assert_eq!(unnamed.identities[0].keys[0].name, None);
    nhi_provider_sdk::Provider::record_key(
        &aws,
        nhi_provider_sdk::RecordKeyRequest {
            identity: "create-ci".into(),
            key: "primary".into(),
            key_id: key_id.clone(),
        },
    )
    .await
    .unwrap();

    let state = read(&aws).await.state;
    let [ci, deployer] = state.identities.as_slice() else {
        panic!("{state:?}")
    };
    let mut want_bindings = vec![
        managed(READ_ONLY),
        inline("s3", normalize_policy(s3_policy())),
    ];
    want_bindings.sort_by(|a, b| a.role.cmp(&b.role));
    assert_eq!(ci.identity, user("create-ci", "team-a"));
    assert_eq!(ci.bindings, want_bindings);
    let [observed_key] = ci.keys.as_slice() else {
        panic!("{ci:?}")
    };
    assert_eq!(observed_key.id, key_id);
    assert_eq!(observed_key.name.as_deref(), Some("primary"));
    assert_eq!(observed_key.status, KeyStatus::Active);
    let age = jiff::Timestamp::now().duration_since(observed_key.created);
    assert!(age.as_secs().abs() < 600, "{age:?}");

    let mut want_role_bindings = vec![
        managed(VIEW_ONLY),
        inline("s3", normalize_policy(s3_policy())),
    ];
    want_role_bindings.sort_by(|a, b| a.role.cmp(&b.role));
    assert_eq!(
        *deployer,
        ObservedIdentity {
            identity: as_read(role("create-deployer")),
            keys: vec![],
            bindings: want_role_bindings,
        }
    );

    // Everything again: no errors, no changes.
    for op in estate_ops() {
        apply(&aws, op).await;
    }
    assert_eq!(read(&aws).await.state, state);

    // Creating an identity that exists differently is refused.
    let mut other = user("create-ci", "team-b");
    other.tags.clear();
    let err = try_apply(&aws, Operation::CreateIdentity { identity: other }, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::AlreadyExists(_)), "{err}");
    assert_eq!(err.to_string(), "user `create-ci` already exists");
}

#[tokio::test]
async fn delete_removes_everything_and_is_idempotent() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/del/", &json!({}));
    let u = user("del-ci", "team");
    let r = role("del-role");
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: u.clone(),
        },
    )
    .await;
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: r.clone(),
        },
    )
    .await;
    apply(
        &aws,
        Operation::CreateKey {
            identity: "del-ci".into(),
            key: "primary".into(),
        },
    )
    .await;
    for (identity, binding) in [
        ("del-ci", managed(READ_ONLY)),
        ("del-ci", inline("s3", s3_policy())),
        ("del-role", managed(READ_ONLY)),
        ("del-role", inline("s3", s3_policy())),
    ] {
        apply(
            &aws,
            Operation::CreateBinding {
                identity: identity.into(),
                binding,
            },
        )
        .await;
    }
    let state = read(&aws).await.state;
    assert_eq!(state.identities.len(), 2);

    // A fresh provider knows no kinds yet: bindings find theirs by asking IAM.
    let fresh = moto.provider("/del/", &json!({}));
    let mut ops = Vec::new();
    for observed in &state.identities {
        let name = observed.identity.name.clone();
        for key in &observed.keys {
            ops.push(Operation::DeleteKey {
                identity: name.clone(),
                key: key.clone(),
            });
        }
        for binding in &observed.bindings {
            ops.push(Operation::DeleteBinding {
                identity: name.clone(),
                binding: binding.clone(),
            });
        }
        ops.push(Operation::DeleteIdentity {
            identity: observed.identity.clone(),
        });
    }
    for op in &ops {
        apply(&fresh, op.clone()).await;
    }
    assert!(read(&aws).await.state.identities.is_empty());
    // Everything again: all gone already, all fine.
    for op in ops {
        apply(&fresh, op).await;
    }
}

#[tokio::test]
async fn update_and_replace_identities() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/upd/", &json!({}));
    let before_role = role("upd-role");
    let before_user = user("upd-ci", "team-a");
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: before_role.clone(),
        },
    )
    .await;
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: before_user.clone(),
        },
    )
    .await;

    let mut after_role = before_role.clone();
    after_role.owner = "team-b".into();
    after_role.description = "assumed by deploys".into();
    after_role.tags.insert("cost".into(), "42".into());
    after_role.attributes.remove("permissions_boundary");
    after_role.attributes.insert(
        "trust_policy".into(),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    );
    let mut after_user = before_user.clone();
    after_user.description = String::new();
    after_user.tags.clear();
    after_user.tags.insert("tier".into(), "1".into());
    apply(
        &aws,
        Operation::UpdateIdentity {
            before: as_read(before_role),
            after: after_role.clone(),
        },
    )
    .await;
    apply(
        &aws,
        Operation::UpdateIdentity {
            before: before_user.clone(),
            after: after_user.clone(),
        },
    )
    .await;
    let state = read(&aws).await.state;
    assert_eq!(state.identities[0].identity, after_user);
    assert_eq!(state.identities[1].identity, as_read(after_role.clone()));

    // A change of kind: the user becomes a role of the same name.
    let mut replacement = role("upd-ci");
    replacement.attributes.remove("permissions_boundary");
    apply(
        &aws,
        Operation::ReplaceIdentity {
            before: after_user,
            after: replacement.clone(),
        },
    )
    .await;
    apply(
        &aws,
        Operation::CreateBinding {
            identity: "upd-ci".into(),
            binding: managed(READ_ONLY),
        },
    )
    .await;
    let state = read(&aws).await.state;
    assert_eq!(state.identities[0].identity, as_read(replacement));
    assert_eq!(state.identities[0].bindings, [managed(READ_ONLY)]);
}

/// Regression: on real IAM, deleting a user whose keys and policies were gone
/// still failed with `DeleteConflict` while it had a login profile, an MFA
/// device, SSH keys, signing certificates, service-specific credentials or
/// groups. Moto deletes anyway, so the proxy answers as IAM does.
#[tokio::test]
async fn deleting_a_user_first_removes_what_iam_refuses_to_delete_it_with() {
    use aws_sdk_iam::error::ProvideErrorMetadata as _;

    let moto = moto_or_skip!();
    let proxy = moto.proxy();
    let aws = moto.provider("/debris/", &json!({"endpoint_url": proxy.endpoint}));
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("debris-ci", "team"),
        },
    )
    .await;
    let made = proxy.control("POST", "/_proxy/debris", &json!({"user": "debris-ci"}));
    // As IAM answers: the user cannot be deleted as it is.
    let refused = proxy
        .iam()
        .delete_user()
        .user_name("debris-ci")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("DeleteConflict"), "{refused:?}");

    // The group membership is a binding the plan shows and deletes first.
    let observed = read(&aws).await.state.identities[0].clone();
    let group = format!("group:{}", made["group"].as_str().unwrap());
    assert_eq!(
        observed
            .bindings
            .iter()
            .map(|b| b.role.as_str())
            .collect::<Vec<_>>(),
        [group.as_str()]
    );
    let delete = Operation::DeleteIdentity {
        identity: observed.identity,
    };
    apply(&aws, delete.clone()).await;
    assert!(read(&aws).await.state.identities.is_empty());
    let iam = moto.iam();
    let gone = iam
        .get_user()
        .user_name("debris-ci")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("NoSuchEntity"));
    let devices = iam.list_virtual_mfa_devices().send().await.unwrap();
    let serial = made["mfa"].as_str().unwrap();
    assert!(
        devices
            .virtual_mfa_devices()
            .iter()
            .all(|d| d.serial_number() != serial),
        "the virtual MFA device went with its user"
    );
    // Deleting it again is done already.
    apply(&aws, delete).await;

    // A removal that fails is named beside IAM's refusal.
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("debris-denied", "team"),
        },
    )
    .await;
    proxy.control("POST", "/_proxy/debris", &json!({"user": "debris-denied"}));
    proxy.control(
        "POST",
        "/_proxy/faults",
        &json!({"action": "DeleteLoginProfile", "code": "AccessDenied", "status": 403, "count": 1}),
    );
    let err = try_apply(
        &aws,
        Operation::DeleteIdentity {
            identity: user("debris-denied", "team"),
        },
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("`iam:DeleteUser` on user `debris-denied` failed: DeleteConflict: "),
        "{err}"
    );
    assert!(err.contains("login profile"), "{err}");
    assert!(
        err.contains("`iam:DeleteLoginProfile` on user `debris-denied` was refused"),
        "{err}"
    );
}
