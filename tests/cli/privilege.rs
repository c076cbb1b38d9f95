//! The least-privilege rules on what the providers really read: an emulator is
//! seeded out of band, the provider reads it, and the judge must name the
//! grants. This holds the role strings and documents the rules know to the ones
//! the providers write.

use std::collections::BTreeSet;

use nhi::policy::{Finding, Judging, PolicyRecord, ScopeInput, judge};
use nhi_provider_sdk::{Address, Provider, ProviderContext, ReadRequest};
use serde_json::json;

use crate::gcp::{grant, member};
use crate::moto;
use crate::standin::{self, PROJECT};

/// The built-in findings on the live state `provider` reads, as `(address, rule)`.
fn findings(type_name: &str, provider: &dyn Provider) -> Vec<(String, String)> {
    findings_with_unmanaged(type_name, provider, &[])
}

/// [`findings`], with the identities named in `unmanaged` declared by no
/// configuration.
fn findings_with_unmanaged(
    type_name: &str,
    provider: &dyn Provider,
    unmanaged: &[&str],
) -> Vec<(String, String)> {
    let state = nhi::refresh::runtime()
        .unwrap()
        .block_on(provider.read(ReadRequest::default()))
        .unwrap()
        .state;
    let scopes = [ScopeInput {
        prefix: Address::provider(type_name, "prod"),
        type_name,
        reports_key_use: false,
        observed: &state,
    }];
    let policy = PolicyRecord::default();
    let found: Vec<Finding> = judge(&Judging {
        now: jiff::Timestamp::now(),
        policy: &policy,
        scopes: &scopes,
        changes: &[],
        unmanaged: &unmanaged
            .iter()
            .map(|name| Address::provider(type_name, "prod").identity(name))
            .collect::<BTreeSet<_>>(),
        config: None,
    });
    found
        .into_iter()
        .map(|f| (f.address.as_str().to_owned(), f.rule))
        .collect()
}

fn context(settings: serde_json::Value) -> ProviderContext {
    ProviderContext {
        name: "prod".into(),
        settings,
        base_dir: std::env::temp_dir(),
    }
}

#[test]
fn aws_privilege_rules_fire_on_what_the_provider_reads() {
    let Some(moto) = moto::start() else { return };
    moto.boto(
        r"
owner = [{'Key': 'nhi:owner', 'Value': 'platform@example.com'}]
iam.create_user(Path='/nhi/', UserName='ci-admin', Tags=owner)
iam.attach_user_policy(UserName='ci-admin', PolicyArn='arn:aws:iam::aws:policy/AdministratorAccess')
iam.create_user(Path='/nhi/', UserName='ci-deployer', Tags=owner)
iam.put_user_policy(UserName='ci-deployer', PolicyName='pass', PolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': {'Effect': 'Allow', 'Action': ['IAM:PassRole', 's3:*'], 'Resource': '*'}}))
iam.put_user_policy(UserName='ci-deployer', PolicyName='read', PolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Action': 's3:GetObject', 'Resource': '*'}]}))
iam.create_role(Path='/nhi/', RoleName='open', Tags=owner, AssumeRolePolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Principal': {'AWS': '*'}, 'Action': 'sts:AssumeRole'}]}))
iam.create_role(Path='/nhi/', RoleName='gha', Tags=owner, AssumeRolePolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow',
        'Principal': {'Federated': 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com'},
        'Action': 'sts:AssumeRoleWithWebIdentity',
        'Condition': {'StringLike': {'token.actions.githubusercontent.com:sub': 'repo:*'}}}]}))
iam.create_role(Path='/nhi/', RoleName='app', Tags=owner, AssumeRolePolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Principal': {'Service': 'ec2.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]}))
",
    );
    let endpoint = moto
        .env()
        .into_iter()
        .find(|(k, _)| *k == "AWS_ENDPOINT_URL")
        .unwrap()
        .1;
    let provider = nhi_provider_aws::AwsProvider::new(context(json!({
        "path_prefix": "/nhi/",
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "max_attempts": 1,
    })))
    .unwrap()
    .with_static_credentials("testing", "testing");
    let found = findings("aws", &provider);

    let prod = Address::provider("aws", "prod");
    let at = |identity: &str, role: Option<&str>| {
        let address = prod.identity(identity);
        match role {
            Some(role) => address.binding(role, "*"),
            None => address,
        }
        .as_str()
        .to_owned()
    };
    let want = [
        (
            at(
                "ci-admin",
                Some("arn:aws:iam::aws:policy/AdministratorAccess"),
            ),
            "admin-privilege",
        ),
        (
            at("ci-deployer", Some("inline:pass")),
            "privilege-escalation",
        ),
        (at("ci-deployer", Some("inline:pass")), "wildcard-action"),
        (at("open", None), "open-trust"),
        (at("gha", None), "open-trust"),
    ];
    for (address, rule) in &want {
        assert!(
            found.iter().any(|(a, r)| a == address && r == rule),
            "{rule} on {address}: {found:?}"
        );
    }
    let privilege = [
        "admin-privilege",
        "wildcard-action",
        "privilege-escalation",
        "open-trust",
    ];
    let mut extra: Vec<_> = found
        .iter()
        .filter(|(a, r)| {
            privilege.contains(&r.as_str()) && !want.iter().any(|(wa, wr)| wa == a && wr == r)
        })
        .collect();
    extra.dedup();
    assert!(extra.is_empty(), "{extra:?}");
}

