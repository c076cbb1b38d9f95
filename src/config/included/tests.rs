use std::path::{Path, PathBuf};

use miette::Diagnostic;

use super::*;
use crate::config::{Config, ConfigError, load};

const MAIN: &str = "version: 1
providers:
  - name: demo
    type: local
    settings: {state: estate.json}
include: [nhi.d/*.yaml]
identities:
  - name: ci
    provider: demo
    owner: platform@example.com
";

const WEB: &str = "# yaml-language-server: $schema=../schemas/nhi.schema.json
identities:
  - name: web-api
    provider: demo
    owner: web@example.com
    keys:
      - name: primary
        sink: {file: secrets/web-api.key}
";

const DATA: &str = "identities:
  - name: loader
    provider: demo
    owner: data@example.com
    bindings:
      - role: reader
        resource: db/ledger
";

/// A configuration directory with these files; returns it and the main file.
fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let main = dir.path().join("nhi.yaml");
    (dir, main)
}

fn code(err: &dyn Diagnostic) -> String {
    err.code().map(|c| c.to_string()).unwrap_or_default()
}

fn render(err: &dyn Diagnostic, dir: &Path) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, err)
        .unwrap();
    out.replace(&dir.display().to_string(), "[dir]")
}

/// Every problem's message, one a line.
fn messages(err: &ConfigError, dir: &Path) -> String {
    let all: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    all.join("\n").replace(&dir.display().to_string(), "[dir]")
}

fn names(config: &Config) -> Vec<&str> {
    config
        .identities
        .iter()
        .map(|d| d.identity.name.as_str())
        .collect()
}

#[test]
fn included_identities_follow_the_main_files_in_sorted_order() {
    let (_dir, main) = tree(&[
        ("nhi.yaml", MAIN),
        ("nhi.d/web.yaml", WEB),
        ("nhi.d/data.yaml", DATA),
        ("nhi.d/empty.yaml", "# nothing yet\n"),
        ("nhi.d/notes.txt", "not yaml: ["),
        ("nhi.d/.hidden.yaml", "not yaml: ["),
    ]);
    let config = load(&main).unwrap();
    assert_eq!(names(&config), ["ci", "loader", "web-api"]);
    assert_eq!(config.path, main);
}

/// The plan engine reads only the model: two files give the model one file
/// with the same entries in the same order gives, so the same plan.
#[test]
fn two_files_give_the_configuration_of_one_merged_file() {
    let (_dir, main) = tree(&[("nhi.yaml", MAIN), ("nhi.d/web.yaml", WEB)]);
    let split = load(&main).unwrap();
    let web = WEB.split_once("identities:\n").unwrap().1;
    let merged_text = format!("{}{web}", MAIN.replace("include: [nhi.d/*.yaml]\n", ""));
    let (_other, merged) = tree(&[("nhi.yaml", &merged_text)]);
    let merged = load(&merged).unwrap();
    assert_eq!(split.providers, merged.providers);
    assert_eq!(split.identities, merged.identities);
    assert_eq!(
        format!("{:?}", split.policy),
        format!("{:?}", merged.policy)
    );
    assert_ne!(split.digest, merged.digest);
}

#[test]
fn a_problem_in_an_included_file_shows_that_file_and_line() {
    let (dir, main) = tree(&[
        ("nhi.yaml", MAIN),
        ("nhi.d/web.yaml", &WEB.replace("    owner:", "    ownr:")),
    ]);
    let err = load(&main).unwrap_err();
    assert_eq!(code(&err), "nhi::config::unknown_field");
    insta::assert_snapshot!("included_unknown_field", render(&err, dir.path()));

    // Problems in several files: each shows its own file, in file order.
    let (dir, main) = tree(&[
        ("nhi.yaml", &MAIN.replace("platform@example.com", "''")),
        (
            "nhi.d/web.yaml",
            &WEB.replace("provider: demo", "provider: dmeo"),
        ),
        ("nhi.d/data.yaml", &DATA.replace("db/ledger", "\"\"")),
    ]);
    let err = load(&main).unwrap_err();
    assert_eq!(code(&err), "nhi::config::invalid");
    insta::assert_snapshot!("included_invalid_many", render(&err, dir.path()));
}

#[test]
fn an_identity_declared_in_two_files_names_both() {
    let again = DATA.replace("loader", "web-api");
    let (dir, main) = tree(&[
        ("nhi.yaml", MAIN),
        ("nhi.d/web.yaml", WEB),
        ("nhi.d/data.yaml", &again),
    ]);
    let err = load(&main).unwrap_err();
    assert_eq!(code(&err), "nhi::config::duplicate_name");
    let shown = render(&err, dir.path());
    assert!(
        messages(&err, dir.path())
            .contains("in `[dir]/nhi.d/data.yaml` line 2 and in `[dir]/nhi.d/web.yaml` line 3"),
        "{shown}"
    );
    insta::assert_snapshot!("included_duplicate_identity", shown);

    // The main file's identity, and a key's file sink, declared again.
    let (dir, main) = tree(&[
        ("nhi.yaml", &MAIN.replace("name: ci", "name: web-api")),
        ("nhi.d/web.yaml", WEB),
        (
            "nhi.d/data.yaml",
            &format!(
                "{DATA}    keys:\n      - name: k\n        sink: {{file: secrets/web-api.key}}\n"
            ),
        ),
    ]);
    let err = load(&main).unwrap_err();
    let shown = render(&err, dir.path());
    let problems: Vec<_> = err.problems().iter().map(|p| p.kind().code()).collect();
    assert_eq!(
        problems,
        ["nhi::config::duplicate_name", "nhi::config::duplicate_sink"],
        "{shown}"
    );
    let shown = messages(&err, dir.path());
    assert!(
        shown.contains("in `[dir]/nhi.yaml` line 8 and in `[dir]/nhi.d/web.yaml` line 3"),
        "{shown}"
    );
    assert!(
        shown.contains("in `[dir]/nhi.d/data.yaml` line 10 and in `[dir]/nhi.d/web.yaml` line 8"),
        "{shown}"
    );
}

#[test]
fn entries_that_leave_the_directory_or_name_nothing_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.yaml"), WEB).unwrap();
    let with = |entry: &str| MAIN.replace("[nhi.d/*.yaml]", entry);
    let cases: &[(&str, &str)] = &[
        ("['../evil.yaml']", "include_path"),
        ("[/etc/passwd]", "include_path"),
        ("['nhi.d/../nhi.yaml']", "include_path"),
        ("['*/web.yaml']", "include_path"),
        ("[nhi.yaml]", "include_path"),
        ("[nhi.d/missing.yaml]", "include_missing"),
        ("['nothing/*.yaml']", "include_missing"),
        ("['nhi.d/*.yml']", "include_missing"),
        ("[link.yaml]", "include_unreadable"),
        ("['linked/*.yaml']", "include_unreadable"),
        ("['links/*.yaml']", "include_unreadable"),
        ("[nhi.d]", "include_unreadable"),
        ("[nested.yaml]", "include_content"),
        ("[providers.yaml]", "include_content"),
        ("[policy.yaml]", "include_content"),
        ("[binary.yaml]", "not_utf8"),
    ];
    for (entry, want) in cases {
        let (dir, main) = tree(&[
            ("nhi.yaml", &with(entry)),
            ("nhi.d/web.yaml", WEB),
            ("nested.yaml", "include: [nhi.d/web.yaml]\n"),
            (
                "providers.yaml",
                "providers:\n  - name: other\n    type: local\n    settings: {state: other.json}\n",
            ),
            ("policy.yaml", "policy:\n  exceptions: []\nidentities: []\n"),
        ]);
        std::fs::write(dir.path().join("binary.yaml"), b"identities: \xff\n").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("evil.yaml"),
            dir.path().join("link.yaml"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).unwrap();
        std::fs::create_dir(dir.path().join("links")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("evil.yaml"),
            dir.path().join("links/a.yaml"),
        )
        .unwrap();
        let err = load(&main).expect_err(entry);
        assert_eq!(
            code(&err),
            format!("nhi::config::{want}"),
            "{entry}: {}",
            render(&err, dir.path())
        );
        assert!(!render(&err, dir.path()).is_empty());
    }
}

