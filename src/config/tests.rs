use std::collections::BTreeMap;
use std::fmt::Write as _;

use miette::Diagnostic;
use nhi_provider_sdk::{Binding, Identity, Sink, Tags};
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn render(err: &dyn Diagnostic) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, err)
        .unwrap();
    out
}

fn code(err: &dyn Diagnostic) -> String {
    err.code().map(|c| c.to_string()).unwrap_or_default()
}

const EXAMPLE: &str = r#"# yaml-language-server: $schema=../../schemas/nhi.schema.json
version: 1
providers:
  - name: demo
    type: local
    prune: false
    settings:
      state: estate.json
identities:
  - name: ci-deployer
    provider: demo
    kind: service_account
    owner: platform@example.com
    description: Deploys web
    tags: {team: platform}
    expires: 2027-01-31
    keys:
      - name: primary
        rotate_after: 90d
        expires: 2027-06-30
        sink: {file: secrets/ci-deployer-primary.key}
    bindings:
      - role: deployer
        resource: project/web
        policy:
          Version: "2012-10-17"
  - name: reader
    provider: demo
    owner: data@example.com
    keys:
      - name: k1
        sink: stdout
    bindings:
      - role: viewer
        policy: '{"Statement": []}'
"#;

#[test]
fn parses_the_full_example() {
    let config = parse(Path::new("examples/quickstart/nhi.yaml"), EXAMPLE).unwrap();
    assert_eq!(config.path, Path::new("examples/quickstart/nhi.yaml"));
    assert_eq!(config.dir, Path::new("examples/quickstart"));
    assert_eq!(config.digest, Digest::of(EXAMPLE.as_bytes()));
    assert_eq!(
        config.providers,
        [ProviderBlock {
            name: "demo".into(),
            type_name: "local".into(),
            prune: false,
            settings: json!({"state": "estate.json"}),
        }]
    );
    let date = |y, m, d| Some(jiff::civil::date(y, m, d));
    assert_eq!(
        config.identities,
        [
            DesiredIdentity {
                provider: "demo".into(),
                identity: Identity {
                    name: "ci-deployer".into(),
                    kind: "service_account".into(),
                    owner: "platform@example.com".into(),
                    description: "Deploys web".into(),
                    tags: Tags::from([("team".into(), "platform".into())]),
                    attributes: BTreeMap::new(),
                },
                expires: date(2027, 1, 31),
                keys: vec![DesiredKey {
                    name: "primary".into(),
                    adopt: None,
                    rotate_after: Some("90d".parse().unwrap()),
                    retire_after: None,
                    status: nhi_provider_sdk::KeyStatus::Active,
                    expires: date(2027, 6, 30),
                    sink: Sink::File("secrets/ci-deployer-primary.key".into()),
                }],
                bindings: vec![Binding {
                    role: "deployer".into(),
                    resource: "project/web".into(),
                    policy: Some(json!({"Version": "2012-10-17"}).into()),
                }],
            },
            DesiredIdentity {
                provider: "demo".into(),
                identity: Identity {
                    name: "reader".into(),
                    kind: "service_account".into(),
                    owner: "data@example.com".into(),
                    description: String::new(),
                    tags: Tags::new(),
                    attributes: BTreeMap::new(),
                },
                expires: None,
                keys: vec![DesiredKey {
                    name: "k1".into(),
                    adopt: None,
                    rotate_after: None,
                    retire_after: None,
                    status: nhi_provider_sdk::KeyStatus::Active,
                    expires: None,
                    sink: Sink::Stdout,
                }],
                bindings: vec![Binding {
                    role: "viewer".into(),
                    resource: "*".into(),
                    policy: Some(json!({"Statement": []}).into()),
                }],
            },
        ]
    );
}

#[test]
fn a_bare_file_name_has_the_current_directory() {
    let config = parse(Path::new("nhi.yaml"), "version: 1\n").unwrap();
    assert_eq!(config.dir, Path::new("."));
    assert!(config.providers.is_empty() && config.identities.is_empty());
}

/// Providers `demo` (local) and `gcp`-like second block, for identity cases.
const PROVIDERS: &str = "providers:
  - name: demo
    type: local
    settings: {state: estate.json}
  - name: lab
    type: local
    settings: {state: lab.json}
";

