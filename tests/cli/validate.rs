//! `nhi validate` and the guarantee that every example validates.

use crate::harness::{Workspace, repo};

#[test]
fn every_example_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(
                    text.starts_with(
                        "# yaml-language-server: $schema=../../schemas/nhi.schema.json"
                    ),
                    "{} must start with the schema line",
                    file.display()
                );
                let ws = Workspace::empty();
                let run = ws.run(&[
                    "-C",
                    dir.to_str().unwrap(),
                    "--config",
                    file.file_name().unwrap().to_str().unwrap(),
                    "validate",
                ]);
                assert_eq!(run.code, 0, "{}: {}", file.display(), run.stderr);
                seen += 1;
            }
        }
    }
    assert!(seen >= 1);
}

/// Regression: the local and AWS provider READMEs showed `providers:` as a map,
/// which nhi rejects; every provider README's YAML must validate as written.
#[test]
fn provider_readme_examples_validate() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("providers")).unwrap() {
        let readme = entry.unwrap().path().join("README.md");
        let Ok(text) = std::fs::read_to_string(&readme) else {
            continue;
        };
        for block in text.split("```yaml\n").skip(1) {
            let yaml = block.split("```").next().unwrap();
            if !yaml.starts_with("providers:") {
                continue;
            }
            let ws = Workspace::empty();
            ws.write("nhi.yaml", yaml);
            let run = ws.run(&["validate"]);
            assert_eq!(run.code, 0, "{}:\n{yaml}\n{}", readme.display(), run.stderr);
            seen += 1;
        }
    }
    assert!(seen >= 3, "{seen} README examples");
}

#[test]
fn missing_config_is_an_error_with_help() {
    let ws = Workspace::empty();
    let run = ws.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nhi.yaml"), "{}", run.stderr);
}

#[test]
fn usage_error_exits_one() {
    let ws = Workspace::empty();
    assert_eq!(ws.run(&["plan", "--no-such-flag"]).code, 1);
    assert_eq!(ws.run(&["--help"]).code, 0);
}

#[test]
fn config_errors_point_at_the_line_and_change_nothing() {
    let ws = Workspace::example("quickstart");
    let estate = ws.bytes("estate.json");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "undefined provider",
            "    provider: demo\n    kind: service_account\n    owner: platform",
            &["nhi::config::undefined_provider", "nhi.yaml:"],
        ),
        (
            "unknown field",
            "    owner: platform-team@example.com\n",
            &["nhi::config::unknown_field", "ownr"],
        ),
        (
            "bad duration",
            "rotate_after: 90d",
            &["nhi::config::invalid_duration", "90 days"],
        ),
    ];
    let original = ws.read("nhi.yaml");
    for (name, needle, expect) in cases {
        assert!(original.contains(needle), "{name}: fixture text");
        let broken = match *name {
            "undefined provider" => original.replacen(
                needle,
                "    provider: prod\n    kind: service_account\n    owner: platform",
                1,
            ),
            "unknown field" => {
                original.replacen(needle, "    ownr: platform-team@example.com\n", 1)
            }
            _ => original.replacen(needle, "rotate_after: 90 days", 1),
        };
        ws.write("nhi.yaml", &broken);
        for command in [&["validate"][..], &["plan"][..]] {
            let run = ws.run(command);
            assert_eq!(run.code, 1, "{name}: {}", run.stderr);
            for e in *expect {
                assert!(
                    run.stderr.contains(e),
                    "{name}: expected `{e}` in\n{}",
                    run.stderr
                );
            }
            assert!(run.stdout.is_empty(), "{name}: nothing on stdout");
        }
        assert_eq!(ws.bytes("estate.json"), estate);
    }
}

