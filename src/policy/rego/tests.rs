use std::path::Path;

use miette::Diagnostic;
use serde_json::json;

use super::*;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

const NOW: &str = "2026-11-22T12:00:00Z";

fn bundle(files: &[(&str, &str)]) -> Result<Bundle, RegoError> {
    Bundle::from_sources(vec!["policies".into()], files)
}

fn input(identities: &serde_json::Value) -> serde_json::Value {
    json!({
        "plan": {},
        "desired": {
            "providers": [
                {"address": "local.demo", "type": "local", "name": "demo", "prune": false},
                {"address": "aws.prod", "type": "aws", "name": "prod", "prune": false},
            ],
            "identities": identities,
        }
    })
}

const RULES: &str = r#"package nhi.team

# METADATA
# title: owners are mailboxes
# custom:
#   id: owner-mailbox
#   severity: high
deny contains finding if {
	some i in input.desired.identities
	not contains(i.owner, "@")
	finding := {"msg": sprintf("owner of `%s` is not a mailbox", [i.name]), "address": i.address}
}

# METADATA
# custom:
#   id: few-identities
#   severity: low
warn contains msg if {
	count(input.desired.identities) > 1
	msg := "more than one identity"
}
"#;

#[test]
fn deny_and_warn_become_findings_with_their_ids_severities_and_addresses() {
    let b = bundle(&[("policies/team.rego", RULES)]).unwrap();
    let findings = b
        .evaluate(
            &input(&json!([
                {"address": "local.demo/identity/b", "name": "b", "owner": "bob"},
                {"address": "aws.prod/identity/a", "name": "a", "owner": "ann"},
                {"address": "local.demo/identity/c", "name": "c", "owner": "c@example.com"},
            ])),
            at(NOW),
        )
        .unwrap();
    let got: Vec<(&str, &str, Severity, Enforcement, &str)> = findings
        .iter()
        .map(|f| {
            (
                f.address.as_str(),
                f.rule.as_str(),
                f.severity,
                f.default_enforcement,
                f.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "aws.prod/identity/a",
                "rego:team.owner-mailbox",
                Severity::High,
                Enforcement::Hard,
                "owner of `a` is not a mailbox"
            ),
            // Without an address: the first provider block's.
            (
                "local.demo",
                "rego:team.few-identities",
                Severity::Low,
                Enforcement::Advisory,
                "more than one identity"
            ),
            (
                "local.demo/identity/b",
                "rego:team.owner-mailbox",
                Severity::High,
                Enforcement::Hard,
                "owner of `b` is not a mailbox"
            ),
        ]
    );
}

#[test]
fn findings_are_sorted_and_the_same_on_every_run() {
    let b = bundle(&[("policies/team.rego", RULES)]).unwrap();
    let identities: Vec<serde_json::Value> = (0..50)
        .rev()
        .map(|i| json!({"address": format!("local.demo/identity/i{i:02}"), "name": format!("i{i:02}"), "owner": "x"}))
        .collect();
    let input = input(&json!(identities));
    let first = b.evaluate(&input, at(NOW)).unwrap();
    assert_eq!(first.len(), 51);
    assert!(first.windows(2).all(|w| w[0] < w[1]));
    for _ in 0..3 {
        assert_eq!(b.evaluate(&input, at(NOW)).unwrap(), first);
        let again = bundle(&[("policies/team.rego", RULES)]).unwrap();
        assert_eq!(again.evaluate(&input, at(NOW)).unwrap(), first);
    }
}

#[test]
fn the_clock_is_the_plans_not_the_machines() {
    let rules = r#"package nhi.clock

# METADATA
# custom:
#   id: after-2030
#   severity: medium
deny contains msg if {
	time.now_ns() >= time.parse_rfc3339_ns("2030-01-01T00:00:00Z")
	msg := sprintf("now is %s", [time.format(time.now_ns())])
}
"#;
    let b = bundle(&[("policies/clock.rego", rules)]).unwrap();
    let input = input(&json!([]));
    assert_eq!(b.evaluate(&input, at(NOW)).unwrap(), []);
    let later = b.evaluate(&input, at("2031-05-06T07:08:09Z")).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].message, "now is 2031-05-06T07:08:09Z");
}

#[test]
fn randomness_is_refused() {
    let rules = r#"package nhi.dice

# METADATA
# custom:
#   id: dice
#   severity: low
deny contains msg if {
	rand.intn("x", 6) == 0
	msg := "unlucky"
}
"#;
    let b = bundle(&[("policies/dice.rego", rules)]).unwrap();
    let err = b.evaluate(&input(&json!([])), at(NOW)).unwrap_err();
    assert!(
        matches!(&err, RegoError::Eval { rule, detail } if rule == "rego:dice.dice" && detail.contains("deterministic")),
        "{err:?}"
    );
}