/// One case per error class: (snapshot name, expected code, file text).
fn cases() -> Vec<(&'static str, &'static str, String)> {
    let with = |rest: &str| format!("{PROVIDERS}{rest}");
    let identity = |fields: &str| {
        with(&format!(
            "identities:\n  - name: ci\n    provider: demo\n{fields}"
        ))
    };
    vec![
            ("empty", "empty", String::new()),
            ("only_comments", "empty", "# nothing yet\n\n   # still nothing\n".into()),
            ("syntax_tab_indent", "syntax", "providers:\n\t- name: demo\n".into()),
            ("syntax_unclosed_bracket", "syntax", "providers: [\n  {name: demo\n".into()),
            ("syntax_two_documents", "syntax", "version: 1\n---\nversion: 1\n".into()),
            ("wrong_type_top_level_list", "wrong_type", "- name: demo\n  type: local\n".into()),
            ("wrong_type_strict_bool", "wrong_type", with("    prune: yes\n")),
            ("wrong_type_list_expected", "wrong_type", identity("    owner: me\n    keys: primary\n")),
            ("unknown_field_typo", "unknown_field", identity("    ownr: me\n")),
            ("unknown_field_labels", "unknown_field", identity("    owner: me\n    labels: {team: a}\n")),
            ("unknown_field_three_typos", "invalid", "providers:\n  - name: demo\n    tpye: local\n    settings: {state: estate.json}\nidentities:\n  - name: ci\n    provider: demo\n    ownr: me\n    keys:\n      - name: primary\n        rotate_afer: 90d\n        sink: stdout\n".into()),
            ("type_errors_with_unknown_fields", "invalid", "providers:\n  - name: demo\n    type: local\n    setings: {state: estate.json}\nidentities:\n  - name: a\n    provider: demo\n    ownr: x@example.com\n  - name: b\n    provider: demo\n    owner: y@example.com\n    keys: 5\n  - name: c\n    provider: demo\n    owner: [1]\n    expires: notadate\n".into()),
            ("duplicate_key", "duplicate_key", identity("    owner: me\n    owner: you\n")),
            ("missing_field_owner", "missing_field", identity("    description: no owner\n")),
            ("missing_field_sink", "missing_field", identity("    owner: me\n    keys:\n      - name: primary\n")),
            ("unsupported_version", "unsupported_version", format!("version: 2\n{PROVIDERS}")),
            ("invalid_name_provider", "invalid_name", "providers:\n  - name: Demo\n    type: local\n    settings: {state: s.json}\n".into()),
            ("invalid_name_rejected_by_provider", "invalid_name", with("identities:\n  - name: CI_deployer\n    provider: demo\n    owner: me\n")),
            ("invalid_name_key", "invalid_name", identity("    owner: me\n    keys:\n      - name: Primary Key\n        sink: stdout\n")),
            ("duplicate_name_provider", "duplicate_name", format!("{PROVIDERS}  - name: demo\n    type: local\n    settings: {{state: other.json}}\n")),
            ("duplicate_name_identity", "duplicate_name", identity("    owner: me\n  - name: ci\n    provider: demo\n    owner: you\n")),
            ("duplicate_name_key", "duplicate_name", identity("    owner: me\n    keys:\n      - {name: primary, sink: stdout}\n      - {name: primary, sink: stdout}\n")),
            ("duplicate_adopt", "duplicate_adopt", identity("    owner: me\n    keys:\n      - {name: primary, adopt: AKIA1, sink: stdout}\n      - {name: backup, adopt: AKIA1, sink: stdout}\n")),
            ("empty_value_adopt", "empty_value", identity("    owner: me\n    keys:\n      - {name: primary, adopt: '', sink: stdout}\n")),
            ("duplicate_binding", "duplicate_binding", identity("    owner: me\n    bindings:\n      - role: viewer\n      - role: viewer\n        resource: '*'\n")),
            ("unknown_type", "unknown_type", "providers:\n  - name: demo\n    type: lcoal\n".into()),
            ("invalid_settings", "invalid_settings", "providers:\n  - name: demo\n    type: local\n    settings:\n      state: estate.json\n      colour: blue\n".into()),
            ("invalid_settings_missing", "invalid_settings", "providers:\n  - name: demo\n    type: local\n".into()),
            ("undefined_provider_listed", "undefined_provider", with("identities:\n  - name: ci\n    provider: prod\n    owner: me\n")),
            ("undefined_provider_typo", "undefined_provider", with("identities:\n  - name: ci\n    provider: dmeo\n    owner: me\n")),
            ("unknown_kind", "unknown_kind", identity("    kind: robot\n    owner: me\n")),
            ("empty_value_owner", "empty_value", identity("    owner: \"  \"\n")),
            ("invalid_duration", "invalid_duration", identity("    owner: me\n    keys:\n      - name: primary\n        rotate_after: 90x\n        sink: stdout\n")),
            ("invalid_date_day", "invalid_date", identity("    owner: me\n    expires: 2027-02-30\n")),
            ("invalid_date_shape", "invalid_date", identity("    owner: me\n    expires: next tuesday\n")),
            ("invalid_sink", "invalid_sink", identity("    owner: me\n    keys:\n      - name: primary\n        sink: stderr\n")),
            ("invalid_policy_not_json", "invalid_policy", identity("    owner: me\n    bindings:\n      - role: viewer\n        policy: '{\"Version\": 2012'\n")),
            ("invalid_policy_not_object", "invalid_policy", identity("    owner: me\n    bindings:\n      - role: viewer\n        policy: [allow]\n")),
            ("too_complex_nesting", "too_complex", format!(
                    "providers:\n  - name: demo\n    type: local\n    settings: {{state: {}{}}}\n",
                    "[".repeat(100),
                    "]".repeat(100)
                )),
            ("too_complex_alias_bomb", "too_complex", billion_laughs()),
            (
                "invalid_many",
                "invalid",
                format!(
                    "version: 1\n{PROVIDERS}  - name: demo\n    type: lcoal\nidentities:\n  - name: ci\n    provider: prod\n    owner: ''\n    keys:\n      - name: primary\n        rotate_after: 0d\n        sink: {{file: k}}\n  - provider: demo\n    owner: me\n"
                ),
            ),
        ]
}

