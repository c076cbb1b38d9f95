//! Reading against moto: what is in scope, what is not drift, how few calls a
//! read makes, and how the scope is described.

use nhi_provider_aws::normalize_policy;
use nhi_provider_sdk::{Operation, Provider};
use serde_json::json;

use crate::fixtures::*;
use crate::harness::*;

#[tokio::test]
async fn out_of_band_users_are_in_scope_only_under_the_path_and_tag() {
    let moto = moto_or_skip!();
    let iam = moto.iam();
    for (name, path, managed) in [
        ("oob-stray", "/oob/", false),
        ("oob-tagged", "/oob/", true),
        ("oob-elsewhere", "/oob-not/", true),
    ] {
        let mut create = iam.create_user().user_name(name).path(path);
        if managed {
            create = create.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("nhi-managed")
                    .value("true")
                    .build()
                    .unwrap(),
            );
        }
        create.send().await.unwrap();
    }
    let by_path = moto.provider("/oob/", &json!({}));
    let seen = read(&by_path).await;
    assert_eq!(names(&seen), ["oob-stray", "oob-tagged"]);
    // An unmanaged user: no owner, no keys, no bindings; the managed tag of another
    // block is just a tag here.
    let stray = &seen.state.identities[0];
    assert_eq!(stray.identity.owner, "");
    assert_eq!(stray.identity.description, "");
    assert!(stray.identity.tags.is_empty());
    assert!(stray.keys.is_empty() && stray.bindings.is_empty());

    let by_tag = moto.provider("/oob/", &json!({"managed_tag": "nhi-managed"}));
    let seen = read(&by_tag).await;
    assert_eq!(names(&seen), ["oob-tagged"]);
    assert!(seen.state.identities[0].identity.tags.is_empty());

    // What nhi creates carries the managed tag, so it stays in scope.
    apply(
        &by_tag,
        Operation::CreateIdentity {
            identity: user("oob-new", "team"),
        },
    )
    .await;
    assert_eq!(names(&read(&by_tag).await), ["oob-new", "oob-tagged"]);
    let tags = iam
        .list_user_tags()
        .user_name("oob-new")
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "nhi-managed" && t.value() == "true")
    );
}

#[tokio::test]
async fn inline_policy_formatting_is_not_drift() {
    let moto = moto_or_skip!();
    let iam = moto.iam();
    let aws = moto.provider("/fmt/", &json!({}));
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: user("fmt-ci", "team"),
        },
    )
    .await;
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: role("fmt-role"),
        },
    )
    .await;
    // Other key order, whitespace, a single statement object, one-element lists,
    // action names in another case and repeated.
    let scruffy = r#"{ "Statement" : {"Resource": ["arn:aws:s3:::bucket/*"],
        "Action":["S3:getobject", "s3:GetObject"], "Effect":"Allow"},
      "Version":"2012-10-17" }"#;
    iam.put_user_policy()
        .user_name("fmt-ci")
        .policy_name("s3")
        .policy_document(scruffy)
        .send()
        .await
        .unwrap();
    iam.update_assume_role_policy()
        .role_name("fmt-role")
        .policy_document(
            r#"{"Statement":[{"Action":"sts:AssumeRole","Principal":{"Service":"ec2.amazonaws.com"},"Effect":"Allow"}],"Version":"2012-10-17"}"#,
        )
        .send()
        .await
        .unwrap();
    let state = read(&aws).await.state;
    assert_eq!(
        state.identities[0].bindings,
        [inline("s3", normalize_policy(s3_policy()))]
    );
    assert_eq!(
        state.identities[1].identity.attributes["trust_policy"],
        normalize_policy(trust())
    );
}

const USERS: u64 = 7;

