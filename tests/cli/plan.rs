//! `nhi plan` and `nhi show` on the quickstart estate.

use crate::harness::{Workspace, redact};

#[test]
fn quickstart_plan_text() {
    let ws = Workspace::example("quickstart");
    let run = ws.run(&["plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn detailed_exitcode_is_two_with_changes_and_zero_without() {
    let ws = Workspace::example("quickstart");
    assert_eq!(ws.run(&["plan", "--detailed-exitcode"]).code, 2);
    ws.write("nhi.yaml", "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings:\n      state: empty.json\nidentities: []\n");
    let run = ws.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Scope local.demo: estate file `empty.json`; 0 identities observed.\nNo changes. Live state matches the configuration.\n"
    );
}

#[test]
fn same_inputs_and_clock_give_byte_identical_plan_files() {
    let ws = Workspace::example("quickstart");
    assert_eq!(ws.run(&["plan", "-o", "a.plan"]).code, 0);
    assert_eq!(ws.run(&["plan", "-o", "b.plan"]).code, 0);
    assert_eq!(ws.bytes("a.plan"), ws.bytes("b.plan"));
    let other = ws.run_env(
        &["plan", "-o", "c.plan"],
        &[("NHI_NOW", "2026-11-22T12:00:01Z")],
    );
    assert_eq!(other.code, 0);
    assert_ne!(ws.bytes("a.plan"), ws.bytes("c.plan"));
}

#[test]
fn show_renders_a_saved_plan_in_every_format() {
    let ws = Workspace::example("quickstart");
    let planned = ws.run(&["plan", "-o", "q.plan"]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let text = ws.run(&["show", "q.plan"]);
    assert_eq!(text.code, 0);
    assert_eq!(text.stdout, planned.stdout, "show prints what plan printed");
    let markdown = ws.run(&["show", "q.plan", "--format", "markdown"]);
    assert_eq!(markdown.code, 0);
    // The digest covers the configuration's directory, which differs per run.
    let file: serde_json::Value = serde_json::from_str(&ws.read("q.plan")).unwrap();
    let digest = file["body_digest"].as_str().unwrap();
    insta::assert_snapshot!(
        "quickstart_markdown",
        redact(&markdown.stdout, &ws).replace(digest, "sha256:[PLAN DIGEST]")
    );
    let json = ws.run(&["show", "q.plan", "--format", "json"]);
    assert_eq!(json.code, 0);
    insta::assert_snapshot!(
        "quickstart_json",
        redact(&json.stdout, &ws).replace(digest, "sha256:[PLAN DIGEST]")
    );
    let from_plan = ws.run(&["plan", "--json"]);
    assert_eq!(
        from_plan.stdout, json.stdout,
        "`plan --json` and `show --format json` agree"
    );
}

#[test]
fn plan_files_hold_no_secret_and_no_key_material() {
    let ws = Workspace::example("quickstart");
    assert_eq!(ws.run(&["plan", "-o", "q.plan"]).code, 0);
    let plan = ws.read("q.plan");
    assert!(!plan.contains("nhi-local-secret-"));
    assert!(!plan.contains("PRIVATE KEY"));
}

#[test]
fn show_refuses_a_file_that_is_not_a_plan() {
    let ws = Workspace::empty();
    ws.write("x.plan", "{\"hello\": 1}");
    let run = ws.run(&["show", "x.plan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("nhi::plan::not_a_plan"),
        "{}",
        run.stderr
    );
    ws.write("y.plan", "{\"nhi_plan\": 7, \"body\": \"\"}");
    let run = ws.run(&["show", "y.plan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("nhi::plan::unsupported_format"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("unsupported plan format version `7`"),
        "{}",
        run.stderr
    );
}

#[test]
fn markdown_of_a_huge_plan_fits_a_comment() {
    let ws = Workspace::empty();
    let mut yaml = String::from(
        "version: 1\nproviders:\n  - name: big\n    type: local\n    settings:\n      state: estate.json\nidentities:\n",
    );
    for i in 0..3000 {
        yaml.push_str(&format!("  - name: svc-{i:05}\n    provider: big\n    owner: team@example.com\n    bindings:\n      - role: viewer\n"));
    }
    ws.write("nhi.yaml", &yaml);
    assert_eq!(ws.run(&["plan", "-o", "big.plan"]).code, 0);
    let run = ws.run(&["show", "big.plan", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.chars().count() <= 65_535,
        "{} chars",
        run.stdout.chars().count()
    );
    assert!(
        run.stdout.contains("> Part 1 of ")
            && run.stdout.contains("--format markdown --part 2`")
            && run
                .stdout
                .contains("To see all at once, run `nhi show big.plan`"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("### nhi plan: 6000 to create"));
    // Every part fits a comment, and the parts hold every change once.
    let mut rows = run.stdout.lines().filter(|l| l.starts_with("| `")).count();
    let mut part = 2;
    loop {
        let next = ws.run(&[
            "show",
            "big.plan",
            "--format",
            "markdown",
            "--part",
            &part.to_string(),
        ]);
        if next.code != 0 {
            assert!(
                next.stderr.contains("nhi::show::no_such_part"),
                "{}",
                next.stderr
            );
            break;
        }
        assert!(next.stdout.chars().count() <= 65_535);
        assert!(
            next.stdout
                .starts_with(&format!("### nhi plan, part {part} of "))
        );
        rows += next.stdout.lines().filter(|l| l.starts_with("| `")).count();
        part += 1;
    }
    assert!(
        part > 2,
        "a plan of 6,000 changes needs more than one comment"
    );
    assert_eq!(rows, 6000);
}

/// Regression: declared objects past their `expires` that do not exist were left
/// out of the plan without a word ("No changes"). The plan says so on stderr; the
/// plan itself is unchanged.
#[test]
fn plan_notes_expired_objects_it_leaves_absent() {
    let ws = Workspace::example("quickstart");
    let before = ws.run(&["plan", "-o", "before.plan"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(!before.stderr.contains("expires"), "{}", before.stderr);
    let config = ws.read("nhi.yaml");
    // An identity that never existed, and a key the live `backup-runner` lacks.
    let config = config.replacen(
        "    tags:\n      team: storage\n",
        "    tags:\n      team: storage\n    keys:\n      - {name: legacy, sink: stdout, expires: 2026-03-01}\n",
        1,
    ) + "  - name: old-importer\n    provider: demo\n    owner: data@example.com\n    expires: 2025-12-31\n";
    ws.write("nhi.yaml", &config);
    let after = ws.run(&["plan", "-o", "after.plan"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(after.stdout, before.stdout, "the plan text does not change");
    let note: Vec<&str> = after
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("note:"))
        .take(3)
        .collect();
    assert_eq!(
        note,
        [
            "note: 2 declared objects are past their `expires` day and absent; the plan does not create them:",
            "  local.demo/identity/backup-runner/key/legacy (key, expired on 2026-03-01)",
            "  local.demo/identity/old-importer (identity, expired on 2025-12-31)",
        ]
    );
    // The deleted, expired `batch-reporter` is a change, not a note.
    assert!(!after.stderr.contains("batch-reporter"), "{}", after.stderr);
}

#[test]
fn show_of_a_receipt_says_it_is_one_and_how_to_check_it() {
    let ws = Workspace::empty();
    ws.write(
        "q.plan.receipt.json",
        "{\"nhi_receipt\": 1, \"body\": \"\", \"body_digest\": \"\", \"signatures\": []}",
    );
    let run = ws.run(&["show", "q.plan.receipt.json"]);
    assert_eq!(run.code, 1);
    for want in [
        "nhi::plan::is_a_receipt",
        "`q.plan.receipt.json` is an apply receipt, not a plan",
        "nhi verify q.plan.receipt.json --plan PLAN",
    ] {
        assert!(run.stderr.contains(want), "{want}: {}", run.stderr);
    }
}

#[test]
fn valid_for_errors_list_the_units() {
    let ws = Workspace::example("quickstart");
    let run = ws.run(&["plan", "--valid-for", "1y"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "`1y` is not a duration: write a whole number and a unit, one of s, m, h, d or w"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn help_help_works() {
    let ws = Workspace::empty();
    let run = ws.run(&["help", "--help"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Usage: nhi help"), "{}", run.stdout);
    let run = ws.run(&["help", "plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Usage: nhi plan"), "{}", run.stdout);
    let run = ws.run(&["help", "plna"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("unknown command `plna`"),
        "{}",
        run.stderr
    );
}

#[test]
fn color_always_colours_and_never_does_not() {
    let ws = Workspace::example("quickstart");
    let always = ws.run(&["--color", "always", "plan"]);
    assert_eq!(always.code, 0, "{}", always.stderr);
    assert!(always.stdout.contains('\u{1b}'), "{}", always.stdout);
    for flags in [&["--color", "never"][..], &["--no-color"][..], &[][..]] {
        let mut args = flags.to_vec();
        args.push("plan");
        let run = ws.run_env(&args, &[("TERM", "dumb")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.contains('\u{1b}'), "{flags:?}: {}", run.stdout);
    }
}

/// Regression: names read from live state reached reviewers raw in `plan`,
/// `show` and `approve`'s summary (`ESC[8m` concealed the rest of a line), and a
/// resource holding markdown broke the merge-request comment.
#[test]
fn hostile_live_names_reach_reviewers_escaped() {
    let ws = Workspace::example("quickstart");
    ws.write(
        "estate.json",
        &ws.read("estate.json").replace(
            "{\"role\":\"snapshot-writer\",\"resource\":\"bucket/backups\"}",
            "{\"role\":\"snapshot-writer\",\"resource\":\"bucket/backups\"},{\"role\":\"admin\\u001b[8m hidden\",\"resource\":\"\\n\\n**Plan reviewed: low risk only.**\\n\\n<!--\"}",
        ),
    );
    let saved = ws.run(&["plan", "-o", "q.plan"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let plan = ws.run(&["plan"]);
    let text = ws.run(&["show", "q.plan"]);
    let markdown = ws.run(&["show", "q.plan", "--format", "markdown"]);
    // A real key: approve reads it before it shows the plan (to warn about it).
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "r@example.com", "-f"])
        .arg(ws.path().join("reviewer.key"))
        .status()
        .unwrap();
    assert!(made.success());
    let approve = ws.run(&["approve", "q.plan", "--key", "reviewer.key"]);
    for (what, out) in [
        ("plan", &plan.stdout),
        ("show", &text.stdout),
        ("markdown", &markdown.stdout),
        ("approve", &approve.stdout),
    ] {
        assert!(!out.contains('\u{1b}'), "{what}: {out:?}");
        assert!(
            !out.contains("\n**Plan reviewed"),
            "{what}: a name broke out of its line:\n{out}"
        );
    }
    assert!(
        text.stdout
            .contains("  - binding \"admin\\u001b[8m hidden\" {"),
        "{}",
        text.stdout
    );
    assert!(
        markdown.stdout.contains(
            "| `local.demo/identity/backup-runner/binding/admin%1B[8m hidden@%0A%0A**Plan reviewed: low risk only.**%0A%0A<!--` | deleted | differs |"
        ),
        "{}",
        markdown.stdout
    );
    assert!(
        approve.stdout.contains("admin\\u001b[8m hidden"),
        "{}",
        approve.stdout
    );
}
