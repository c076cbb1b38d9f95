//! Provider plugins end to end: the `local` provider served as a plugin through
//! plan → sign → approve → apply; pinning refusals; plugins that crash, hang or
//! write garbage; a minted secret that must never show; the conformance kit
//! against the served local provider and the Python example.

use std::path::{Path, PathBuf};

use crate::harness::{Run, Workspace, repo};
use crate::team::{ok, run, team};

const LOCAL_PLUGIN: &str = env!("CARGO_BIN_EXE_nhi-provider-local");

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
    )
}

/// The quickstart team workspace, its provider block served by `plugin`
/// (copied into the workspace as `bin/plugin`), pinned by `pin` (its digest
/// when `None`).
fn plugin_team(plugin: &Path, pin: Option<&str>) -> (Workspace, PathBuf) {
    let ws = team();
    let bin = ws.path().join("bin/plugin");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(plugin, &bin).unwrap();
    let digest = pin.map_or_else(|| sha256(&bin), str::to_owned);
    let config = ws.read("nhi.yaml");
    let edited = config
        .replace("    type: local\n", "    type: plugin\n")
        .replace(
            "      state: estate.json\n",
            &format!("      state: estate.json\n      plugin: {{path: bin/plugin, sha256: \"{digest}\"}}\n"),
        );
    assert_ne!(config, edited);
    ws.write("nhi.yaml", &edited);
    (ws, bin)
}

fn approved(ws: &Workspace, plan: &str) {
    crate::team::approved_plan(ws, plan);
}

fn apply(ws: &Workspace, plan: &str) -> Run {
    run(
        ws,
        &["apply", plan, "--trust", "trust.yaml", "--key", "carol.key"],
    )
}

#[test]
fn a_plugin_block_plans_signs_approves_and_applies_then_plans_nothing() {
    let (ws, bin) = plugin_team(Path::new(LOCAL_PLUGIN), None);
    approved(&ws, "q.plan");
    let plan = ws.read("q.plan");
    let digest = sha256(&bin);
    // The plan records the plugin, in body format 5.
    assert!(plan.contains(r#"\"format_version\":5"#), "{plan}");
    assert!(
        plan.contains(&format!(
            r#"\"plugin\":{{\"name\":\"local\",\"version\":\"{}\",\"digest\":\"{digest}\",\"protocol\":\"nhi-provider/1\"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        "{plan}"
    );
    let applied = apply(&ws, "q.plan");
    ok(&applied);
    assert!(
        applied
            .stderr
            .contains("Apply complete: 12 changes applied"),
        "{}",
        applied.stderr
    );
    let again = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);

    // Every minted secret reached its file and nothing else.
    let secrets = ws.path().join("secrets");
    let mut delivered = 0;
    for entry in std::fs::read_dir(&secrets).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let secret = doc["secret"].as_str().unwrap();
        assert!(secret.len() >= 16);
        for (what, haystack) in [
            ("plan", ws.read("q.plan")),
            ("receipt", ws.read("q.plan.receipt.json")),
            ("apply's stdout", applied.stdout.clone()),
            ("apply's stderr", applied.stderr.clone()),
            ("estate", ws.read("estate.json")),
        ] {
            assert!(!haystack.contains(secret), "a secret is in the {what}");
        }
        delivered += 1;
    }
    assert!(delivered >= 1);
}

#[test]
fn the_governance_gate_judges_key_use_by_what_the_plugin_announces() {
    // The served local provider reports key use, as the built-in one does: a
    // key never used is a finding through the plugin too.
    let (ws, _) = plugin_team(Path::new(LOCAL_PLUGIN), None);
    let planned = run(&ws, &["plan"]);
    assert!(
        planned.stdout.contains(
            "key-never-used on plugin.demo/identity/legacy-bot/key/LK9W4E6R2T8Y1U3I5O7P: key never used in the "
        ),
        "{}",
        planned.stdout
    );
}

#[test]
fn a_plugin_whose_digest_is_not_the_pinned_one_is_refused_before_it_runs() {
    let wrong = format!("sha256:{}", "0".repeat(64));
    let (ws, bin) = plugin_team(Path::new(LOCAL_PLUGIN), Some(&wrong));
    refused_for_its_digest(&run(&ws, &["plan"]), "bin/plugin", &bin, &wrong);
}

/// That `planned` failed on the plugin at `shown` (the file `file`) not being
/// the one its block pins (`wrong`).
fn refused_for_its_digest(planned: &Run, shown: &str, file: &Path, wrong: &str) {
    assert_eq!(planned.code, 1, "{}", planned.stderr);
    assert!(
        planned.stderr.contains(&format!(
            "plugin `{shown}` has digest `{}`, but the block pins `{wrong}`: the executable is not the one that was reviewed",
            sha256(file)
        )),
        "{}",
        planned.stderr
    );
}

#[test]
fn a_plugin_swapped_after_planning_is_refused_at_apply() {
    let (ws, bin) = plugin_team(Path::new(LOCAL_PLUGIN), None);
    approved(&ws, "q.plan");
    let planned = sha256(&bin);
    // Same program, other bytes: a trailing byte keeps the executable runnable.
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes.push(0);
    std::fs::write(&bin, &bytes).unwrap();
    let before = ws.bytes("estate.json");
    let refused = apply(&ws, "q.plan");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "plugin `bin/plugin` has digest `{}`, but the block pins `{planned}`",
            sha256(&bin)
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), before);
}

