//! Setting nhi up: `nhi init` for each provider type, shell completions and
//! manual pages.

use crate::harness::Workspace;

#[test]
fn init_writes_a_starter_that_validates_for_each_provider_type() {
    for provider in ["local", "aws", "gcp"] {
        let ws = Workspace::empty();
        let run = ws.run(&["init", "--provider", provider]);
        assert_eq!(run.code, 0, "{provider}: {}", run.stderr);
        let text = ws.read("nhi.yaml");
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("# yaml-language-server: $schema=")
                && first.ends_with("/schemas/nhi.schema.json"),
            "{provider}: {first}"
        );
        assert!(text.contains(&format!("    type: {provider}\n")), "{text}");
        let valid = ws.run(&["validate"]);
        assert_eq!(valid.code, 0, "{provider}: {}\n{text}", valid.stderr);
    }
}

#[test]
fn init_writes_where_it_is_told_and_never_over_a_file() {
    let ws = Workspace::empty();
    let run = ws.run(&[
        "init",
        "--provider",
        "aws",
        "-o",
        "prod.yaml",
        "--schema",
        "../schemas/nhi.schema.json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        ws.read("prod.yaml")
            .starts_with("# yaml-language-server: $schema=../schemas/nhi.schema.json\n")
    );
    assert_eq!(ws.run(&["--config", "prod.yaml", "validate"]).code, 0);

    ws.write("nhi.yaml", "# mine\n");
    for args in [
        &["init"][..],
        &["init", "-o", "nhi.yaml"],
        &["init", "-o", "prod.yaml"],
    ] {
        let refused = ws.run(args);
        assert_eq!(refused.code, 1, "{args:?}");
        assert!(
            refused.stderr.contains("nhi::init::exists"),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(ws.read("nhi.yaml"), "# mine\n");
    let missing = ws.run(&["init", "-o", "no/such/dir/nhi.yaml"]);
    assert!(
        missing.code == 1 && missing.stderr.contains("nhi::init::write"),
        "{}",
        missing.stderr
    );
}

#[test]
fn completions_name_every_command() {
    let ws = Workspace::empty();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = ws.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for command in [
            "init",
            "validate",
            "plan",
            "approve",
            "apply",
            "completions",
            "man",
        ] {
            assert!(run.stdout.contains(command), "{shell} lacks `{command}`");
        }
    }
    let bash = ws.run(&["completions", "bash"]).stdout;
    assert!(bash.contains("complete -F _nhi"), "{bash}");
    assert_eq!(ws.run(&["completions", "tcsh"]).code, 1);
}

#[test]
fn man_prints_the_main_page_or_writes_one_per_command() {
    let ws = Workspace::empty();
    let page = ws.run(&["man"]);
    assert_eq!(page.code, 0, "{}", page.stderr);
    assert!(
        page.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq\n"),
        "{}",
        page.stdout
    );
    assert!(page.stdout.contains("\n.TH nhi 1 "), "{}", page.stdout);

    let run = ws.run(&["man", "-o", "man/man1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in [
        "nhi.1",
        "nhi-plan.1",
        "nhi-apply.1",
        "nhi-init.1",
        "nhi-audit-verify.1",
    ] {
        let text = ws.read(&format!("man/man1/{name}"));
        assert!(text.contains("\n.TH "), "{name}");
    }
}
