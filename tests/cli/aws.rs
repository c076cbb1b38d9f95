//! End-to-end scenarios against a real IAM emulator (moto): create an estate from
//! nothing, converge, detect and correct out-of-band drift, prune, rotate with
//! both key slots taken, refuse stale plans, and keep secrets in their sinks.

use crate::flow::{changes, no_changes, ok, plan_and_apply, workspace};
use crate::moto;

pub(crate) fn config(prune: bool, extra: &str) -> String {
    format!(
        r#"# yaml-language-server: $schema=../../schemas/nhi.schema.json
version: 1
providers:
  - name: prod
    type: aws
    prune: {prune}
    settings:
      path_prefix: /nhi/
      max_attempts: 1
identities:
  - name: ci-deployer
    provider: prod
    kind: user
    owner: platform@example.com
    description: Deploys from CI
    tags: {{team: platform}}
    keys:
      - name: primary
        rotate_after: 90d
        sink: {{file: secrets/ci-primary.json}}
    bindings:
      - role: arn:aws:iam::aws:policy/ReadOnlyAccess
      - role: inline:deploy
        policy:
          Version: "2012-10-17"
          Statement:
            Effect: Allow
            Action: ["s3:PutObject"]
            Resource: "arn:aws:s3:::releases/*"
  - name: app-runtime
    provider: prod
    kind: role
    owner: web@example.com
    description: Assumed by the web tier
    attributes:
      trust_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: ec2.amazonaws.com}}
            Action: sts:AssumeRole
    bindings:
      - role: arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess
{extra}"#
    )
}

