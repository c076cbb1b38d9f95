//! `nhi plan --target` on the quickstart: a partial plan holds exactly what
//! was named, says so everywhere, applies exactly, and cannot be passed off as
//! a full one; the trust policy's say over partial plans.

use crate::flow::changes;
use crate::harness::Workspace;
use crate::team::{OPEN_TRUST, approved_plan, edit_plan, ok, run, sha256, team};

pub(crate) const CI: &str = "local.demo/identity/ci-deployer";
const WEB: &str = "local.demo/identity/web-api";

pub(crate) fn estate(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.read("estate.json")).unwrap()
}

/// The identity named `name` in the estate file.
pub(crate) fn identity<'a>(estate: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    estate["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("`{name}` is in the estate"))
}

pub(crate) fn body_of(ws: &Workspace, plan: &str) -> serde_json::Value {
    let file: serde_json::Value = serde_json::from_str(&ws.read(plan)).unwrap();
    serde_json::from_str(file["body"].as_str().unwrap()).unwrap()
}

/// The quickstart with an open trust policy: apply needs no approvals.
pub(crate) fn open() -> Workspace {
    let ws = Workspace::example("quickstart");
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", OPEN_TRUST);
    ws
}

pub(crate) fn apply(ws: &Workspace, plan: &str) -> crate::harness::Run {
    run(ws, &["apply", plan, "--trust", "trust.yaml"])
}

/// Asserts that `text` holds `part`, showing all of it when not.
pub(crate) fn says(text: &str, part: &str) {
    assert!(text.contains(part), "expected `{part}` in:\n{text}");
}

/// The secret a file sink holds.
pub(crate) fn secret(ws: &Workspace, sink: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(&ws.read(sink)).unwrap();
    doc["secret"].as_str().unwrap().to_owned()
}

