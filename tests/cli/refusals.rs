//! Every way apply must refuse a plan: tampering, expiry, live changes since
//! planning, a plan applied twice, a changed configuration or a taken sink, a held
//! lock, settings that reach another estate. Every refusal leaves the live estate
//! byte-identical and delivers no key material.

use crate::harness::Workspace;
use crate::team::{
    TRUST, apply, apply_dry, approved_plan, edit_plan, ok, refuses, rewrite_body, run, team,
};

#[test]
fn every_tampering_is_refused_and_changes_nothing() {
    let ws = team();
    approved_plan(&ws, "good.plan");
    type Tamper = fn(&Workspace);
    let cases: &[(&str, Tamper, &str)] = &[
        (
            "one byte of the body",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    let body = v["body"].as_str().unwrap().replacen(
                        "web-team@example.com",
                        "web-tean@example.com",
                        1,
                    );
                    v["body"] = body.into();
                })
            },
            "nhi::plan::digest_mismatch",
        ),
        (
            "body and digest rewritten together",
            |ws| rewrite_body(ws, "t.plan", "web-team@example.com", "web-tean@example.com"),
            "nhi::trust::wrong_plan",
        ),
        (
            "author signature relabelled as an approval",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    let statement = v["signatures"][0]["statement"]
                        .as_str()
                        .unwrap()
                        .replace("role: author", "role: approver");
                    v["signatures"][0]["statement"] = statement.into();
                })
            },
            "nhi::trust::bad_signature",
        ),
        (
            "signatures dropped",
            |ws| edit_plan(ws, "t.plan", |v| v["signatures"] = serde_json::json!([])),
            "nhi::trust::unsigned",
        ),
        (
            "approvals dropped",
            |ws| {
                edit_plan(ws, "t.plan", |v| {
                    v["signatures"].as_array_mut().unwrap().truncate(1);
                })
            },
            "nhi::trust::insufficient_approvals",
        ),
        (
            "unknown format version",
            |ws| edit_plan(ws, "t.plan", |v| v["nhi_plan"] = 2.into()),
            "nhi::plan::unsupported_format",
        ),
        (
            "a delete aimed at another key than the one checked",
            |ws| {
                rewrite_body(ws, "t.plan", "LK7Q2M4XJ9P3R8T6V1WZ", "LK9W4E6R2T8Y1U3I5O7P");
            },
            "nhi::plan::inconsistent",
        ),
        (
            "settings pointing elsewhere than the scope reviewers read",
            |ws| {
                rewrite_body(
                    ws,
                    "t.plan",
                    "\"state\":\"estate.json\"",
                    "\"state\":\"other.json\"",
                );
            },
            "nhi::trust::wrong_plan",
        ),
        (
            "risk understated",
            |ws| rewrite_body(ws, "t.plan", "\"risk\":\"destructive\"", "\"risk\":\"low\""),
            "nhi::plan::inconsistent",
        ),
    ];
    for (name, tamper, code) in cases {
        std::fs::copy(ws.path().join("good.plan"), ws.path().join("t.plan")).unwrap();
        tamper(&ws);
        let good: serde_json::Value = serde_json::from_str(&ws.read("good.plan")).unwrap();
        let bad: serde_json::Value = serde_json::from_str(&ws.read("t.plan")).unwrap();
        assert_ne!(good, bad, "case `{name}` must tamper with the plan");
        let refused = refuses(&ws, "t.plan", code);
        assert!(!refused.stderr.is_empty(), "{name}");
    }
}

