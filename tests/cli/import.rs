//! `nhi import`: a scope written as the configuration that declares it, which
//! plans no changes; keys adopted by id; `--only-unmanaged` for shadow
//! identities; and plans over adopted keys that apply.

use crate::flow::Cloud as _;
use crate::flow::ok;
use crate::harness::Workspace;
use crate::team::run;

/// Imports `provider` into `imported.yaml`, makes it the configuration, and
/// checks that a plan over it has no changes. Returns the imported text.
pub fn round_trip(ws: &Workspace, run: &dyn Fn(&[&str]) -> crate::harness::Run) -> String {
    let imported = run(&["import", "--provider", "demo", "-o", "imported.yaml"]);
    ok(&imported);
    let text = ws.read("imported.yaml");
    std::fs::rename(ws.path().join("imported.yaml"), ws.path().join("nhi.yaml")).unwrap();
    let plan = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "a plan over the import has changes:\n{text}\n{}\n{}",
        plan.stdout, plan.stderr
    );
    text
}

#[test]
fn import_then_plan_has_no_changes_on_the_local_provider() {
    let ws = Workspace::example("quickstart");
    let before = ws.bytes("estate.json");
    let first = ws.run(&["import", "--provider", "demo"]);
    ok(&first);
    let text = round_trip(&ws, &|args| ws.run(args));
    assert_eq!(ws.bytes("estate.json"), before, "import is read-only");
    // Deterministic: the same scope and configuration, the same bytes.
    assert_eq!(first.stdout, text);
    for line in [
        "# Imported by `nhi import` from provider block `demo` (type `local`) at 2026-11-22T12:00:00Z.",
        "# Scope: estate file `estate.json`",
        "  # finding: shadow-identity (high): no configuration declares it, yet it holds 1 key and 1 binding",
        "  - name: legacy-bot",
        "        adopt: LK9W4E6R2T8Y1U3I5O7P",
        "        sink: {file: secrets/demo/legacy-bot/key-1.key}",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
}

#[test]
fn a_hostile_tag_value_round_trips_exactly() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\n",
    );
    let hostile = [
        ("colon", "a: b"),
        ("hash", "x # not a comment"),
        ("dash", "- item"),
        ("yes", "yes"),
        ("off", "Off"),
        ("number", "0123"),
        ("float", "1e3"),
        ("null", "~"),
        ("quotes", "'a' \"b\""),
        ("unicode", "caf\u{e9} \u{1F600}"),
        ("spaces", "  both  "),
        ("brace", "{x: [1]}"),
        ("star", "*alias"),
    ];
    let tags: serde_json::Map<String, serde_json::Value> = hostile
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .chain([("- key: #".to_owned(), "true".into())])
        .collect();
    let estate = serde_json::json!({
        "nhi_local_estate": 1,
        "identities": [{
            "name": "svc", "kind": "service_account", "owner": "a@example.com",
            "description": "no: really # yes", "tags": tags, "keys": [], "bindings": [
                {"role": "reader", "resource": "- x: y", "policy": {"k": "on", "n": 1, "e": []}}
            ]
        }]
    });
    ws.write("estate.json", &format!("{estate}\n"));
    let text = round_trip(&ws, &|args| ws.run(args));
    // The YAML reads back as exactly the live values.
    let read: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let identity = &read["identities"][0];
    assert_eq!(identity["tags"], serde_json::Value::Object(tags), "{text}");
    assert_eq!(identity["description"], "no: really # yes");
    assert_eq!(identity["bindings"][0]["resource"], "- x: y");
}

#[test]
fn only_unmanaged_writes_entries_to_append_to_identities() {
    let ws = Workspace::example("quickstart");
    let run = ws.run(&["import", "--provider", "demo", "--only-unmanaged"]);
    ok(&run);
    assert_eq!(
        run.stdout.matches("\n  - name: ").count(),
        1,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  - name: legacy-bot\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("providers:"), "{}", run.stdout);
    // Appended to a configuration whose `identities:` comes last, it declares
    // the shadow identity: no longer unmanaged.
    let config = ws.read("nhi.yaml");
    let identities = config.find("\nidentities:").unwrap();
    assert!(
        !config[identities..].contains("\npolicy:"),
        "the example's identities come last"
    );
    ws.write("nhi.yaml", &format!("{config}{}", run.stdout));
    let drift = ws.run(&["drift", "--json", "--fail-on", "unmanaged"]);
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
}