#[tokio::test]
async fn read_makes_the_minimum_number_of_calls() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/count/", &json!({"concurrency": 3}));
    for n in 0..USERS {
        let name = format!("count-{n}");
        apply(
            &aws,
            Operation::CreateIdentity {
                identity: user(&name, "team"),
            },
        )
        .await;
        apply(
            &aws,
            Operation::CreateKey {
                identity: name,
                key: "primary".into(),
            },
        )
        .await;
    }
    // The first read of the account may have to wait for the credential report.
    read(&aws).await;
    let gaad_pages = 1; // moto returns one page whatever the limit
    let report = 2; // GenerateCredentialReport (complete) + GetCredentialReport
    let response = read(&aws).await;
    assert_eq!(response.state.identities.len(), 7);
    assert_eq!(response.api_calls, gaad_pages + USERS + report);

    // Roles add the pages of ListRoles for their descriptions.
    apply(
        &aws,
        Operation::CreateIdentity {
            identity: role("count-role"),
        },
    )
    .await;
    let list_roles_pages = 1;
    assert_eq!(
        read(&aws).await.api_calls,
        gaad_pages + list_roles_pages + USERS + report
    );

    // An empty scope costs the authorization details alone.
    let empty = moto.provider("/count-none/", &json!({}));
    assert_eq!(read(&empty).await.api_calls, gaad_pages);
}

#[tokio::test]
async fn describe_names_the_scope() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/nhi/", &json!({"managed_tag": "managed"}));
    let scope = aws.describe().await.unwrap().scope;
    assert_eq!(
        scope,
        format!(
            "IAM path `/nhi/` tagged `managed=true` (region `us-east-1`, endpoint `{}`)",
            moto.endpoint()
        )
    );
}

/// Regression: `path_prefix: /` put AWS's own roles in scope, so a prune planned
/// to delete service-linked and IAM Identity Center roles.
#[tokio::test]
async fn roles_under_paths_aws_reserves_are_never_in_scope() {
    let moto = moto_or_skip!();
    let iam = moto.iam();
    let trust = serde_json::to_string(&trust()).unwrap();
    for (name, path) in [
        (
            "AWSServiceRoleForElasticBeanstalk",
            "/aws-service-role/elasticbeanstalk.amazonaws.com/",
        ),
        (
            "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
            "/aws-reserved/sso.amazonaws.com/eu-west-1/",
        ),
        ("OrganizationAccountAccessRole", "/"),
    ] {
        iam.create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(&trust)
            .send()
            .await
            .unwrap();
    }
    let everything = moto.provider("/", &json!({}));
    let seen = read(&everything).await;
    let seen = names(&seen);
    assert!(seen.contains(&"OrganizationAccountAccessRole"), "{seen:?}");
    for reserved in ["AWSServiceRoleFor", "AWSReservedSSO_"] {
        assert!(!seen.iter().any(|n| n.starts_with(reserved)), "{seen:?}");
    }
}

/// Regression: `--verbose` counted calls, not requests: a call the SDK retried
/// (throttled) counted once though it reached IAM twice.
#[tokio::test]
async fn a_read_counts_every_attempt_retries_included() {
    let moto = moto_or_skip!();
    let proxy = moto.proxy();
    let aws = moto.provider(
        "/attempts/",
        &json!({"endpoint_url": proxy.endpoint, "max_attempts": 3}),
    );
    for name in ["attempts-a", "attempts-b"] {
        apply(
            &aws,
            Operation::CreateIdentity {
                identity: user(name, "team"),
            },
        )
        .await;
    }
    // The first read of the account may have to wait for the credential report.
    read(&aws).await;
    let plain = read(&aws).await.api_calls;
    assert_eq!(
        plain,
        1 + 2 + 2,
        "authorization details, keys per user, report"
    );

    let listed = proxy.calls("ListAccessKeys");
    proxy.control(
        "POST",
        "/_proxy/faults",
        &json!({"action": "ListAccessKeys", "code": "Throttling", "status": 400, "count": 1}),
    );
    let retried = read(&aws).await;
    assert_eq!(retried.state.identities.len(), 2);
    assert_eq!(proxy.calls("ListAccessKeys"), listed + 3);
    assert_eq!(retried.api_calls, plain + 1);
}