#[test]
fn expired_plans_are_refused() {
    let ws = team();
    let old = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(25))
        .unwrap();
    let old = jiff::Timestamp::from_second(old.as_second())
        .unwrap()
        .to_string();
    let env = [("NHI_NOW", old.as_str())];
    assert_eq!(
        ws.run_env(&["plan", "-o", "old.plan", "--sign-key", "alice.key"], &env)
            .code,
        0
    );
    ok(&run(
        &ws,
        &["approve", "old.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "old.plan", "--key", "carol.key", "--yes"],
    ));
    refuses(&ws, "old.plan", "nhi::plan::expired");
    // The policy's max age binds even when the plan claims a long validity.
    assert_eq!(
        ws.run_env(
            &[
                "plan",
                "-o",
                "long.plan",
                "--valid-for",
                "30d",
                "--sign-key",
                "alice.key"
            ],
            &env
        )
        .code,
        0
    );
    ok(&run(
        &ws,
        &["approve", "long.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "long.plan", "--key", "carol.key", "--yes"],
    ));
    ok(&apply_dry(&ws, "long.plan"));
    ws.write("trust.yaml", &format!("{TRUST}max_plan_age: 12h\n"));
    refuses(&ws, "long.plan", "nhi::plan::expired");
}

#[test]
fn live_changes_between_plan_and_apply_make_the_plan_stale() {
    type Drift = fn(&str) -> String;
    let cases: &[(&str, Drift, &str)] = &[
        (
            "touched identity changed",
            |e| {
                e.replace(
                    "\"owner\":\"platform-team@example.com\"",
                    "\"owner\":\"mallory@example.com\"",
                )
            },
            "`local.demo/identity/ci-deployer` changed",
        ),
        (
            "touched key deleted",
            |e| {
                e.replace(
            "{\"id\":\"LK3H8D2K5N7B1C4F6G9J\",\"name\":\"primary\",\"created\":\"2025-03-14T09:26:53Z\",\"status\":\"active\",\"last_used\":\"2026-11-20T18:02:11Z\"}", "")
            },
            "`local.demo/identity/ci-deployer/key/primary` was deleted",
        ),
        (
            "object the plan creates now exists",
            |e| {
                e.replacen("{\"name\":\"backup-runner\"",
            "{\"name\":\"web-api\",\"kind\":\"service_account\",\"owner\":\"x@example.com\",\"description\":\"\",\"tags\":{},\"keys\":[],\"bindings\":[]},\n{\"name\":\"backup-runner\"", 1)
            },
            "`local.demo/identity/web-api` now exists",
        ),
        (
            "binding added to an identity the plan deletes",
            |e| {
                e.replace(
                    "\"bindings\":[{\"role\":\"ledger-reader\",\"resource\":\"db/ledger\"}]",
                    "\"bindings\":[{\"role\":\"ledger-reader\",\"resource\":\"db/ledger\"},{\"role\":\"ledger-writer\",\"resource\":\"db/ledger\"}]",
                )
            },
            "`local.demo/identity/batch-reporter/*` changed",
        ),
    ];
    for (name, drift, message) in cases {
        let ws = team();
        approved_plan(&ws, "q.plan");
        let changed = drift(&ws.read("estate.json"));
        assert_ne!(
            changed,
            ws.read("estate.json"),
            "{name}: the drift must change the estate"
        );
        ws.write("estate.json", &changed);
        let refused = refuses(&ws, "q.plan", "nhi::plan::stale");
        assert!(
            refused.stderr.contains(message),
            "{name}:\n{}",
            refused.stderr
        );
    }
    // Using a key (its last use moves) does not make a plan stale.
    let ws = team();
    approved_plan(&ws, "q.plan");
    ws.write(
        "estate.json",
        &ws.read("estate.json")
            .replace("2026-11-20T18:02:11Z", "2026-11-21T18:02:11Z"),
    );
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn a_plan_applies_once() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    ok(&apply(&ws, "q.plan"));
    std::fs::rename(ws.path().join("secrets"), ws.path().join("secrets.1")).unwrap();
    refuses(&ws, "q.plan", "nhi::plan::stale");
}

#[test]
fn configuration_and_sinks_are_checked_before_anything_changes() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let config = ws.read("nhi.yaml");
    ws.write(
        "nhi.yaml",
        &config.replace("Serves the public API", "Serves the API"),
    );
    refuses(&ws, "q.plan", "nhi::apply::config_changed");
    ws.write("nhi.yaml", &config);
    ws.write("secrets/web-api-primary.key", "an older key\n");
    let before = ws.bytes("estate.json");
    let refused = apply(&ws, "q.plan");
    assert!(
        refused.stderr.contains("nhi::apply::sink")
            && refused
                .stderr
                .contains("`secrets/web-api-primary.key` exists and holds no secret nhi delivered"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), before);
    assert_eq!(
        ws.read("secrets/web-api-primary.key"),
        "an older key\n",
        "never overwritten"
    );
}