#[test]
fn import_never_overwrites_a_file() {
    let ws = Workspace::example("quickstart");
    ws.write("taken.yaml", "mine\n");
    let run = ws.run(&["import", "--provider", "demo", "-o", "taken.yaml"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nhi::import::exists"), "{}", run.stderr);
    assert_eq!(ws.read("taken.yaml"), "mine\n");
    let help = ws.run(&["import", "--help"]);
    ok(&help);
    assert!(
        help.stdout.contains("--only-unmanaged") && help.stdout.contains("`adopt:"),
        "{}",
        help.stdout
    );
    let unknown = ws.run(&["import", "--provider", "prod"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("nhi::import::unknown_provider")
            && unknown.stderr.contains("provider blocks: `demo`"),
        "{}",
        unknown.stderr
    );
}

fn adopted_workspace(key_tail: &str) -> Workspace {
    let ws = crate::flow::workspace();
    ws.write(
        "estate.json",
        "{\"nhi_local_estate\":1,\"identities\":[\n{\"name\":\"ci\",\"kind\":\"service_account\",\"owner\":\"a@example.com\",\"keys\":[{\"id\":\"LIVE1\",\"name\":null,\"created\":\"2026-06-01T00:00:00Z\",\"status\":\"active\"}],\"bindings\":[]}\n]}\n",
    );
    ws.write(
        "nhi.yaml",
        &format!("version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {{state: estate.json}}\nidentities:\n  - name: ci\n    provider: demo\n    owner: a@example.com\n    keys:\n{key_tail}"),
    );
    ws
}

#[test]
fn a_plan_rotating_an_adopted_key_applies() {
    let ws = adopted_workspace(
        "      - name: primary\n        adopt: LIVE1\n        rotate_after: 90d\n        sink: {file: secrets/ci.key}\n",
    );
    let plan = run(&ws, &["plan", "-o", "rotate.plan"]);
    ok(&plan);
    assert!(
        plan.stdout
            .contains("deleted after `local.demo/identity/ci/key/primary` is created"),
        "{}",
        plan.stdout
    );
    let apply = run(&ws, &["apply", "rotate.plan", "--trust", "trust.yaml"]);
    ok(&apply);
    assert!(ws.path().join("secrets/ci.key").exists());
    let estate = ws.read("estate.json");
    assert!(!estate.contains("LIVE1"), "{estate}");
    // The new key carries the name: the declaration still matches it.
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}

#[test]
fn declaring_an_existing_identity_creates_its_key_before_deleting_the_live_one() {
    let ws = adopted_workspace("      - name: primary\n        sink: {file: secrets/ci.key}\n");
    let plan = run(&ws, &["plan", "-o", "adopt.plan"]);
    ok(&plan);
    let created = plan.stdout.find("identity/ci/key/primary").unwrap();
    let deleted = plan.stdout.find("identity/ci/key/LIVE1").unwrap();
    assert!(created < deleted, "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("deleted after `local.demo/identity/ci/key/primary` is created"),
        "{}",
        plan.stdout
    );
    ok(&run(&ws, &["apply", "adopt.plan", "--trust", "trust.yaml"]));
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}

#[test]
fn aws_import_then_plan_has_no_changes() {
    let Some(moto) = crate::moto::start() else {
        return;
    };
    let ws = crate::flow::workspace();
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: demo\n    type: aws\n    settings:\n      path_prefix: /nhi/\n      max_attempts: 1\n",
    );
    moto.boto(
        r"
owner = {'Key': 'nhi:owner', 'Value': 'platform@example.com'}
hostile = [{'Key': 'colon', 'Value': 'a: b'}, {'Key': 'dash', 'Value': '- x'},
           {'Key': 'yes', 'Value': 'yes'}, {'Key': 'number', 'Value': '0123'},
           {'Key': 'spaces', 'Value': ' both '}, {'Key': 'team', 'Value': 'platform'}]
iam.create_user(UserName='ci-deployer', Path='/nhi/',
                Tags=[owner, {'Key': 'nhi:description', 'Value': 'Deploys: from CI'}] + hostile)
iam.create_access_key(UserName='ci-deployer')
iam.create_access_key(UserName='ci-deployer')
iam.attach_user_policy(UserName='ci-deployer', PolicyArn='arn:aws:iam::aws:policy/ReadOnlyAccess')
iam.put_user_policy(UserName='ci-deployer', PolicyName='deploy', PolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Action': ['s3:PutObject', 's3:GetObject'],
                   'Resource': 'arn:aws:s3:::releases/*'}]}))
