//! Group memberships against moto: read as bindings `group:<name>`, added and
//! removed like any other binding.

use nhi_provider_sdk::{Binding, Operation, ProviderError};
use serde_json::json;

use crate::fixtures::*;
use crate::harness::*;

fn group(name: &str) -> Binding {
    Binding {
        role: format!("group:{name}"),
        resource: "*".into(),
        policy: None,
    }
}

/// Regression: privilege held through a group (`AdministratorAccess` on a group the
/// user is in) never showed in a read, so no plan or reviewer saw it.
#[tokio::test]
async fn group_memberships_read_as_bindings_and_apply_like_them() {
    let moto = moto_or_skip!();
    let iam = moto.iam();
    let aws = moto.provider("/grp/", &json!({}));
    for name in ["grp-admins", "grp-readers"] {
        iam.create_group().group_name(name).send().await.unwrap();
    }
    iam.attach_group_policy()
        .group_name("grp-admins")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("grp-ci", "team"),
        },
    )
    .await;

    // Joined out of band: the read shows it.
    iam.add_user_to_group()
        .group_name("grp-admins")
        .user_name("grp-ci")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&aws).await.state.identities[0].bindings,
        [group("grp-admins")]
    );

    // Planned: joined and left through the provider, idempotently.
    let join = Operation::CreateBinding {
        identity: "grp-ci".into(),
        binding: group("grp-readers"),
    };
    apply(&aws, join.clone()).await;
    apply(&aws, join).await;
    let leave = Operation::DeleteBinding {
        identity: "grp-ci".into(),
        binding: group("grp-admins"),
    };
    apply(&aws, leave.clone()).await;
    apply(&aws, leave).await;
    assert_eq!(
        read(&aws).await.state.identities[0].bindings,
        [group("grp-readers")]
    );
    let groups = iam
        .list_groups_for_user()
        .user_name("grp-ci")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = groups
        .groups()
        .iter()
        .map(aws_sdk_iam::types::Group::group_name)
        .collect();
    assert_eq!(names, ["grp-readers"]);

    // A group that does not exist is IAM's error, naming it.
    let err = try_apply(
        &aws,
        Operation::CreateBinding {
            identity: "grp-ci".into(),
            binding: group("grp-nobody"),
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("grp-nobody"), "{err}");

    // Roles join no groups.
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: role("grp-role"),
        },
    )
    .await;
    let err = try_apply(
        &aws,
        Operation::CreateBinding {
            identity: "grp-role".into(),
            binding: group("grp-readers"),
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("only IAM users join groups"),
        "{err}"
    );
}