#[test]
fn gcp_privilege_rules_fire_on_what_the_provider_reads() {
    let standin = standin::start();
    for id in ["ci-owner", "ci-actor", "ci-reader"] {
        standin.ok(
            "POST",
            &format!("/v1/projects/{PROJECT}/serviceAccounts"),
            &json!({"accountId": id, "serviceAccount": {"displayName": id}}).to_string(),
        );
    }
    grant(&standin, "roles/owner", &member("ci-owner"));
    grant(
        &standin,
        "roles/iam.serviceAccountUser",
        &member("ci-actor"),
    );
    grant(&standin, "roles/viewer", &member("ci-reader"));
    let provider = nhi_provider_gcp::GcpProvider::new(context(json!({
        "project": PROJECT,
        "endpoint": standin.endpoint,
        "credentials": "anonymous",
    })))
    .unwrap();
    let found = findings("gcp", &provider);

    let prod = Address::provider("gcp", "prod");
    let at = |identity: &str, role: &str| {
        prod.identity(identity)
            .binding(role, "*")
            .as_str()
            .to_owned()
    };
    for (address, rule) in [
        (at("ci-owner", "roles/owner"), "admin-privilege"),
        (
            at("ci-actor", "roles/iam.serviceAccountUser"),
            "privilege-escalation",
        ),
    ] {
        assert!(
            found.iter().any(|(a, r)| *a == address && r == rule),
            "{rule} on {address}: {found:?}"
        );
    }
    let reader = at("ci-reader", "roles/viewer");
    assert!(
        !found.iter().any(|(a, _)| *a == reader),
        "{reader}: {found:?}"
    );
}

/// The hygiene rules on what the AWS provider reads: a user with two active
/// access keys, one no configuration declares that holds a key, one whose owner
/// tag is no contact, and a clean one.
#[test]
fn aws_hygiene_rules_fire_on_what_the_provider_reads() {
    let Some(moto) = moto::start() else { return };
    moto.boto(
        r"
owner = [{'Key': 'nhi:owner', 'Value': 'platform@example.com'}]
iam.create_user(Path='/nhi/', UserName='two-keys', Tags=owner)
iam.create_access_key(UserName='two-keys')
iam.create_access_key(UserName='two-keys')
iam.create_user(Path='/nhi/', UserName='shadow', Tags=owner)
iam.create_access_key(UserName='shadow')
iam.create_user(Path='/nhi/', UserName='ownerless', Tags=[{'Key': 'nhi:owner', 'Value': 'bob'}])
iam.create_user(Path='/nhi/', UserName='clean', Tags=owner)
iam.create_access_key(UserName='clean')
",
    );
    let endpoint = moto
        .env()
        .into_iter()
        .find(|(k, _)| *k == "AWS_ENDPOINT_URL")
        .unwrap()
        .1;
    let provider = nhi_provider_aws::AwsProvider::new(context(json!({
        "path_prefix": "/nhi/",
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "max_attempts": 1,
    })))
    .unwrap()
    .with_static_credentials("testing", "testing");
    let found = findings_with_unmanaged("aws", &provider, &["shadow"]);
    let prod = Address::provider("aws", "prod");
    let on = |identity: &str| prod.identity(identity).as_str().to_owned();
    for (address, rule) in [
        (on("two-keys"), "two-active-keys"),
        (on("shadow"), "shadow-identity"),
        (on("ownerless"), "owner-missing"),
    ] {
        assert!(
            found.iter().any(|(a, r)| *a == address && r == rule),
            "{rule} on {address}: {found:?}"
        );
    }
    let clean = on("clean");
    assert!(
        !found.iter().any(|(a, _)| a.starts_with(&clean)),
        "{clean}: {found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|(a, r)| a.starts_with(&on("two-keys")) && r != "two-active-keys"),
        "new keys are neither old nor unused: {found:?}"
    );
}

/// The hygiene rules on what the GCP provider reads: a user-managed key (CIS
/// GCP 1.4), an account no configuration declares that holds a role, and a
/// keyless declared account with a grant of no concern.
#[test]
fn gcp_hygiene_rules_fire_on_what_the_provider_reads() {
    let standin = standin::start();
    for id in ["ci-keyed", "ci-shadow", "ci-clean"] {
        standin.ok(
            "POST",
            &format!("/v1/projects/{PROJECT}/serviceAccounts"),
            &json!({"accountId": id, "serviceAccount": {"displayName": id}}).to_string(),
        );
    }
    standin.ok(
        "POST",
        &format!("{}/keys", standin::Standin::account_path("ci-keyed")),
        "{}",
    );
    grant(&standin, "roles/viewer", &member("ci-shadow"));
    grant(&standin, "roles/viewer", &member("ci-clean"));
    let provider = nhi_provider_gcp::GcpProvider::new(context(json!({
        "project": PROJECT,
        "endpoint": standin.endpoint,
        "credentials": "anonymous",
    })))
    .unwrap();
    let found = findings_with_unmanaged("gcp", &provider, &["ci-shadow"]);
    let prod = Address::provider("gcp", "prod");
    let on = |identity: &str| prod.identity(identity).as_str().to_owned();
    let keyed: Vec<_> = found
        .iter()
        .filter(|(a, r)| {
            a.starts_with(&format!("{}/key/", on("ci-keyed"))) && r == "user-managed-key"
        })
        .collect();
    assert_eq!(keyed.len(), 1, "{found:?}");
    assert!(
        found
            .iter()
            .any(|(a, r)| *a == on("ci-shadow") && r == "shadow-identity"),
        "{found:?}"
    );
    let clean = on("ci-clean");
    assert!(
        !found
            .iter()
            .any(|(a, r)| a.starts_with(&clean) && r != "owner-missing"),
        "{clean}: {found:?}"
    );
}