iam.create_group(GroupName='deployers')
iam.add_user_to_group(GroupName='deployers', UserName='ci-deployer')
iam.create_role(RoleName='app-runtime', Path='/nhi/', Description='Assumed by the web tier',
    Tags=[{'Key': 'nhi:owner', 'Value': 'web@example.com'}],
    PermissionsBoundary='arn:aws:iam::aws:policy/PowerUserAccess',
    AssumeRolePolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [
        {'Effect': 'Allow', 'Principal': {'Service': 'ec2.amazonaws.com'},
         'Action': 'sts:AssumeRole', 'Condition': {'Bool': {'aws:SecureTransport': 'true'}}}]}))
iam.attach_role_policy(RoleName='app-runtime', PolicyArn='arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess')
iam.put_role_policy(RoleName='app-runtime', PolicyName='logs', PolicyDocument=json.dumps({
    'Version': '2012-10-17',
    'Statement': {'Effect': 'Allow', 'Action': 'logs:PutLogEvents', 'Resource': '*'}}))
iam.create_user(UserName='elsewhere', Path='/other/')
",
    );
    let text = round_trip(&ws, &|args| moto.nhi(&ws, args));
    for line in [
        "  - name: app-runtime",
        "      permissions_boundary: \"arn:aws:iam::aws:policy/PowerUserAccess\"",
        "      - role: \"group:deployers\"",
        "      - role: \"inline:deploy\"",
        "      - name: key-1",
        "      - name: key-2",
        "      colon: \"a: b\"",
        "      dash: \"- x\"",
        "      \"yes\": \"yes\"",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
    assert!(!text.contains("elsewhere"), "out of scope:\n{text}");
    assert_eq!(text.matches("        adopt: AKIA").count(), 2, "{text}");
}