#[test]
fn a_glob_beside_the_configuration_skips_it() {
    let (_dir, main) = tree(&[
        ("nhi.yaml", &MAIN.replace("[nhi.d/*.yaml]", "['*.yaml']")),
        ("web.yaml", WEB),
    ]);
    assert_eq!(names(&load(&main).unwrap()), ["ci", "web-api"]);
}

#[test]
fn included_files_are_bounded_in_count_and_size() {
    let (dir, main) = tree(&[("nhi.yaml", MAIN)]);
    for i in 0..=crate::config::include::MAX_FILES {
        std::fs::write(dir.path().join(format!("nhi.d/{i:04}.yaml")), "# empty\n").unwrap_or_else(
            |_| {
                std::fs::create_dir_all(dir.path().join("nhi.d")).unwrap();
                std::fs::write(dir.path().join(format!("nhi.d/{i:04}.yaml")), "# empty\n").unwrap();
            },
        );
    }
    assert_eq!(
        code(&load(&main).unwrap_err()),
        "nhi::config::include_unreadable"
    );

    let (dir, main) = tree(&[("nhi.yaml", MAIN), ("nhi.d/web.yaml", WEB)]);
    let big = std::fs::File::create(dir.path().join("nhi.d/big.yaml")).unwrap();
    big.set_len(crate::config::include::MAX_TOTAL_BYTES + 1)
        .unwrap();
    let err = load(&main).unwrap_err();
    assert_eq!(code(&err), "nhi::config::include_unreadable");
    assert!(err.to_string().contains("too large"), "{err}");
}