#[test]
fn aws_estate_from_nothing_converges_and_corrects_drift() {
    let Some(moto) = moto::start() else { return };
    let ws = workspace();
    ws.write("nhi.yaml", &config(false, ""));

    // From nothing.
    let created = plan_and_apply(&moto, &ws, "create.plan");
    assert!(
        created.contains("Plan: 6 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{created}"
    );
    // The file is what `credential_process` prints: usable as it is.
    let secret: serde_json::Value =
        serde_json::from_str(&ws.read("secrets/ci-primary.json")).unwrap();
    assert_eq!(secret["Version"], 1, "{secret}");
    let secret_key = secret["SecretAccessKey"].as_str().unwrap().to_owned();
    let key_id = secret["AccessKeyId"].as_str().unwrap().to_owned();
    no_changes(&moto, &ws);
    let live = moto.boto("u = iam.get_user(UserName='ci-deployer')['User']\nprint(u['Path'], sorted(t['Key'] + '=' + t['Value'] for t in u.get('Tags', [])))");
    assert!(live.starts_with("/nhi/ "), "{live}");
    assert!(
        live.contains(&format!("nhi:key:{key_id}=primary")),
        "{live}"
    );

    // Out-of-band drift, as an operator with the console or the CLI would make it.
    moto.boto(
        "iam.attach_user_policy(UserName='ci-deployer', PolicyArn='arn:aws:iam::aws:policy/IAMFullAccess')\n\
         iam.put_user_policy(UserName='ci-deployer', PolicyName='deploy', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}]}))\n\
         iam.create_access_key(UserName='ci-deployer')\n\
         iam.create_user(UserName='stray', Path='/nhi/')\n\
         iam.create_user(UserName='elsewhere', Path='/other/')\n\
         iam.detach_role_policy(RoleName='app-runtime', PolicyArn='arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess')",
    );
    let drift = moto.nhi(&ws, &["plan", "-o", "drift.plan"]);
    ok(&drift);
    let found = changes(&drift.stdout);
    assert_eq!(found.len(), 4, "{}", drift.stdout);
    assert!(found.iter().any(|c| c.starts_with("aws.prod/identity/ci-deployer/binding/arn:aws:iam::aws:policy/IAMFullAccess will be deleted (differs")), "{found:?}");
    assert!(
        found.iter().any(|c| c.starts_with(
            "aws.prod/identity/ci-deployer/binding/inline:deploy will be updated in place (differs"
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|c| c.starts_with("aws.prod/identity/ci-deployer/key/AKIA")
                && c.contains("will be deleted (differs")),
        "{found:?}"
    );
    assert!(found.iter().any(|c| c.starts_with("aws.prod/identity/app-runtime/binding/arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess will be created")), "{found:?}");
    assert!(
        drift.stdout.contains("? aws.prod/identity/stray"),
        "{}",
        drift.stdout
    );
    assert!(
        !drift.stdout.contains("elsewhere"),
        "out of scope: {}",
        drift.stdout
    );
    let diff_lines: Vec<&str> = drift.stdout.lines().map(str::trim).collect();
    assert!(
        diff_lines.contains(&"-       \"Action\": \"s3:*\","),
        "a readable policy diff: {}",
        drift.stdout
    );
    assert!(
        // IAM matches action names case-insensitively: plans show them lowercased.
        diff_lines.contains(&"+       \"Action\": \"s3:putobject\","),
        "a readable policy diff: {}",
        drift.stdout
    );
    ok(&moto.nhi(&ws, &["apply", "drift.plan", "--trust", "trust.yaml"]));
    no_changes(&moto, &ws);

    // Prune deletes the unmanaged user in scope, and only it.
    ws.write("nhi.yaml", &config(true, ""));
    let pruned = plan_and_apply(&moto, &ws, "prune.plan");
    assert_eq!(
        changes(&pruned),
        ["aws.prod/identity/stray will be deleted (unmanaged; risk: destructive)"],
        "{pruned}"
    );
    let users = moto.boto("print(sorted(u['UserName'] for u in iam.list_users()['Users']))");
    assert_eq!(users.trim(), "['ci-deployer', 'elsewhere']");
    no_changes(&moto, &ws);

    // A user deleted out of band is created again.
    moto.boto(&format!(
        "iam.delete_access_key(UserName='ci-deployer', AccessKeyId='{key_id}')\n\
         iam.detach_user_policy(UserName='ci-deployer', PolicyArn='arn:aws:iam::aws:policy/ReadOnlyAccess')\n\
         iam.delete_user_policy(UserName='ci-deployer', PolicyName='deploy')\n\
         iam.delete_user(UserName='ci-deployer')"
    ));
    std::fs::rename(ws.path().join("secrets"), ws.path().join("secrets.old")).unwrap();
    let recreated = plan_and_apply(&moto, &ws, "recreate.plan");
    assert!(
        recreated.contains("Plan: 4 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{recreated}"
    );
    no_changes(&moto, &ws);

    // Secret material never left its sinks.
    for name in [
        "create.plan",
        "create.plan.receipt.json",
        "drift.plan",
        "drift.plan.receipt.json",
        "recreate.plan.receipt.json",
    ] {
        assert!(
            !ws.read(name).contains(&secret_key),
            "secret leaked into {name}"
        );
    }
}

#[test]
fn aws_changes_between_plan_and_apply_make_the_plan_stale() {
    let Some(moto) = moto::start() else { return };
    let ws = workspace();
    ws.write("nhi.yaml", &config(false, ""));
    plan_and_apply(&moto, &ws, "create.plan");
    let more = "      - role: arn:aws:iam::aws:policy/AmazonSQSFullAccess\n";
    ws.write("nhi.yaml", &config(false, more));
    ok(&moto.nhi(&ws, &["plan", "-o", "more.plan"]));
    moto.boto("iam.update_role(RoleName='app-runtime', Description='changed by hand')");
    let refused = moto.nhi(&ws, &["apply", "more.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::stale"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("`aws.prod/identity/app-runtime` changed"),
        "{}",
        refused.stderr
    );
    let attached = moto.boto(
        "print(len(iam.list_attached_role_policies(RoleName='app-runtime')['AttachedPolicies']))",
    );
    assert_eq!(attached.trim(), "1", "the refused plan changed nothing");
}

#[test]
fn aws_rotation_with_both_key_slots_taken_and_secrets_manager_sink() {
    let Some(moto) = moto::start() else { return };
    let ws = workspace();
    let extra = "  - name: batch\n    provider: prod\n    kind: user\n    owner: data@example.com\n    keys:\n      - name: primary\n        rotate_after: 1s\n        sink: {aws_secrets_manager: {secret_id: nhi/batch/primary}}\n      - name: backup\n        sink: {file: secrets/batch-backup.json}\n";
    ws.write("nhi.yaml", &config(false, extra));
    plan_and_apply(&moto, &ws, "create.plan");
    let first = moto.boto("print(json.loads(sm.get_secret_value(SecretId='nhi/batch/primary')['SecretString'])['AccessKeyId'])");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let rotated = plan_and_apply(&moto, &ws, "rotate.plan");
    let found = changes(&rotated);
    assert_eq!(
        found,
        [
            "aws.prod/identity/batch/key/primary will be deleted (rotation due; risk: destructive)",
            "aws.prod/identity/batch/key/primary will be created (rotation due; risk: credential)",
        ],
        "{rotated}"
    );
    assert!(
        rotated.contains("every key slot is in use (2 at most)"),
        "{rotated}"
    );
    let second = moto.boto("print(json.loads(sm.get_secret_value(SecretId='nhi/batch/primary')['SecretString'])['AccessKeyId'])");
    assert_ne!(first, second, "Secrets Manager holds the new key");
    let keys = moto.boto("print(sorted(k['AccessKeyId'] for k in iam.list_access_keys(UserName='batch')['AccessKeyMetadata']))");
    assert!(
        keys.contains(second.trim()) && !keys.contains(first.trim()),
        "{keys}"
    );
}

#[test]
fn aws_example_walkthrough_runs() {
    if crate::moto::start().is_none() {
        return;
    }
    let stdout = crate::flow::walkthrough("aws");
    assert!(
        stdout.contains(
            "binding/arn:aws:iam::aws:policy/AdministratorAccess will be deleted (differs"
        ),
        "{stdout}"
    );
    // The hand-made user stays unmanaged: no claim that live state matches.
    assert!(
        stdout.contains(
            "No changes to apply. 1 unmanaged identity in scope is reported, not deleted (`prune` is off)."
        ),
        "{stdout}"
    );
}

/// Regression (issue 12): an identity that left the scope (moved to another path
/// by hand) planned as "will be created", and apply failed with "already exists":
/// IAM names are account-wide. Plan says so instead, and so does apply before
/// its first change when the move happened after planning.
#[test]
fn aws_an_identity_that_left_the_scope_is_reported_at_plan_not_created() {
    let Some(moto) = moto::start() else { return };
    let ws = workspace();
    ws.write("nhi.yaml", &config(false, ""));
    ok(&moto.nhi(&ws, &["plan", "-o", "early.plan"]));
    moto.boto("iam.create_user(UserName='ci-deployer', Path='/elsewhere/')");
    let said = "IAM user `ci-deployer` already exists outside this block's scope (path `/elsewhere/`); IAM names are account-wide";
    let planned = moto.nhi(&ws, &["plan", "-o", "create.plan"]);
    assert_eq!(planned.code, 1, "{}\n{}", planned.stdout, planned.stderr);
    assert!(
        planned.stderr.contains("nhi::plan::preflight") && planned.stderr.contains(said),
        "{}",
        planned.stderr
    );
    let refused = moto.nhi(&ws, &["apply", "early.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::apply::preflight") && refused.stderr.contains(said),
        "{}",
        refused.stderr
    );
    let roles = moto.boto("print(len(iam.list_roles(PathPrefix='/nhi/')['Roles']))");
    assert_eq!(roles.trim(), "0", "nothing was created");
}

#[test]
fn aws_a_key_declared_inactive_is_deactivated_and_kept() {
    let Some(moto) = moto::start() else { return };
    let ws = workspace();
    ws.write("nhi.yaml", &config(false, ""));
    plan_and_apply(&moto, &ws, "create.plan");
    let ids = "print([(k['AccessKeyId'], k['Status']) for k in iam.list_access_keys(UserName='ci-deployer')['AccessKeyMetadata']])";
    let before = moto.boto(ids);
    let text = config(false, "");
    let from = "        rotate_after: 90d\n        sink: {file: secrets/ci-primary.json}";
    assert_eq!(text.matches(from).count(), 1);
    ws.write(
        "nhi.yaml",
        &text.replacen(
            from,
            "        rotate_after: 90d\n        status: inactive\n        sink: {file: secrets/ci-primary.json}",
            1,
        ),
    );
    let planned = plan_and_apply(&moto, &ws, "deactivate.plan");
    assert_eq!(
        changes(&planned),
        [
            "aws.prod/identity/ci-deployer/key/primary will be updated in place (status declared; risk: privilege-reducing)"
        ]
    );
    // The same key, now inactive: UpdateAccessKey, not a rotation.
    assert_eq!(moto.boto(ids), before.replace("'Active'", "'Inactive'"));
    assert!(before.contains("'Active'"), "{before}");
    no_changes(&moto, &ws);
}