#[test]
fn a_target_plans_one_identity_says_so_and_apply_leaves_the_others_untouched() {
    let ws = team();
    let before = estate(&ws);
    let planned = run(
        &ws,
        &[
            "plan",
            "--target",
            CI,
            "-o",
            "t.plan",
            "--sign-key",
            "alice.key",
        ],
    );
    ok(&planned);
    assert_eq!(
        changes(&planned.stdout),
        [
            "local.demo/identity/ci-deployer/binding/admin will be deleted (differs; risk: privilege-reducing)",
            "local.demo/identity/ci-deployer/binding/artifact-upload@bucket/releases will be updated in place (differs; risk: privilege-reducing)",
            "local.demo/identity/ci-deployer/key/primary will be rotated (rotation due; risk: credential)",
        ]
    );
    let partial = "Partial plan: only `local.demo/identity/ci-deployer` and what it depends on were planned; 9 other changes were left out. Partial plans are for emergencies: plan without `--target` to reconcile everything.";
    assert!(
        planned.stdout.starts_with(&format!("{partial}\n\n")),
        "{}",
        planned.stdout
    );
    says(
        &planned.stdout,
        &format!("Partial plan: 0 to create, 1 to update, 1 to rotate, 1 to delete.\n{partial}\n"),
    );
    // A partial plan does not call what it left out absent.
    assert!(
        !planned.stderr.contains("past its `expires` day"),
        "{}",
        planned.stderr
    );
    // The signed body records it.
    let body = body_of(&ws, "t.plan");
    assert_eq!(body["format_version"], 4);
    assert_eq!(
        body["selection"],
        serde_json::json!({"targets": [CI], "replace": [], "left_out": 9})
    );
    // Every rendering says it.
    let markdown = run(&ws, &["show", "t.plan", "--format", "markdown"]);
    assert!(
        markdown.stdout.starts_with(
            "### nhi plan (partial): 0 to create, 1 to update, 1 to rotate, 1 to delete.\n\n"
        ),
        "{}",
        markdown.stdout
    );
    says(
        &markdown.stdout,
        "> [!CAUTION]\n> Partial plan: only `local.demo/identity/ci-deployer` and what it depends on were planned; 9 other changes were left out.",
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&ws, &["show", "t.plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["partial"], true);
    assert_eq!(json["selection"]["left_out"], 9);
    ok(&run(
        &ws,
        &["approve", "t.plan", "--key", "bob.key", "--yes"],
    ));
    let verified = run(&ws, &["verify", "t.plan", "--trust", "trust.yaml"]);
    ok(&verified);
    says(&verified.stdout, &format!("\n  {partial}\n"));
    let verified = run(
        &ws,
        &["verify", "t.plan", "--trust", "trust.yaml", "--json"],
    );
    let verified: serde_json::Value = serde_json::from_str(&verified.stdout).unwrap();
    assert_eq!(verified["partial"], true);
    assert_eq!(verified["selection"]["targets"], serde_json::json!([CI]));

    let applied = apply(&ws, "t.plan");
    ok(&applied);
    says(
        &applied.stderr,
        "applying a partial plan: only `local.demo/identity/ci-deployer` and what it depends on, 9 other changes of the configuration left out",
    );
    // Exactly ci-deployer changed.
    let after = estate(&ws);
    let names: Vec<&str> = after["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "backup-runner",
            "batch-reporter",
            "ci-deployer",
            "legacy-bot"
        ]
    );
    for name in ["backup-runner", "batch-reporter", "legacy-bot"] {
        assert_eq!(identity(&after, name), identity(&before, name), "{name}");
    }
    let ci = identity(&after, "ci-deployer");
    let roles: Vec<&str> = ci["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["artifact-upload", "deployer"]);
    let keys = ci["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0]["id"], "LK3H8D2K5N7B1C4F6G9J");
    assert!(ws.path().join("secrets/ci-deployer-primary.key").exists());
    assert!(!ws.path().join("secrets/web-api-primary.key").exists());
    // The rest is still to do, and a full plan says so.
    let rest = run(&ws, &["plan"]);
    ok(&rest);
    assert_eq!(changes(&rest.stdout).len(), 9, "{}", rest.stdout);
    assert!(!rest.stdout.contains("Partial"), "{}", rest.stdout);
}

/// A pruning scope: the partial plan leaves the unmanaged identity's deletion
/// out, and the governance gate judges it alike at plan and apply.
#[test]
fn a_partial_plan_of_a_pruning_scope_is_judged_alike_at_plan_and_apply() {
    let ws = open();
    let config = ws
        .read("nhi.yaml")
        .replacen("prune: false", "prune: true", 1);
    ws.write("nhi.yaml", &config);
    let full = run(&ws, &["plan"]);
    assert!(
        full.stdout
            .contains("local.demo/identity/legacy-bot will be deleted")
    );
    ok(&run(&ws, &["plan", "--target", WEB, "-o", "w.plan"]));
    let applied = apply(&ws, "w.plan");
    ok(&applied);
    says(&applied.stderr, "Apply complete: 4 changes applied");
    let after = estate(&ws);
    identity(&after, "legacy-bot");
    assert_eq!(
        identity(&after, "web-api")["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_target_that_names_nothing_is_refused_with_a_suggestion() {
    let ws = open();
    let cases = [
        (
            "local.demo/identity/ci-deployr",
            "did you mean `local.demo/identity/ci-deployer`?",
        ),
        (
            "local.demo/identity/ci-deployer/key/primry",
            "did you mean `local.demo/identity/ci-deployer/key/primary`?",
        ),
        (
            "local.dmeo/identity/ci-deployer",
            "did you mean `local.demo/identity/ci-deployer`?",
        ),
    ];
    for (target, help) in cases {
        let refused = run(&ws, &["plan", "--target", target, "-o", "x.plan"]);
        assert_eq!(refused.code, 1, "{}", refused.stderr);
        assert_eq!(refused.stdout, "");
        for part in [
            "nhi::plan::unknown_target",
            &format!("`--target {target}` names nothing in the configuration or in live state"),
            &format!("help: {help}"),
        ] {
            assert!(refused.stderr.contains(part), "{part}:\n{}", refused.stderr);
        }
        assert!(!ws.path().join("x.plan").exists());
    }
    let refused = run(
        &ws,
        &[
            "plan",
            "--replace",
            "local.demo/identity/web-api/key/primary",
        ],
    );
    assert_eq!(refused.code, 1);
    says(&refused.stderr, "nhi::plan::unknown_replace");
    says(
        &refused.stderr,
        "`--replace local.demo/identity/web-api/key/primary` names no live key or identity",
    );
    let refused = run(
        &ws,
        &["plan", "--replace", "local.demo/identity/legacy-bot"],
    );
    says(&refused.stderr, "nhi::plan::cannot_replace");
    says(&refused.stderr, "the configuration does not declare it");
}

/// What an author who edits a partial plan gets: the approvals given to it do
/// not follow the edit, and a body whose recorded request disagrees with its
/// changes is refused on decode.
#[test]
fn a_partial_plan_edited_to_look_full_loses_its_approvals_or_is_refused() {
    let ws = team();
    approved_plan(&ws, "full.plan");
    ok(&run(
        &ws,
        &[
            "apply",
            "full.plan",
            "--trust",
            "trust.yaml",
            "--key",
            "carol.key",
        ],
    ));
    let reseal = |ws: &Workspace, plan: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        edit_plan(ws, plan, |file| {
            let mut body: serde_json::Value =
                serde_json::from_str(file["body"].as_str().unwrap()).unwrap();
            edit(&mut body);
            let text = serde_json::to_string(&body).unwrap();
            file["body_digest"] = sha256(&text).into();
            file["body"] = text.into();
        });
    };
    let plan = |name: &str, args: &[&str]| {
        let mut all = vec!["plan", "-o", name, "--sign-key", "alice.key"];
        all.extend_from_slice(args);
        ok(&run(&ws, &all));
        ok(&run(&ws, &["approve", name, "--key", "bob.key", "--yes"]));
    };
    // The targets removed: the approvals were for another body.
    plan(
        "t.plan",
        &[
            "--target",
            "local.demo/identity/web-api",
            "--replace",
            "local.demo/identity/web-api/key/primary",
        ],
    );
    std::fs::copy(ws.path().join("t.plan"), ws.path().join("untargeted.plan")).unwrap();
    reseal(&ws, "untargeted.plan", &|body| {
        body["selection"]["targets"] = serde_json::json!([]);
    });
    let refused = run(&ws, &["verify", "untargeted.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1);
    says(&refused.stderr, "nhi::trust::wrong_plan");
    // The record of the request removed, the replacement kept: inconsistent.
    std::fs::copy(ws.path().join("t.plan"), ws.path().join("unrecorded.plan")).unwrap();
    reseal(&ws, "unrecorded.plan", &|body| {
        body.as_object_mut().unwrap().remove("selection");
        body["format_version"] = 3.into();
    });
    let refused = run(&ws, &["show", "unrecorded.plan"]);
    assert_eq!(refused.code, 1);
    says(&refused.stderr, "nhi::plan::inconsistent");
    says(
        &refused.stderr,
        "is a requested replacement the plan does not record as requested",
    );
    // Format 4 without a request, or a request in format 3: inconsistent.
    std::fs::copy(ws.path().join("t.plan"), ws.path().join("format.plan")).unwrap();
    reseal(&ws, "format.plan", &|body| {
        body["format_version"] = 3.into()
    });
    let refused = run(&ws, &["show", "format.plan"]);
    assert!(
        refused
            .stderr
            .contains("body format 4 is exactly for plans made with `--target` or `--replace`"),
        "{}",
        refused.stderr
    );
    // A change the targets do not select, slipped in: inconsistent.
    plan(
        "ci.plan",
        &["--target", "local.demo/identity/backup-runner"],
    );
    let t = body_of(&ws, "t.plan");
    reseal(&ws, "ci.plan", &|body| {
        body["changes"] = t["changes"].clone();
        body["touched"] = t["touched"].clone();
        body["summary"] = t["summary"].clone();
        body["findings"] = t["findings"].clone();
        body["changes"][0]["reason"] = "drift".into();
    });
    let refused = run(&ws, &["show", "ci.plan"]);
    assert!(
        refused
            .stderr
            .contains("is not selected by the plan's targets"),
        "{}",
        refused.stderr
    );
}

/// The whole trick: a partial plan's record of its targets removed, signed
/// and approved afresh. Nothing offline can tell it from a full plan; apply,
/// reading the live state unchanged since planning, derives the changes again
/// and refuses it before anything changes.
#[test]
fn a_partial_plan_re_signed_as_a_full_one_is_refused_at_apply() {
    let ws = team();
    ok(&run(&ws, &["plan", "--target", CI, "-o", "t.plan"]));
    edit_plan(&ws, "t.plan", |file| {
        let mut body: serde_json::Value =
            serde_json::from_str(file["body"].as_str().unwrap()).unwrap();
        body.as_object_mut().unwrap().remove("selection");
        body["format_version"] = 3.into();
        let text = serde_json::to_string(&body).unwrap();
        file["body_digest"] = sha256(&text).into();
        file["body"] = text.into();
    });
    let shown = run(&ws, &["show", "t.plan"]);
    ok(&shown);
    assert!(!shown.stdout.contains("Partial"), "{}", shown.stdout);
    ok(&run(&ws, &["sign", "t.plan", "--key", "alice.key"]));
    ok(&run(
        &ws,
        &["approve", "t.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(&ws, &["verify", "t.plan", "--trust", "trust.yaml"]));
    let refused = crate::team::refuses(&ws, "t.plan", "nhi::apply::incomplete");
    says(
        &refused.stderr,
        "the plan does not say it is partial, yet it lacks 9 changes its configuration gives against the unchanged live state (the first: `local.demo/identity/batch-reporter/binding/ledger-reader@db/ledger`)",
    );
}

#[test]
fn a_trust_policy_can_refuse_partial_plans_or_raise_their_bar() {
    let ws = open();
    ok(&run(&ws, &["plan", "--target", WEB, "-o", "w.plan"]));
    ws.write(
        "trust.yaml",
        &format!("{OPEN_TRUST}partial_plans: refuse\n"),
    );
    let before = ws.bytes("estate.json");
    let refused = apply(&ws, "w.plan");
    assert_eq!(refused.code, 1);
    says(&refused.stderr, "nhi::trust::partial");
    says(
        &refused.stderr,
        "the trust policy refuses partial plans (`partial_plans: refuse`); this plan holds only the changes for `local.demo/identity/web-api`",
    );
    assert_eq!(ws.bytes("estate.json"), before);
    // A full plan is judged as before.
    ok(&run(&ws, &["plan", "-o", "full.plan"]));
    ok(&run(&ws, &["verify", "full.plan", "--trust", "trust.yaml"]));
    // A rule raises the bar of partial plans and of requested replacements,
    // and only theirs.
    ok(&run(
        &ws,
        &[
            "plan",
            "--replace",
            &format!("{CI}/key/primary"),
            "-o",
            "r.plan",
        ],
    ));
    for (when, plan) in [("partial", "w.plan"), ("replace requested", "r.plan")] {
        ws.write(
            "trust.yaml",
            &format!("{OPEN_TRUST}rules:\n  - when: {when}\n    required: 1\n"),
        );
        let verify = |plan: &str| run(&ws, &["verify", plan, "--trust", "trust.yaml"]);
        let refused = verify(plan);
        assert_eq!(refused.code, 1, "{when}: {}", refused.stdout);
        assert!(
            refused.stderr.contains("require 1 distinct approver"),
            "{when}: {}",
            refused.stderr
        );
        ok(&verify("full.plan"));
    }
}