fn billion_laughs() -> String {
    let mut text = String::from(
        "providers:\n  - name: demo\n    type: local\n    settings:\n      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for (prev, next) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        writeln!(text, "      {next}: &{next} [{refs}]").unwrap();
    }
    text
}

#[test]
fn every_error_class_renders_with_its_line() {
    for (name, want, text) in cases() {
        let err = parse(Path::new("nhi.yaml"), &text).expect_err(name);
        assert_eq!(code(&err), format!("nhi::config::{want}"), "{name}");
        insta::with_settings!({ description => text.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, render(&err));
        });
    }
}

#[test]
fn not_utf8_points_at_the_first_bad_byte() {
    let err = source::decode("nhi.yaml", b"providers:\n  - name: d\xffmo\n").unwrap_err();
    assert_eq!(code(&err), "nhi::config::not_utf8");
    insta::assert_snapshot!("not_utf8", render(&err));
}

#[test]
fn load_reads_checks_and_digests_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nhi.yaml");
    std::fs::write(&path, EXAMPLE).unwrap();
    let config = load(&path).unwrap();
    assert_eq!(
        (config.dir.as_path(), config.digest),
        (dir.path(), Digest::of(EXAMPLE.as_bytes()))
    );

    std::fs::write(&path, b"version: 1\n\xc3\x28\n").unwrap();
    assert_eq!(code(&load(&path).unwrap_err()), "nhi::config::not_utf8");

    let big = std::fs::File::create(&path).unwrap();
    big.set_len(error::MAX_FILE_BYTES + 1).unwrap();
    assert_eq!(code(&load(&path).unwrap_err()), "nhi::config::too_large");

    for unreadable in [dir.path().join("missing.yaml"), dir.path().to_path_buf()] {
        let err = load(&unreadable).unwrap_err();
        assert_eq!(code(&err), "nhi::config::read", "{}", unreadable.display());
    }
}

