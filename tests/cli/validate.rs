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