#[test]
fn gcp_import_then_plan_has_no_changes() {
    use crate::standin::{PROJECT, Standin};
    let standin = crate::standin::start();
    let ws = crate::flow::workspace();
    ws.write(
        "nhi.yaml",
        &format!(
            "version: 1\nproviders:\n  - name: demo\n    type: gcp\n    settings:\n      project: {PROJECT}\n      endpoint: {}\n      credentials: anonymous\n",
            standin.endpoint
        ),
    );
    let accounts = format!("/v1/projects/{PROJECT}/serviceAccounts");
    standin.ok(
        "POST",
        &accounts,
        r#"{"accountId": "ci-deployer", "serviceAccount": {"displayName": "CI: deployer", "description": "Deploys from CI\nnhi:{\"owner\":\"platform@example.com\"}"}}"#,
    );
    standin.ok(
        "POST",
        &accounts,
        r#"{"accountId": "app-runtime", "serviceAccount": {"description": "nhi:{\"owner\":\"web@example.com\"}"}}"#,
    );
    standin.ok(
        "POST",
        &format!("{}/keys", Standin::account_path("ci-deployer")),
        "{}",
    );
    let member = |id: &str| format!("serviceAccount:{id}@{PROJECT}.iam.gserviceaccount.com");
    let mut policy = standin.policy();
    policy["version"] = 3.into();
    let bindings = policy["bindings"].as_array_mut().unwrap();
    bindings.push(serde_json::json!({"role": "roles/storage.objectViewer", "members": [member("ci-deployer")]}));
    bindings.push(serde_json::json!({
        "role": "roles/pubsub.publisher",
        "members": [member("ci-deployer")],
        "condition": {
            "title": "release-topics",
            "description": "Release topics: only",
            "expression": format!("resource.name.startsWith(\"projects/{PROJECT}/topics/release-\")")
        }
    }));
    bindings.push(
        serde_json::json!({"role": "roles/logging.logWriter", "members": [member("app-runtime")]}),
    );
    standin.ok(
        "POST",
        &format!("/v3/projects/{PROJECT}:setIamPolicy"),
        &serde_json::json!({"policy": policy}).to_string(),
    );
    let text = round_trip(&ws, &|args| standin.nhi(&ws, args));
    for line in [
        "  - name: app-runtime",
        "      display_name: \"CI: deployer\"",
        "        resource: \"condition:release-topics\"",
        "          description: \"Release topics: only\"",
        "      - name: key-1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
    assert_eq!(text.matches("        adopt: ").count(), 1, "{text}");
}

#[test]
fn aws_an_adopted_key_rotates_and_a_declared_key_replaces_a_live_one_first() {
    let Some(moto) = crate::moto::start() else {
        return;
    };
    let ws = crate::flow::workspace();
    let live = moto.boto(
        r"
owner = [{'Key': 'nhi:owner', 'Value': 'platform@example.com'}]
for name in ('adopted', 'declared'):
    iam.create_user(UserName=name, Path='/nhi/', Tags=owner)
print(iam.create_access_key(UserName='adopted')['AccessKey']['AccessKeyId'])
print(iam.create_access_key(UserName='declared')['AccessKey']['AccessKeyId'])
",
    );
    let ids: Vec<&str> = live.split_whitespace().collect();
    let config = |rotate_after: &str| {
        format!(
            "version: 1\nproviders:\n  - name: demo\n    type: aws\n    settings:\n      path_prefix: /nhi/\n      max_attempts: 1\nidentities:\n  - name: adopted\n    provider: demo\n    kind: user\n    owner: platform@example.com\n    keys:\n      - name: primary\n        adopt: {}\n        rotate_after: {rotate_after}\n        sink: {{file: secrets/adopted.json}}\n  - name: declared\n    provider: demo\n    kind: user\n    owner: platform@example.com\n    keys:\n      - name: primary\n        sink: {{file: secrets/declared.json}}\n",
            ids[0]
        )
    };
    ws.write("nhi.yaml", &config("1s"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let plan = moto.nhi(&ws, &["plan", "-o", "adopt.plan"]);
    ok(&plan);
    for (identity, id) in [("adopted", ids[0]), ("declared", ids[1])] {
        let created = plan
            .stdout
            .find(&format!(
                "aws.demo/identity/{identity}/key/primary will be created"
            ))
            .unwrap_or_else(|| panic!("{}", plan.stdout));
        let deleted = plan
            .stdout
            .find(&format!(
                "aws.demo/identity/{identity}/key/{id} will be deleted"
            ))
            .unwrap_or_else(|| panic!("{}", plan.stdout));
        assert!(created < deleted, "{}", plan.stdout);
    }
    // Not refused as stale: apply addresses the adopted key as the plan did.
    ok(&moto.nhi(&ws, &["apply", "adopt.plan", "--trust", "trust.yaml"]));
    let keys = moto.boto(
        "for u in ('adopted', 'declared'):\n    print(u, [k['AccessKeyId'] for k in iam.list_access_keys(UserName=u)['AccessKeyMetadata']])",
    );
    assert!(
        !keys.contains(ids[0]) && !keys.contains(ids[1]),
        "the old keys are gone: {keys}"
    );
    assert!(ws.path().join("secrets/adopted.json").exists());
    // The new key carries the name; the declaration matches it by name.
    ws.write("nhi.yaml", &config("90d"));
    crate::flow::no_changes(&moto, &ws);
}