#[test]
fn a_plugin_not_on_the_trust_policys_allowlist_is_refused_and_one_on_it_applies() {
    let (ws, bin) = plugin_team(Path::new(LOCAL_PLUGIN), None);
    approved(&ws, "q.plan");
    let trust = ws.read("trust.yaml");
    let other = format!("sha256:{}", "a".repeat(64));
    ws.write(
        "trust.yaml",
        &format!("{trust}plugins:\n  allow: [\"{other}\"]\n"),
    );
    let before = ws.bytes("estate.json");
    let refused = apply(&ws, "q.plan");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "the trust policy does not allow plugin `local` (`{}`), which provider `plugin.demo` runs",
            sha256(&bin)
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nhi::trust::plugin_not_allowed"),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.bytes("estate.json"), before);
    ws.write(
        "trust.yaml",
        &format!(
            "{trust}plugins:\n  allow: [\"{other}\", \"{}\"]\n",
            sha256(&bin)
        ),
    );
    ok(&apply(&ws, "q.plan"));
}

/// A workspace whose one block runs `tests/cli/plugins/misbehave.py` in `mode`.
fn misbehaving(timeout_ms: u64) -> Workspace {
    let ws = Workspace::empty();
    let script = repo().join("tests/cli/plugins/misbehave.py");
    std::fs::copy(&script, ws.path().join("misbehave.py")).unwrap();
    let digest = sha256(&script);
    ws.write(
        "nhi.yaml",
        &format!(
            "version: 1\nproviders:\n  - name: demo\n    type: plugin\n    settings:\n      plugin: {{path: misbehave.py, sha256: \"{digest}\", env: [NHI_TEST_MODE], timeout_ms: {timeout_ms}}}\nidentities:\n  - name: svc\n    provider: demo\n    owner: team@example.com\n    keys:\n      - name: primary\n        sink: {{file: svc.key}}\n"
        ),
    );
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", crate::team::OPEN_TRUST);
    ws
}

/// Plans `n` identities, each with attributes, a key and a binding with an
/// inline policy, through `tests/cli/plugins/counting.py`; the methods it was
/// asked, sorted (calls nhi makes at once, e.g. `describe` and `read`, reach a
/// plugin that takes one at a time in either order).
fn calls_to_plan(n: usize) -> Vec<String> {
    let (_, calls) = plan_counting(n, None);
    calls
}