#[test]
fn a_held_lock_refuses_at_once_naming_the_holder() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(ws.path().join("estate.json.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        ws.path().join("estate.json.lock"),
        "dave@example.com (pid 4242)",
    )
    .unwrap();
    let refused = refuses(&ws, "q.plan", "nhi::apply::locked");
    assert!(
        refused.stderr.contains("dave@example.com"),
        "{}",
        refused.stderr
    );
    lock.unlock().unwrap();
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn waiting_for_a_held_lock_says_whom_it_waits_for() {
    let ws = team();
    approved_plan(&ws, "q.plan");
    // Taken as nhi takes it: the holder's name is in place before the lock is.
    let held = ws.path().join("held.lock");
    std::fs::write(&held, "dave@example.com (pid 4242)").unwrap();
    let lock = std::fs::File::open(&held).unwrap();
    lock.try_lock().unwrap();
    std::fs::hard_link(&held, ws.path().join("estate.json.lock")).unwrap();
    let before = ws.bytes("estate.json");
    let started = std::time::Instant::now();
    let refused = run(
        &ws,
        &[
            "apply",
            "q.plan",
            "--trust",
            "trust.yaml",
            "--lock-timeout",
            "1s",
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(
        refused.stderr.contains(
            "waiting up to 1s for the scope lock of `local.demo`, held by dave@example.com (pid 4242)"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nhi::apply::locked"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), before);
    drop(lock);
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn a_signed_plan_whose_settings_reach_another_estate_is_refused() {
    // A malicious author crafts the body, then signs it and gets it approved: the
    // signatures are valid, but the settings do not reach what reviewers read.
    let ws = team();
    ok(&run(&ws, &["plan", "-o", "c.plan"]));
    std::fs::copy(ws.path().join("estate.json"), ws.path().join("other.json")).unwrap();
    rewrite_body(
        &ws,
        "c.plan",
        "\"state\":\"estate.json\"",
        "\"state\":\"other.json\"",
    );
    ok(&run(&ws, &["sign", "c.plan", "--key", "alice.key"]));
    ok(&run(
        &ws,
        &["approve", "c.plan", "--key", "bob.key", "--yes"],
    ));
    ok(&run(
        &ws,
        &["approve", "c.plan", "--key", "carol.key", "--yes"],
    ));
    let before = ws.bytes("other.json");
    let refused = refuses(&ws, "c.plan", "nhi::apply::scope_mismatch");
    assert!(
        refused.stderr.contains(
            "connects to estate file `other.json`, but the plan says estate file `estate.json`"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("other.json"), before);
}

#[test]
fn bindings_whose_role_and_resource_share_an_at_sign_are_told_apart() {
    // Role `x` on `y@z` and role `x@y` on `z` were both `binding/x@y@z`: a plan
    // updating one of them was refused as stale forever.
    let ws = team();
    ws.write(
        "nhi.yaml",
        &ws.read("nhi.yaml").replace(
            "      - role: snapshot-writer\n        resource: bucket/backups\n",
            "      - role: snapshot-writer\n        resource: bucket/backups\n      - role: x\n        resource: y@z\n        policy: {Version: \"2\"}\n      - role: x@y\n        resource: z\n",
        ),
    );
    ws.write(
        "estate.json",
        &ws.read("estate.json").replace(
            "{\"role\":\"snapshot-writer\",\"resource\":\"bucket/backups\"}",
            "{\"role\":\"snapshot-writer\",\"resource\":\"bucket/backups\"},{\"role\":\"x\",\"resource\":\"y@z\",\"policy\":{\"Version\":\"1\"}},{\"role\":\"x@y\",\"resource\":\"z\"}",
        ),
    );
    approved_plan(&ws, "q.plan");
    let shown = run(&ws, &["show", "q.plan"]);
    assert!(
        shown
            .stdout
            .contains("local.demo/identity/backup-runner/binding/x@y@z"),
        "{}",
        shown.stdout
    );
    assert!(
        !shown.stdout.contains("binding/x%40y@z"),
        "{}",
        shown.stdout
    );
    ok(&apply(&ws, "q.plan"));
    let again = run(&ws, &["plan"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}