#[test]
fn validate_reports_what_it_checked() {
    let ws = Workspace::example("quickstart");
    let run = ws.run(&["validate"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "`nhi.yaml` is valid: 1 provider, 5 identities, 3 keys, 7 bindings\n"
    );
    assert_eq!(
        run.stderr,
        "warning: identity `local.demo/identity/batch-reporter` expired on 2026-01-31\n  \
         help: a plan deletes an expired object that exists and never creates one; remove it \
         from the configuration, or move its `expires` later\n",
        "the verdict is a report (stdout); warnings are diagnostics (stderr)"
    );
}

#[test]
fn validate_json_gives_counts_or_every_problem_with_its_place() {
    let ws = Workspace::example("quickstart");
    let run = ws.run(&["validate", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("validate_json_valid", run.stdout);

    let original = ws.read("nhi.yaml");
    let broken = original.replacen("provider: demo", "provider: dmo", 2);
    ws.write("nhi.yaml", &broken);
    let run = ws.run(&["validate", "--json"]);
    assert_eq!(run.code, 1, "an invalid configuration still exits 1");
    assert!(
        run.stderr.contains("nhi::config"),
        "diagnostics stay on stderr: {}",
        run.stderr
    );
    insta::assert_snapshot!("validate_json_invalid", run.stdout);
}

/// Regression: a declared object past its `expires` was skipped without a word.
/// Validate names each one by the real clock, and still succeeds.
#[test]
fn validate_warns_about_each_expired_object_by_the_real_clock() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        "providers:\n  - name: demo\n    type: local\n    settings: {state: e.json}\n\
         identities:\n  - name: old-ci\n    provider: demo\n    owner: me\n    expires: 2020-01-31\n\
         \x20 - name: ci\n    provider: demo\n    owner: me\n    keys:\n\
         \x20     - {name: legacy, sink: stdout, expires: 2021-06-30}\n\
         \x20     - {name: current, sink: stdout, expires: 2999-12-31}\n",
    );
    let run = crate::harness::Run::from(
        ws.command()
            .env_remove("NHI_NOW")
            .arg("validate")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(
        warnings,
        [
            "warning: identity `local.demo/identity/old-ci` expired on 2020-01-31",
            "warning: key `local.demo/identity/ci/key/legacy` expired on 2021-06-30",
        ]
    );
    assert!(run.stdout.contains("is valid"), "{}", run.stdout);
}

/// One whole file per error class: the code, and the `file:line:col` it points at.
#[test]
fn every_error_class_is_reported_with_its_location() {
    const HEAD: &str = "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: e.json}\nidentities:\n";
    let cases: &[(&str, &str, &str, &str)] = &[
        ("empty file", "", "nhi::config::empty", "is empty"),
        (
            "binary garbage",
            "\u{0}\u{1}\u{2}garbage\u{7f}",
            "nhi::config::",
            "nhi.yaml",
        ),
        (
            "syntax",
            "version: 1\nproviders: [\n",
            "nhi::config::syntax",
            "nhi.yaml:",
        ),
        (
            "tabs",
            "version: 1\nproviders:\n\t- name: demo\n",
            "nhi::config::syntax",
            "nhi.yaml:3",
        ),
        (
            "wrong type",
            "version: 1\nproviders: 7\n",
            "nhi::config::wrong_type",
            "nhi.yaml:2",
        ),
        (
            "unsupported version",
            "version: 2\nproviders: []\n",
            "nhi::config::unsupported_version",
            "nhi.yaml:1",
        ),
        (
            "unknown type",
            "version: 1\nproviders:\n  - name: demo\n    type: azure\n",
            "nhi::config::unknown_type",
            "nhi.yaml:4",
        ),
        (
            "duplicate identity",
            &format!(
                "{HEAD}  - name: a\n    provider: demo\n    owner: o\n  - name: a\n    provider: demo\n    owner: o\n"
            ),
            "nhi::config::duplicate_name",
            "nhi.yaml:10",
        ),
        (
            "name the provider rejects",
            &format!("{HEAD}  - name: Bad_Name\n    provider: demo\n    owner: o\n"),
            "nhi::config::invalid_name",
            "nhi.yaml:7",
        ),
        (
            "bad date",
            &format!(
                "{HEAD}  - name: a\n    provider: demo\n    owner: o\n    expires: 2026-02-30\n"
            ),
            "nhi::config::invalid_date",
            "nhi.yaml:10",
        ),
        (
            "unknown kind",
            &format!("{HEAD}  - name: a\n    provider: demo\n    kind: robot\n    owner: o\n"),
            "nhi::config::unknown_kind",
            "nhi.yaml:9",
        ),
        (
            "missing sink",
            &format!(
                "{HEAD}  - name: a\n    provider: demo\n    owner: o\n    keys:\n      - name: k\n"
            ),
            "nhi::config::missing_field",
            "nhi.yaml:11",
        ),
        (
            "policy not an object",
            &format!(
                "{HEAD}  - name: a\n    provider: demo\n    owner: o\n    bindings:\n      - role: r\n        policy: \"[1]\"\n"
            ),
            "nhi::config::invalid_policy",
            "nhi.yaml:12",
        ),
    ];
    for (name, text, code, at) in cases {
        let ws = Workspace::empty();
        ws.write("nhi.yaml", text);
        let run = ws.run(&["validate"]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(code),
            "{name}: expected `{code}` in\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(at),
            "{name}: expected `{at}` in\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{name}");
    }
}

#[test]
fn provider_rules_are_checked_offline() {
    const HEAD: &str = "version: 1\nproviders:\n  - name: prod\n    type: aws\n    settings: {path_prefix: /nhi/}\nidentities:\n  - name: ci\n    provider: prod\n    kind: user\n    owner: o@example.com\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "binding that is neither an ARN nor inline",
            "    bindings:\n      - role: admin\n",
            "nhi::config::invalid_binding",
        ),
        (
            "inline policy without a document",
            "    bindings:\n      - role: inline:deploy\n",
            "nhi::config::invalid_binding",
        ),
        (
            "reserved tag",
            "    tags: {\"nhi:owner\": x}\n",
            "nhi::config::invalid_tags",
        ),
        (
            "unknown attribute",
            "    attributes: {color: blue}\n",
            "nhi::config::invalid_attributes",
        ),
        (
            "a sink the provider cannot serve",
            "    keys:\n      - name: k\n        sink: {aws_secrets_manager: {secret_id: \"\"}}\n",
            "nhi::config::invalid_sink",
        ),
        (
            "a user description IAM cannot keep in a tag",
            "    description: Deploys, then tests\n",
            "(no commas), at most 256",
        ),
    ];
    refused_offline(HEAD, cases);
    // A role's own description field takes commas.
    let ws = Workspace::empty();
    let role = "version: 1\nproviders:\n  - name: prod\n    type: aws\n    settings: {path_prefix: /nhi/}\nidentities:\n  - name: app\n    provider: prod\n    kind: role\n    owner: o@example.com\n    description: Serves, then sleeps\n    attributes:\n      trust_policy: {Version: \"2012-10-17\", Statement: []}\n";
    ws.write("nhi.yaml", role);
    let run = ws.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A role without a trust policy, and the same file with one.
    let ws = Workspace::empty();
    let role = "version: 1\nproviders:\n  - name: prod\n    type: aws\n    settings: {path_prefix: /nhi/}\nidentities:\n  - name: app\n    provider: prod\n    kind: role\n    owner: o@example.com\n";
    ws.write("nhi.yaml", role);
    assert!(
        ws.run(&["validate"])
            .stderr
            .contains("nhi::config::invalid_attributes")
    );
    ws.write("nhi.yaml", &format!("{role}    attributes:\n      trust_policy: {{Version: \"2012-10-17\", Statement: []}}\n"));
    let run = ws.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Each case (name, tail appended to `head`, expected text) fails `nhi validate`
/// with exit 1 and says the expected text.
fn refused_offline(head: &str, cases: &[(&str, &str, &str)]) {
    for (name, tail, expected) in cases {
        let ws = Workspace::empty();
        ws.write("nhi.yaml", &format!("{head}{tail}"));
        let run = ws.run(&["validate"]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(expected),
            "{name}: expected `{expected}` in\n{}",
            run.stderr
        );
    }
}

#[test]
fn gcp_rules_are_checked_offline() {
    const HEAD: &str = "version: 1\nproviders:\n  - name: prod\n    type: gcp\n    settings: {project: acme-prod}\nidentities:\n  - name: ci-bot\n    provider: prod\n    owner: o@example.com\n";
    let long = "d".repeat(230);
    let too_long = format!("    description: {long}\n");
    let cases: &[(&str, &str, &str)] = &[
        (
            "a role that is not a role",
            "    bindings:\n      - role: admin\n",
            "nhi::config::invalid_binding",
        ),
        (
            "a resource that is not the project",
            "    bindings:\n      - role: roles/viewer\n        resource: bucket/x\n",
            "use `*` (the project) or `condition:<title>`",
        ),
        (
            "a condition without an expression",
            "    bindings:\n      - role: roles/viewer\n        resource: condition:t\n        policy: {description: x}\n",
            "needs a non-empty string `expression`",
        ),
        ("labels", "    tags: {team: a}\n", "have no labels or tags"),
        (
            "an unknown attribute",
            "    attributes: {color: blue}\n",
            "nhi::config::invalid_attributes",
        ),
        (
            "a description with no room for the owner and key record",
            &too_long,
            "holds at most 256: shorten the description or owner",
        ),
        (
            "another cloud's sink",
            "    keys:\n      - name: k\n        sink: {aws_secrets_manager: {secret_id: x}}\n",
            "nhi::config::invalid_sink",
        ),
        (
            "a secret id Secret Manager refuses",
            "    keys:\n      - name: k\n        sink: {gcp_secret_manager: {secret_id: \"a/b\"}}\n",
            "nhi::config::invalid_sink",
        ),
    ];
    refused_offline(HEAD, cases);
    let bad_name = HEAD.replace("name: ci-bot", "name: CI");
    refused_offline(
        &bad_name,
        &[(
            "an account id Google refuses",
            "",
            "not a valid service account id",
        )],
    );
    let no_project = HEAD.replace("{project: acme-prod}", "{}");
    refused_offline(
        &no_project,
        &[("no project", "", "missing setting `project`")],
    );
    // The same identity, well formed, validates.
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        &format!("{HEAD}    description: Deploys\n    keys:\n      - name: k\n        sink: {{gcp_secret_manager: {{secret_id: ci-bot-key}}}}\n    bindings:\n      - role: roles/viewer\n"),
    );
    let run = ws.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Regression: a problem past column 65,535 of a line panicked inside miette's
/// renderer (exit 101) in `validate` and `plan`.
#[test]
fn a_problem_past_column_65535_is_reported_not_a_panic() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        &format!(
            "version: 1\nproviders: [{{name: demo, type: local, settings: {{state: estate.json}}}}]\nidentities: [{{name: a, provider: demo, kind: service_account, owner: x@example.com, description: \"{}\", bogus: 1}}]\n",
            "x".repeat(70_000)
        ),
    );
    for args in [&["validate"][..], &["plan"], &["validate", "--json"]] {
        let run = ws.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(out.contains("unknown field `bogus`"), "{args:?}: {out}");
        assert!(
            out.lines().all(|line| line.len() < 1_000),
            "{args:?}: a line of the report is too long"
        );
    }
    let json = ws.run(&["validate", "--json"]);
    assert!(json.stdout.contains("\"column\": 70102"), "{}", json.stdout);
    let text = ws.run(&["validate"]);
    assert!(
        text.stderr.contains("[nhi.yaml:3:70102]"),
        "{}",
        text.stderr
    );
}