/// [`calls_to_plan`], in the workspace it returns, the plugin announcing
/// `validates` when given.
fn plan_counting(n: usize, validates: Option<&str>) -> (Workspace, Vec<String>) {
    let ws = Workspace::empty();
    if let Some(fields) = validates {
        ws.write("validates.json", fields);
    }
    let script = repo().join("tests/cli/plugins/counting.py");
    std::fs::copy(&script, ws.path().join("counting.py")).unwrap();
    let digest = sha256(&script);
    let mut config = format!(
        "version: 1\nproviders:\n  - name: demo\n    type: plugin\n    settings:\n      plugin: {{path: counting.py, sha256: \"{digest}\"}}\nidentities:\n"
    );
    for i in 0..n {
        config.push_str(&format!(
            "  - name: svc-{i}\n    provider: demo\n    owner: team@example.com\n    attributes: {{tier: gold}}\n    keys:\n      - name: primary\n        sink: {{file: svc-{i}.key}}\n    bindings:\n      - role: reader\n        resource: bucket/b{i}\n        policy: {{Version: \"2012-10-17\"}}\n"
        ));
    }
    ws.write("nhi.yaml", &config);
    let planned = ws.run(&["plan"]);
    assert_eq!(planned.code, 0, "{}\n{}", planned.stdout, planned.stderr);
    assert!(planned.stdout.contains("counted"), "{}", planned.stdout);
    let mut calls: Vec<String> = ws.read("calls.log").lines().map(str::to_owned).collect();
    calls.sort();
    (ws, calls)
}

/// Identities in [`plan_counting`]'s configuration that take more than the
/// 1 MiB from which it is read in parallel, while its plugin starts.
const READ_IN_PARALLEL: usize = 5_000;

#[test]
fn a_large_configuration_read_while_its_plugin_starts_asks_each_question_once() {
    // The pieces of the configuration each judge the provider block once the
    // plugin is up, at the same moment: they asked `check_settings` three times.
    let calls = calls_to_plan(READ_IN_PARALLEL);
    for method in [
        "initialize",
        "check_settings",
        "normalize_policy",
        "normalize_attributes",
        "read",
    ] {
        assert_eq!(
            calls.iter().filter(|m| *m == method).count(),
            1,
            "`{method}` in {calls:?}"
        );
    }
    let validated = calls.iter().filter(|m| *m == "validate").count();
    assert!((2..=64).contains(&validated), "{calls:?}");
}

#[test]
fn a_large_configuration_whose_plugin_is_not_the_pinned_one_is_refused_as_a_small_one_is() {
    let ws = Workspace::empty();
    let script = repo().join("tests/cli/plugins/counting.py");
    std::fs::copy(&script, ws.path().join("counting.py")).unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let mut config = format!(
        "version: 1\nproviders:\n  - name: demo\n    type: plugin\n    settings:\n      plugin: {{path: counting.py, sha256: \"{wrong}\"}}\nidentities:\n"
    );
    for i in 0..READ_IN_PARALLEL {
        config.push_str(&format!(
            "  - name: svc-{i}\n    provider: demo\n    owner: team@example.com\n    description: a service account of the {i}th kind, described at length\n    bindings:\n      - role: reader\n        resource: bucket/b{i}\n      - role: writer\n        resource: bucket/c{i}\n"
        ));
    }
    assert!(config.len() > 1 << 20);
    ws.write("nhi.yaml", &config);
    refused_for_its_digest(&ws.run(&["plan"]), "counting.py", &script, &wrong);
    assert!(!ws.path().join("calls.log").exists(), "the plugin ran");
}

