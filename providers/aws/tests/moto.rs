//! The aws provider against a real IAM emulator: moto's server, started once for
//! this test binary. Each test works under its own IAM path and names, so tests
//! run in parallel against the one server.

#[path = "moto/harness.rs"]
mod harness;

use std::collections::BTreeMap;

use nhi_provider_aws::{AwsProvider, normalize_policy};
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, Binding, Identity, KeyStatus, ObservedIdentity, Operation,
    Provider, ProviderError, ReadRequest, ReadResponse, Sink, Tags,
};
use serde_json::{Value, json};

const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const VIEW_ONLY: &str = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess";

macro_rules! moto_or_skip {
    () => {
        match harness::moto() {
            Some(moto) => moto,
            None => return,
        }
    };
}

fn user(name: &str, owner: &str) -> Identity {
    Identity {
        name: name.into(),
        kind: "user".into(),
        owner: owner.into(),
        description: format!("{name} service account"),
        tags: Tags::from([("env".to_owned(), "test".to_owned())]),
        attributes: BTreeMap::new(),
    }
}

fn trust() -> Value {
    // One statement as an object, one-element lists: not the canonical form.
    json!({
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"Service": ["ec2.amazonaws.com"]},
            "Action": ["sts:AssumeRole"]
        }
    })
}

fn role(name: &str) -> Identity {
    Identity {
        name: name.into(),
        kind: "role".into(),
        owner: "platform".into(),
        description: "assumed by CI".into(),
        tags: Tags::new(),
        attributes: BTreeMap::from([
            ("trust_policy".to_owned(), trust()),
            ("permissions_boundary".to_owned(), json!(READ_ONLY)),
        ]),
    }
}

fn managed(arn: &str) -> Binding {
    Binding {
        role: arn.into(),
        resource: "*".into(),
        policy: None,
    }
}

fn inline(name: &str, policy: Value) -> Binding {
    Binding {
        role: format!("inline:{name}"),
        resource: "*".into(),
        policy: Some(policy.into()),
    }
}

fn s3_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket/*"}]
    })
}

async fn apply(provider: &AwsProvider, operation: Operation) -> ApplyResponse {
    try_apply(provider, operation, Some(Sink::Stdout))
        .await
        .unwrap()
}

async fn try_apply(
    provider: &AwsProvider,
    operation: Operation,
    sink: Option<Sink>,
) -> Result<ApplyResponse, ProviderError> {
    provider.apply(ApplyRequest { operation, sink }).await
}

async fn read(provider: &AwsProvider) -> ReadResponse {
    provider.read(ReadRequest::default()).await.unwrap()
}

fn names(response: &ReadResponse) -> Vec<&str> {
    response
        .state
        .identities
        .iter()
        .map(|i| i.identity.name.as_str())
        .collect()
}

/// The identity as a read reports it: the trust policy in canonical form.
fn as_read(mut identity: Identity) -> Identity {
    if let Some(trust) = identity.attributes.remove("trust_policy") {
        identity
            .attributes
            .insert("trust_policy".into(), normalize_policy(trust));
    }
    identity
}

fn estate_ops() -> Vec<Operation> {
    let (u, r) = ("create-ci", "create-deployer");
    vec![
        Operation::CreateIdentity {
            identity: user(u, "team-a"),
        },
        Operation::CreateIdentity { identity: role(r) },
        Operation::CreateBinding {
            identity: u.into(),
            binding: managed(READ_ONLY),
        },
        Operation::CreateBinding {
            identity: u.into(),
            binding: inline("s3", s3_policy()),
        },
        Operation::CreateBinding {
            identity: r.into(),
            binding: managed(VIEW_ONLY),
        },
        Operation::CreateBinding {
            identity: r.into(),
            binding: inline("s3", s3_policy()),
        },
    ]
}

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
    // Other key order, whitespace, a single statement object, one-element lists.
    let scruffy = r#"{ "Statement" : {"Resource": ["arn:aws:s3:::bucket/*"],
        "Action":"s3:GetObject", "Effect":"Allow"},
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

    // Both slots full: a rotation cannot create first.
    let old = keys.iter().find(|k| k.id == first).unwrap().clone();
    let rotate = Operation::RotateKey {
        identity: "rot-ci".into(),
        key: "primary".into(),
        old: old.clone(),
    };
    let err = try_apply(&aws, rotate.clone(), Some(Sink::Stdout))
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
    let rotated = apply(&aws, rotate.clone()).await;
    let new = rotated.new_key_id.clone().unwrap();
    assert!(rotated.secret.is_some());
    assert_ne!(new, first);
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
    let sink = Some(Sink::AwsSecretsManager {
        secret_id: "nhi/sm-ci/primary".into(),
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

    // Rotation puts a new version of the same secret.
    let old = read(&aws).await.state.identities[0].keys[0].clone();
    let rotated = try_apply(
        &aws,
        Operation::RotateKey {
            identity: "sm-ci".into(),
            key: "primary".into(),
            old,
        },
        sink,
    )
    .await
    .unwrap();
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

#[tokio::test]
async fn describe_names_the_scope() {
    let moto = moto_or_skip!();
    let aws = moto.provider("/nhi/", &json!({"managed_tag": "managed"}));
    let scope = aws.describe().await.unwrap().scope;
    assert_eq!(
        scope,
        format!(
            "IAM path `/nhi/` tagged `managed=true` (region `us-east-1`, endpoint `{}`)",
            moto.endpoint
        )
    );
}