/// Apply compares [`digest_of`] with the plan's digest: it must be the digest
/// `load` gives, and change with any included file's bytes, name or presence.
#[test]
fn the_digest_covers_every_included_file() {
    let (dir, main) = tree(&[
        ("nhi.yaml", MAIN),
        ("nhi.d/web.yaml", WEB),
        ("nhi.d/data.yaml", DATA),
    ]);
    let planned = load(&main).unwrap().digest;
    assert_eq!(digest_of(&main).unwrap(), planned);
    let web = dir.path().join("nhi.d/web.yaml");
    let changes: &[(&str, &dyn Fn())] = &[
        ("an included file edited", &|| {
            std::fs::write(&web, WEB.replace("web@", "webs@")).unwrap();
        }),
        ("an included file renamed", &|| {
            std::fs::rename(&web, dir.path().join("nhi.d/web2.yaml")).unwrap();
        }),
        ("a file added", &|| {
            std::fs::write(dir.path().join("nhi.d/extra.yaml"), "# new\n").unwrap();
        }),
        ("an included file removed", &|| {
            std::fs::remove_file(&web).unwrap();
        }),
    ];
    for (what, change) in changes {
        change();
        let now = digest_of(&main).unwrap();
        assert_ne!(now, planned, "{what}");
        assert_eq!(now, load(&main).unwrap().digest, "{what}");
        // Back to the planned files.
        let _ = std::fs::remove_file(dir.path().join("nhi.d/web2.yaml"));
        let _ = std::fs::remove_file(dir.path().join("nhi.d/extra.yaml"));
        std::fs::write(&web, WEB).unwrap();
        assert_eq!(digest_of(&main).unwrap(), planned, "{what}");
    }
    // Without includes, the digest of the file's bytes, as before.
    let (_single, single) = tree(&[("nhi.yaml", "version: 1\n# include: nothing\n")]);
    assert_eq!(
        digest_of(&single).unwrap(),
        Digest::of(b"version: 1\n# include: nothing\n")
    );
    assert_eq!(
        load(&single).unwrap().digest,
        Digest::of(b"version: 1\n# include: nothing\n")
    );
    // An included file that is now refused is an error, not a digest.
    std::fs::write(&web, b"\xff").unwrap();
    std::fs::remove_file(&web).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &web).unwrap();
    assert!(matches!(digest_of(&main), Err(ConfigError::Problem(_))));
}

#[test]
fn the_digest_covers_names_order_and_bytes() {
    let d = |s: &str| Digest::of(s.as_bytes());
    let base = digest(
        "nhi.yaml",
        d("m"),
        &[("a.yaml".into(), d("a")), ("b.yaml".into(), d("b"))],
    );
    let variants = [
        digest(
            "nhi.yaml",
            d("m"),
            &[("b.yaml".into(), d("b")), ("a.yaml".into(), d("a"))],
        ),
        digest(
            "nhi.yaml",
            d("m"),
            &[("a.yaml".into(), d("b")), ("b.yaml".into(), d("a"))],
        ),
        digest("nhi.yaml", d("m"), &[("a.yaml".into(), d("a"))]),
        digest(
            "nhi.yaml",
            d("m2"),
            &[("a.yaml".into(), d("a")), ("b.yaml".into(), d("b"))],
        ),
        digest(
            "other.yaml",
            d("m"),
            &[("a.yaml".into(), d("a")), ("b.yaml".into(), d("b"))],
        ),
        digest(
            "nhi.yaml",
            d("m"),
            &[("c.yaml".into(), d("a")), ("b.yaml".into(), d("b"))],
        ),
    ];
    for (i, other) in variants.iter().enumerate() {
        assert_ne!(base, *other, "variant {i}");
    }
    assert_ne!(base, d("m"));
}

#[test]
fn anchors_point_into_the_file_that_declares_each_object() {
    let (_dir, main) = tree(&[("nhi.yaml", MAIN), ("nhi.d/web.yaml", WEB)]);
    let anchors = crate::config::Anchors::load(&main);
    let demo = nhi_provider_sdk::Address::provider("local", "demo");
    let cases = [
        (demo.clone(), (None, 3)),
        (demo.identity("ci"), (None, 8)),
        (demo.identity("web-api"), (Some("nhi.d/web.yaml"), 3)),
        (
            demo.identity("web-api").key("primary"),
            (Some("nhi.d/web.yaml"), 7),
        ),
        // Live only: the nearest declared object, in its file.
        (
            demo.identity("web-api").binding("admin", "*"),
            (Some("nhi.d/web.yaml"), 3),
        ),
        (demo.identity("shadow"), (None, 3)),
    ];
    for (address, want) in cases {
        assert_eq!(anchors.location(&address), Some(want), "{address}");
    }
}