#[test]
fn a_plugin_that_validates_names_alone_is_sent_names_alone() {
    let (ws, _) = plan_counting(2, Some(r#"["kind", "name"]"#));
    let sent: Vec<serde_json::Value> = ws
        .read("validate.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0]["identities"][1],
        serde_json::json!({"kind": "service_account", "name": "svc-1"})
    );
    // Without the capability, everything is sent.
    let (ws, _) = plan_counting(2, Some("null"));
    let sent: serde_json::Value =
        serde_json::from_str(ws.read("validate.log").lines().next().unwrap()).unwrap();
    let identity = &sent["identities"][1];
    assert_eq!(identity["owner"], "team@example.com");
    assert_eq!(identity["key_names"], serde_json::json!(["primary"]));
    assert_eq!(identity["bindings"][0]["role"], "reader");
}

#[test]
fn planning_through_a_plugin_makes_as_many_round_trips_for_many_identities_as_for_one() {
    let one = calls_to_plan(1);
    let many = calls_to_plan(60);
    assert_eq!(one, many);
    for method in [
        "validate",
        "advice",
        "normalize_policy",
        "normalize_attributes",
        "read",
    ] {
        assert_eq!(
            many.iter().filter(|m| *m == method).count(),
            1,
            "`{method}` in {many:?}"
        );
    }
}

fn plan_fails(mode: &str, timeout_ms: u64) -> String {
    let ws = misbehaving(timeout_ms);
    let planned = ws.run_env(&["plan"], &[("NHI_TEST_MODE", mode)]);
    assert_eq!(planned.code, 1, "{}\n{}", planned.stdout, planned.stderr);
    planned.stderr
}

#[test]
fn a_plugin_that_crashes_mid_call_fails_it_with_its_exit_status_and_last_words() {
    let stderr = plan_fails("crash", 10_000);
    assert!(
        stderr.contains(
            "plugin `misbehave` closed its standard output in `read` for `demo`; it exited with exit status: 3; its standard error ended:\n"
        ),
        "{stderr}"
    );
    // The plugin's last words, under its name (miette indents the line).
    assert!(
        stderr.contains("misbehave: misbehave: lost the database connection"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_that_hangs_is_stopped_at_its_deadline() {
    let started = std::time::Instant::now();
    let stderr = plan_fails("hang", 700);
    assert!(
        stderr.contains(
            "plugin `misbehave` did not answer within 700ms (stopped) in `read` for `demo`"
        ),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_plugin_that_prints_to_standard_output_is_a_protocol_error() {
    let stderr = plan_fails("garbage", 10_000);
    assert!(
        stderr.contains(
            "plugin `misbehave` wrote a line that is not a protocol message: `hello from a stray print` in `read` for `demo`"
        ),
        "{stderr}"
    );
}

#[test]
fn a_secret_a_plugin_leaks_on_standard_error_is_blotted_out_and_the_outcome_is_unknown() {
    let ws = misbehaving(10_000);
    let now = crate::team::now();
    let env = [("NHI_TEST_MODE", "secret"), ("NHI_NOW", now.as_str())];
    ok(&ws.run_env(&["plan", "-o", "s.plan"], &env));
    let applied = ws.run_env(&["apply", "s.plan", "--trust", "trust.yaml"], &env);
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    let secret = "canary-5d41402abc4b2a76b9719d911017c592";
    // Delivered to its sink before the key was recorded, as the SDK's rule says.
    let delivered = std::fs::read_to_string(ws.path().join("svc.key")).unwrap_or_default();
    assert!(delivered.contains(secret), "{}", applied.stderr);
    for (what, text) in [
        ("stdout", applied.stdout.clone()),
        ("stderr", applied.stderr.clone()),
        ("plan", ws.read("s.plan")),
    ] {
        assert!(!text.contains(secret), "the secret is on {what}:\n{text}");
    }
    assert!(
        applied
            .stderr
            .contains("misbehave: debug: recording the key whose secret is <redacted secret>"),
        "{}",
        applied.stderr
    );
    assert!(
        applied.stderr.contains("outcome unknown"),
        "{}",
        applied.stderr
    );
    let receipt = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("receipt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    assert!(!receipt.contains(secret));
}

/// The statuses a receipt records, by address.
fn statuses(receipt: &str) -> Vec<(String, String)> {
    let receipt: serde_json::Value = serde_json::from_str(receipt).unwrap();
    let body: serde_json::Value = serde_json::from_str(receipt["body"].as_str().unwrap()).unwrap();
    body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_plugin_that_dies_mid_apply_leaves_the_change_unknown_and_the_next_plan_does_not_repeat_it() {
    let ws = misbehaving(10_000);
    let config = ws.read("nhi.yaml");
    let edited = config.replace(
        "    keys:\n      - name: primary\n        sink: {file: svc.key}\n",
        "    bindings:\n      - {role: reader, resource: bucket/logs}\n",
    );
    assert_ne!(config, edited);
    ws.write("nhi.yaml", &edited);
    let now = crate::team::now();
    let crash = [("NHI_TEST_MODE", "apply-crash"), ("NHI_NOW", now.as_str())];
    ok(&ws.run_env(&["plan", "-o", "u.plan"], &crash));
    let applied = ws.run_env(&["apply", "u.plan", "--trust", "trust.yaml"], &crash);
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    assert!(
        applied.stderr.contains(
            "change 1 of 2 (`plugin.demo/identity/svc`) failed: outcome unknown: plugin `misbehave` closed its standard output in `apply` for `create_identity demo/identity/svc`; it exited with exit status: 5"
        ),
        "{}",
        applied.stderr
    );
    let receipt: serde_json::Value = serde_json::from_str(&ws.read("u.plan.receipt.json")).unwrap();
    let body: serde_json::Value = serde_json::from_str(receipt["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["outcome"], "unknown");
    assert_eq!(
        statuses(&ws.read("u.plan.receipt.json")),
        [
            ("plugin.demo/identity/svc".to_owned(), "unknown".to_owned()),
            (
                "plugin.demo/identity/svc/binding/reader@bucket/logs".to_owned(),
                "not_attempted".to_owned()
            ),
        ]
    );
    // The identity was made: the next plan reads it and only adds the binding.
    let normal = [("NHI_TEST_MODE", ""), ("NHI_NOW", now.as_str())];
    let planned = ws.run_env(&["plan", "-o", "v.plan"], &normal);
    ok(&planned);
    assert!(
        planned.stdout.contains("Plan: 1 to create"),
        "{}",
        planned.stdout
    );
    assert!(
        !planned
            .stdout
            .contains("plugin.demo/identity/svc will be created"),
        "{}",
        planned.stdout
    );
    ok(&ws.run_env(&["apply", "v.plan", "--trust", "trust.yaml"], &normal));
    let replanned = ws.run_env(&["plan"], &normal);
    assert!(
        replanned.stdout.contains("No changes"),
        "{}",
        replanned.stdout
    );
    let estate: serde_json::Value = serde_json::from_str(&ws.read("misbehave.json")).unwrap();
    assert_eq!(estate.as_array().unwrap().len(), 1, "{estate}");
}

fn kit(plugin: &Path) -> Run {
    Workspace::empty().run(&["provider", "test", &plugin.display().to_string()])
}

#[test]
fn the_local_provider_served_as_a_plugin_passes_the_conformance_kit() {
    let kit = kit(Path::new(LOCAL_PLUGIN));
    assert_eq!(kit.code, 0, "{}\n{}", kit.stdout, kit.stderr);
    assert!(
        kit.stdout.contains("nhi-provider-kit/1 against `local "),
        "{}",
        kit.stdout
    );
    assert!(
        kit.stdout.contains("11 passed, 0 failed, 0 skipped"),
        "{}",
        kit.stdout
    );
}

#[test]
fn the_kit_checks_that_a_hung_or_killed_plugin_fails_the_call_naming_it() {
    let kit = kit(Path::new(LOCAL_PLUGIN));
    assert_eq!(kit.code, 0, "{}\n{}", kit.stdout, kit.stderr);
    for line in [
        "pass  a hung call fails at its deadline        failed after ",
        "pass  a crash mid-call fails the call          killed mid-call: failed with its exit status, naming plugin, method and object",
        "pass  secret canary never leaks                2 secret(s) traced: never in a read, on standard error or in this report",
    ] {
        assert!(kit.stdout.contains(line), "{line}\n{}", kit.stdout);
    }
}

#[test]
fn the_python_example_plugin_passes_the_conformance_kit() {
    let kit = kit(&repo().join("examples/plugins/estate.py"));
    assert_eq!(kit.code, 0, "{}\n{}", kit.stdout, kit.stderr);
    assert!(
        kit.stdout.contains("against `py-estate 0.1.0`"),
        "{}",
        kit.stdout
    );
    assert!(
        kit.stdout.contains("11 passed, 0 failed, 0 skipped"),
        "{}",
        kit.stdout
    );
}

#[test]
fn the_kit_fails_a_plugin_that_crashes_and_exits_non_zero() {
    let ws = Workspace::empty();
    ws.write("crash.sh", "#!/bin/sh\necho 'crash: no' >&2\nexit 7\n");
    let script = ws.path().join("crash.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let kit = ws.run(&["provider", "test", "crash.sh"]);
    assert_eq!(kit.code, 1, "{}\n{}", kit.stdout, kit.stderr);
    assert!(kit.stdout.contains("FAIL  handshake"), "{}", kit.stdout);
    assert!(
        kit.stdout.contains("exited with exit status: 7"),
        "{}",
        kit.stdout
    );
}