/// Regression: two blocks on one scope were accepted, and a pruning one planned
/// to delete the other's identities, plans alternated forever and apply waited
/// on its own lock.
#[test]
fn overlapping_scopes_are_refused_at_the_later_block() {
    let config = |blocks: &str| format!("version: 1\nproviders:\n{blocks}identities: []\n");
    let cases: &[(&str, String, &str)] = &[
        (
            "one estate file written two ways",
            config(
                "  - name: a\n    type: local\n    settings: {state: estate.json}\n  - name: b\n    type: local\n    prune: true\n    settings: {state: ./estate.json}\n",
            ),
            "provider `b` manages what provider `a` manages: `./estate.json` and `estate.json` are one estate file",
        ),
        (
            "one estate file through a directory and its symlink",
            config(
                "  - name: a\n    type: local\n    settings: {state: real/estate.json}\n  - name: b\n    type: local\n    settings: {state: link/../real/../link/estate.json}\n",
            ),
            "provider `b` manages what provider `a` manages: `link/../real/../link/estate.json` and `real/estate.json` are one estate file",
        ),
        (
            "nested AWS path prefixes",
            config(
                "  - name: a\n    type: aws\n    settings: {path_prefix: /}\n  - name: b\n    type: aws\n    settings: {path_prefix: /team/}\n",
            ),
            "provider `b` manages what provider `a` manages: path prefix `/team/` lies within `/` in the same account",
        ),
        (
            "two GCP blocks on one project",
            config(
                "  - name: a\n    type: gcp\n    settings: {project: proj-one, credentials: anonymous, endpoint: \"http://127.0.0.1:8\"}\n  - name: b\n    type: gcp\n    settings: {project: proj-one, credentials: anonymous, endpoint: \"http://127.0.0.1:9\"}\n",
            ),
            "provider `b` manages what provider `a` manages: both manage project `proj-one`",
        ),
    ];
    for (name, text, message) in cases {
        let ws = Workspace::empty();
        std::fs::create_dir(ws.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", ws.path().join("link")).unwrap();
        ws.write("nhi.yaml", text);
        for command in ["validate", "plan"] {
            let run = ws.run(&[command]);
            assert_eq!(run.code, 1, "{name}, {command}: {}", run.stderr);
            assert!(
                run.stderr.contains("nhi::config::overlapping_scope"),
                "{name}, {command}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains(message),
                "{name}, {command}: {}",
                run.stderr
            );
        }
    }
    // Disjoint scopes stay valid: other files, sibling prefixes, other projects,
    // other managed tags.
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        &config(
            "  - name: a\n    type: local\n    settings: {state: a.json}\n  - name: b\n    type: local\n    settings: {state: b.json}\n  - name: c\n    type: aws\n    settings: {path_prefix: /team-a/}\n  - name: d\n    type: aws\n    settings: {path_prefix: /team-b/}\n  - name: e\n    type: aws\n    settings: {path_prefix: /tagged/, managed_tag: nhi-e}\n  - name: f\n    type: aws\n    settings: {path_prefix: /tagged/, managed_tag: nhi-f}\n  - name: g\n    type: gcp\n    settings: {project: proj-one, credentials: anonymous, endpoint: \"http://127.0.0.1:8\"}\n  - name: h\n    type: gcp\n    settings: {project: proj-two, credentials: anonymous, endpoint: \"http://127.0.0.1:8\"}\n",
        ),
    );
    let run = ws.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn an_overlapping_scope_points_at_both_blocks() {
    let ws = Workspace::empty();
    ws.write(
        "nhi.yaml",
        "version: 1\nproviders:\n  - name: a\n    type: local\n    settings: {state: estate.json}\n  - name: b\n    type: local\n    prune: true\n    settings: {state: ./estate.json}\nidentities: []\n",
    );
    let run = ws.run(&["validate"]);
    insta::assert_snapshot!("overlapping_scope", run.stderr);
}

/// Regression: role and resource names and tag keys with control characters
/// reached reviewers raw (`ESC[8m` concealed the rest of a line in `plan`).
#[test]
fn control_characters_in_names_are_refused_at_validate() {
    let identity = |field: &str| {
        format!(
            "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {{state: estate.json}}\nidentities:\n  - name: ci\n    provider: demo\n    owner: o@example.com\n{field}"
        )
    };
    let cases: &[(&str, String, &str)] = &[
        (
            "role",
            identity("    bindings:\n      - role: \"view\\e[8mer\"\n"),
            "the role of a binding of identity `ci` holds the character U+001B",
        ),
        (
            "resource",
            identity(
                "    bindings:\n      - role: admin\n        resource: \"\\n\\n**Plan reviewed: low risk only.**\\n\\n<!--\"\n",
            ),
            "the resource of a binding of identity `ci` holds the character U+000A",
        ),
        (
            "tag key",
            identity("    tags:\n      \"team\\e[2K\\r\": web\n"),
            "the key of tag `team\\u{1b}[2K\\r` of identity `ci` holds the character U+001B",
        ),
        (
            "tag value",
            identity("    tags:\n      team: \"web\\u202Egnp.exe\"\n"),
            "the value of tag `team` of identity `ci` holds the character U+202E",
        ),
        (
            "owner",
            identity("    description: x\n").replace("o@example.com", "\"o\\u0085@example.com\""),
            "the owner of identity `ci` holds the character U+0085",
        ),
        (
            "identity name",
            identity("").replace("name: ci", "name: \"c\\u2028i\""),
            "the name of this identity holds the character U+2028",
        ),
    ];
    for (name, text, message) in cases {
        let ws = Workspace::empty();
        ws.write("nhi.yaml", text);
        for command in ["validate", "plan"] {
            let run = ws.run(&[command]);
            assert_eq!(run.code, 1, "{name}, {command}: {}", run.stderr);
            assert!(
                run.stderr.contains("nhi::config::control_character"),
                "{name}, {command}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains(message),
                "{name}, {command}: {}",
                run.stderr
            );
            assert!(
                !run.stderr
                    .chars()
                    .any(|c| nhi_provider_sdk::text::is_unsafe_char(c) && c != '\n'),
                "{name}: the report itself holds the character: {:?}",
                run.stderr
            );
        }
    }
}