#[test]
fn a_parse_error_names_the_file_and_line() {
    let err = bundle(&[
        ("policies/a.rego", "package nhi.a\n"),
        (
            "policies/b.rego",
            "package nhi.b\n\ndeny contains msg if {\n\tmsg := \n",
        ),
    ])
    .unwrap_err();
    let RegoError::Source(e) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(e.file, "policies/b.rego");
    assert!(e.line >= 4, "{}", e.line);
    assert!(
        err.to_string().starts_with("`policies/b.rego` line "),
        "{err}"
    );
    assert_eq!(
        err.code().map(|c| c.to_string()).as_deref(),
        Some("nhi::policy::rego")
    );
}

#[test]
fn rules_that_break_the_conventions_are_refused_at_load() {
    let cases = [
        (
            "package nhi.x\n\ndeny contains msg if { msg := \"x\" }\n",
            "no `# METADATA`",
            3,
        ),
        (
            "package main\n\n# METADATA\n# custom:\n#   id: a\n#   severity: low\ndeny contains msg if { msg := \"x\" }\n",
            "outside `nhi`",
            7,
        ),
        (
            "package nhi.x\n\n# METADATA\n# custom:\n#   id: a\n#   severity: low\ndeny := \"x\"\n",
            "not a partial set",
            7,
        ),
        (
            "package nhi.x\n\n# METADATA\n# custom:\n#   id: a\n#   severity: low\ndeny contains \"x\" if { true }\n\n# METADATA\n# custom:\n#   id: a\n#   severity: high\ndeny contains \"y\" if { true }\n",
            "used again",
            13,
        ),
    ];
    for (text, want, want_line) in cases {
        let err = bundle(&[("policies/x.rego", text)]).unwrap_err();
        let RegoError::Source(e) = &err else {
            panic!("{text}: {err:?}");
        };
        assert!(e.detail.contains(want), "{text}: {}", e.detail);
        assert_eq!(e.line, want_line, "{text}");
    }
}

#[test]
fn a_finding_of_the_wrong_shape_or_on_an_unknown_address_is_an_error() {
    let rule = |value: &str| {
        format!(
            "package nhi.x\n\n# METADATA\n# custom:\n#   id: a\n#   severity: low\ndeny contains f if {{ f := {value} }}\n"
        )
    };
    for (value, want) in [
        ("42", "a finding that is a number"),
        ("{\"message\": \"x\"}", "without a string `msg`"),
        (
            "{\"msg\": \"x\", \"address\": 1}",
            "`address` that is a number",
        ),
        (
            "{\"msg\": \"x\", \"address\": \"gcp.other/identity/a\"}",
            "under no provider block",
        ),
        (
            "{\"msg\": \"x\", \"address\": \"local.demonic/identity/a\"}",
            "under no provider block",
        ),
    ] {
        let b = bundle(&[("policies/x.rego", &rule(value))]).unwrap();
        let err = b.evaluate(&input(&json!([])), at(NOW)).unwrap_err();
        assert!(
            matches!(&err, RegoError::Finding { detail, .. } if detail.contains(want)),
            "{value}: {err:?}"
        );
    }
}

#[test]
fn the_example_bundles_tests_pass() {
    let b = Bundle::load(Path::new("examples"), &["policies".into()]).unwrap();
    assert_eq!(
        b.files(),
        [
            "policies/ci.rego",
            "policies/ci_test.rego",
            "policies/expiry.rego",
            "policies/expiry_test.rego"
        ]
    );
    let report = b.test(at(NOW)).unwrap();
    assert_eq!(report.tests.len(), 9, "{report:#?}");
    assert!(report.all_passed(), "{report:#?}");
}

#[test]
fn the_example_bundle_judges_a_configuration() {
    let b = Bundle::load(Path::new("examples"), &["policies".into()]).unwrap();
    let identities = json!([
        {"address": "local.demo/identity/ci-deployer", "name": "ci-deployer", "tags": {}, "keys": [{"name": "primary"}], "expires": null},
        {"address": "local.demo/identity/ledger", "name": "ledger", "tags": {"team": "payments"}, "keys": [], "expires": "2026-12-01"},
        {"address": "local.demo/identity/refunds", "name": "refunds", "tags": {"team": "payments"}, "keys": [], "expires": "2028-01-01"},
    ]);
    let findings = b.evaluate(&input(&identities), at(NOW)).unwrap();
    let got: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.address.as_str(), f.rule.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("local.demo/identity/ci-deployer", "rego:ci.no-keys"),
            ("local.demo/identity/ledger", "rego:expiry.expires-soon"),
            ("local.demo/identity/refunds", "rego:expiry.within-a-year"),
        ]
    );
}