/// Inputs that have broken YAML readers: each must be an error with a code, and
/// its report must render.
#[test]
fn nasty_inputs_are_errors_not_panics() {
    let deep_block = (0..10_000).fold(String::new(), |mut text, i| {
        writeln!(text, "{}- ", " ".repeat(i)).unwrap();
        text
    });
    let nasty: Vec<(&str, Vec<u8>)> = vec![
        ("nul", b"providers:\0\n".to_vec()),
        ("nul in string", b"version: \"1\0\"\n".to_vec()),
        ("binary", (0..=255u8).cycle().take(4096).collect()),
        ("tabs", b"providers:\n\t-\tname: demo\n".to_vec()),
        (
            "deep flow",
            format!("version: {}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ),
        (
            "deep block",
            format!("providers:\n{deep_block}").into_bytes(),
        ),
        (
            "deep mapping",
            format!("{}x\n", "a: ".repeat(10_000)).into_bytes(),
        ),
        ("alias bomb", billion_laughs().into_bytes()),
        ("top-level list", b"- a\n- b\n".to_vec()),
        ("top-level scalar", b"hello\n".to_vec()),
        ("null", b"~\n".to_vec()),
        ("document marker", b"---\n".to_vec()),
        ("unknown anchor", b"providers: *nope\n".to_vec()),
        ("merge of scalar", b"providers:\n  - <<: 1\n".to_vec()),
        (
            "huge number",
            b"version: 99999999999999999999999999\n".to_vec(),
        ),
        ("tagged", b"version: !!binary aGVsbG8=\n".to_vec()),
        (
            "escape sequences",
            b"providers:\n  - name: \"\\e[31mred\"\n    type: \"\\u202e\"\n".to_vec(),
        ),
        ("bom only", "\u{feff}".as_bytes().to_vec()),
        ("crlf", b"providers:\r\n  - name: x\r\n".to_vec()),
        ("lone surrogate escape", b"version: \"\\ud800\"\n".to_vec()),
        (
            "10 MB",
            format!("providers: \"{}\"\n", "x".repeat(10 * 1024 * 1024)).into_bytes(),
        ),
    ];
    for (name, bytes) in nasty {
        let err = match source::decode("nhi.yaml", &bytes) {
            Ok(text) => parse(Path::new("nhi.yaml"), text).expect_err(name),
            Err(err) => err,
        };
        assert!(code(&err).starts_with("nhi::config::"), "{name}: {err:?}");
        if bytes.len() < 1024 * 1024 {
            assert!(!render(&err).is_empty(), "{name}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let result = source::decode("nhi.yaml", &bytes).and_then(|text| parse(Path::new("nhi.yaml"), text));
        if let Err(err) = result {
            prop_assert!(code(&err).starts_with("nhi::config::"));
            render(&err);
        }
    }

    #[test]
    fn random_yamlish_text_never_panics(text in "[a-z_:\\-\\[\\]{}&*!|>'\"# ,\n\t0-9~.\u{e9}]{0,300}") {
        let text = format!("{PROVIDERS}identities:\n  - {text}");
        if let Err(err) = parse(Path::new("nhi.yaml"), &text) {
            prop_assert!(code(&err).starts_with("nhi::config::"));
            render(&err);
        }
    }
}

/// `cargo test -p nhi --lib parses_100k_identities -- --ignored --nocapture`
#[test]
#[ignore = "timing; run by hand"]
#[allow(clippy::print_stderr)]
fn parses_100k_identities() {
    let mut text = String::from(
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n",
    );
    for i in 0..100_000 {
        write!(
                text,
                "  - name: svc-{i:06}\n    provider: demo\n    owner: team-{t}@example.com\n    keys:\n      - name: primary\n        rotate_after: 90d\n        sink: {{file: secrets/svc-{i:06}.key}}\n    bindings:\n      - role: viewer\n        resource: project/p{t}\n      - role: deployer\n        resource: project/p{t}/env/prod\n",
                t = i % 97
            )
            .unwrap();
    }
    let started = std::time::Instant::now();
    let _: serde::de::IgnoredAny =
        serde_saphyr::from_str_with_options(&text, yaml::options()).unwrap();
    let yaml_only = started.elapsed();
    let started = std::time::Instant::now();
    let config = parse(Path::new("big.yaml"), &text).unwrap();
    eprintln!(
        "{} bytes, {} identities: {:?} (YAML parser alone: {yaml_only:?})",
        text.len(),
        config.identities.len(),
        started.elapsed()
    );
    assert_eq!(config.identities.len(), 100_000);
}

#[test]
fn a_type_error_in_one_identity_does_not_hide_an_unknown_field_in_another() {
    let text = format!(
        "{PROVIDERS}identities:\n  - name: a\n    provider: demo\n    owner: [me]\n  - name: b\n    provider: demo\n    ownr: me\n"
    );
    let err = parse(Path::new("nhi.yaml"), &text).unwrap_err();
    let found: Vec<_> = err
        .problems()
        .iter()
        .map(|p| (p.kind(), p.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            (ProblemKind::WrongType, "expected a string".to_owned()),
            (ProblemKind::UnknownField, "unknown field `ownr`".to_owned()),
        ]
    );
}

#[test]
fn problems_past_the_limit_are_counted() {
    let many = |fields: &str| {
        let mut text = format!("{PROVIDERS}identities:\n");
        for i in 0..105 {
            write!(text, "  - name: i{i}\n    provider: demo\n{fields}").unwrap();
        }
        parse(Path::new("nhi.yaml"), &text).unwrap_err()
    };
    let err = many("    owner: ''\n");
    assert_eq!(err.problems().len(), 101);
    assert_eq!(err.problems()[100].to_string(), "and 5 more");
    let err = many("    owner: [me]\n");
    let problems = err.problems();
    assert_eq!(problems.len(), 101);
    assert!(
        problems[..100]
            .iter()
            .all(|p| p.kind() == ProblemKind::WrongType)
    );
    assert_eq!(
        problems[100].to_string(),
        "and more: reading stops after 100 errors"
    );
}