#[test]
fn failing_and_erroring_tests_are_reported() {
    let text = "package nhi.t\n\ntest_true if { true }\n\ntest_false if { false }\n\ntest_error if { time.parse_rfc3339_ns(\"not a time\") > 0 }\n\ntest_clock if { time.now_ns() == time.parse_rfc3339_ns(\"2026-11-22T12:00:00Z\") }\n";
    let b = bundle(&[("policies/t_test.rego", text)]).unwrap();
    let report = b.test(at(NOW)).unwrap();
    let got: Vec<(&str, u32, &TestOutcome)> = report
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.line, &t.outcome))
        .collect();
    assert_eq!(got[0], ("data.nhi.t.test_true", 3, &TestOutcome::Pass));
    assert_eq!(got[1], ("data.nhi.t.test_false", 5, &TestOutcome::Fail));
    assert!(
        matches!(got[2], ("data.nhi.t.test_error", 7, TestOutcome::Error(_))),
        "{got:?}"
    );
    assert_eq!(got[3], ("data.nhi.t.test_clock", 9, &TestOutcome::Pass));
    assert_eq!(report.passed(), 2);
    assert!(!report.all_passed());
}

#[test]
fn paths_that_leave_the_configuration_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("policies")).unwrap();
    std::fs::write(config.join("policies/a.rego"), "package nhi.a\n").unwrap();
    std::fs::write(dir.path().join("outside.rego"), "package nhi.o\n").unwrap();
    for (path, want) in [
        ("../outside.rego", "`..`"),
        ("policies/../../outside.rego", "`..`"),
        ("/etc/passwd", "absolute"),
        ("", "empty"),
    ] {
        let err = Bundle::load(&config, &[path.into()]).unwrap_err();
        assert!(
            matches!(&err, RegoError::Path { reason, .. } if reason.contains(want)),
            "{path}: {err:?}"
        );
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            dir.path().join("outside.rego"),
            config.join("policies/link.rego"),
        )
        .unwrap();
        let err = Bundle::load(&config, &["policies".into()]).unwrap_err();
        assert!(
            matches!(&err, RegoError::Path { path, reason } if path == "policies/link.rego" && reason.contains("link")),
            "{err:?}"
        );
        std::fs::remove_file(config.join("policies/link.rego")).unwrap();
    }
    let err = Bundle::load(&config, &["nothing".into()]).unwrap_err();
    assert!(matches!(err, RegoError::Io { .. }), "{err:?}");
    std::fs::write(config.join("policies/notes.txt"), "not policy").unwrap();
    let b = Bundle::load(&config, &["./policies".into(), "policies/a.rego".into()]).unwrap();
    assert_eq!(b.files(), ["policies/a.rego"]);
}

#[test]
fn the_digest_is_stable_changes_with_any_file_and_follows_the_documented_framing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("p/sub")).unwrap();
    std::fs::write(dir.path().join("p/b.rego"), "package nhi.b\n").unwrap();
    std::fs::write(dir.path().join("p/sub/a.rego"), "package nhi.a\n").unwrap();
    let load = || Bundle::load(dir.path(), &["p".into()]).unwrap().record();
    let first = load();
    assert_eq!(first.paths, ["p"]);
    assert_eq!(load(), first);
    let framed =
        "17:nhi-rego-bundle/1,8:p/b.rego,14:package nhi.b\n,12:p/sub/a.rego,14:package nhi.a\n,";
    assert_eq!(first.digest, Digest::of(framed.as_bytes()));
    std::fs::write(dir.path().join("p/sub/a.rego"), "package nhi.a \n").unwrap();
    assert_ne!(load().digest, first.digest);
    // Moving bytes between files changes the digest too.
    std::fs::write(dir.path().join("p/sub/a.rego"), "package nhi.a\n").unwrap();
    std::fs::rename(dir.path().join("p/b.rego"), dir.path().join("p/c.rego")).unwrap();
    assert_ne!(load().digest, first.digest);
}

#[test]
fn the_input_holds_the_desired_state_without_sink_settings() {
    let text = r"version: 1
providers:
  - name: demo
    type: local
    settings:
      state: estate.json
identities:
  - name: ci-deployer
    provider: demo
    owner: platform@example.com
    tags:
      team: ci
    expires: 2027-01-31
    keys:
      - name: primary
        rotate_after: 90d
        sink:
          file: secrets/primary.key
    bindings:
      - role: deployer
        resource: project/web
";
    let config = crate::config::parse(Path::new("nhi.yaml"), text).unwrap();
    let got = desired(&config);
    assert_eq!(
        got,
        json!({
            "providers": [{"address": "local.demo", "type": "local", "name": "demo", "prune": false}],
            "identities": [{
                "address": "local.demo/identity/ci-deployer",
                "provider": "demo",
                "name": "ci-deployer",
                "kind": "service_account",
                "owner": "platform@example.com",
                "description": "",
                "tags": {"team": "ci"},
                "attributes": {},
                "expires": "2027-01-31",
                "keys": [{"name": "primary", "rotate_after": "90d", "expires": null, "sink": "file"}],
                "bindings": [{"role": "deployer", "resource": "project/web", "policy": null}],
            }],
        })
    );
}

#[test]
fn a_bundle_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Bundle>();
}
