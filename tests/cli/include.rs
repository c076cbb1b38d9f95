//! A configuration in several files (`include:`): the same plan as one file,
//! and apply refusing a plan once any included file changed.

use crate::harness::Workspace;
use crate::team::{apply, approved_plan, ok, refuses, team};

/// Moves the quickstart's last three identities into two included files, in
/// the order the sorted files are read, so the identities keep their order.
fn split(ws: &Workspace) {
    let config = ws.read("nhi.yaml");
    let (head, web) = config
        .split_once("  # New: created with a key and two bindings.\n")
        .expect("the quickstart declares web-api");
    let (web, batch) = web
        .split_once("  # Expired: still live")
        .expect("the quickstart declares batch-reporter");
    let head = head.replacen("\nproviders:", "\ninclude: [nhi.d/*.yaml]\n\nproviders:", 1);
    assert!(head.contains("include:"));
    ws.write("nhi.yaml", &head);
    ws.write("nhi.d/10-web.yaml", &format!("identities:\n{web}"));
    ws.write(
        "nhi.d/20-batch.yaml",
        &format!("identities:\n  # Expired: still live{batch}"),
    );
}

/// The plan JSON without the digests of the configuration and of the body
/// that records it.
fn plan_json(ws: &Workspace) -> serde_json::Value {
    let run = ws.run(&["plan", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let object = json.as_object_mut().unwrap();
    for digest in ["config_digest", "plan_digest"] {
        assert!(object.remove(digest).is_some(), "{digest}");
    }
    json
}

#[test]
fn a_plan_over_two_files_is_the_plan_over_one() {
    let one = Workspace::example("quickstart");
    let several = Workspace::example("quickstart");
    split(&several);
    assert!(plan_json(&several) == plan_json(&one), "the plans differ");
    let shown = several.run(&["validate"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
}

#[test]
fn apply_refuses_a_plan_once_an_included_file_changed() {
    let ws = team();
    split(&ws);
    approved_plan(&ws, "q.plan");
    let web = ws.read("nhi.d/10-web.yaml");
    ws.write(
        "nhi.d/10-web.yaml",
        &web.replace("Serves the public API", "Serves the API"),
    );
    refuses(&ws, "q.plan", "nhi::apply::config_changed");
    // The same bytes under another name, or one more file, are changes too.
    std::fs::remove_file(ws.path().join("nhi.d/10-web.yaml")).unwrap();
    ws.write("nhi.d/11-web.yaml", &web);
    refuses(&ws, "q.plan", "nhi::apply::config_changed");
    std::fs::remove_file(ws.path().join("nhi.d/11-web.yaml")).unwrap();
    ws.write("nhi.d/10-web.yaml", &web);
    ws.write("nhi.d/30-new.yaml", "# nothing yet\n");
    refuses(&ws, "q.plan", "nhi::apply::config_changed");
    std::fs::remove_file(ws.path().join("nhi.d/30-new.yaml")).unwrap();
    ok(&apply(&ws, "q.plan"));
}

#[test]
fn validate_names_the_included_file_and_line() {
    let ws = Workspace::example("quickstart");
    split(&ws);
    let web = ws.read("nhi.d/10-web.yaml");
    ws.write(
        "nhi.d/10-web.yaml",
        &web.replacen("    owner:", "    ownr:", 1),
    );
    let run = ws.run(&["validate", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let problem = &json["problems"][0];
    let line = web
        .lines()
        .position(|l| l == "    owner: web-team@example.com")
        .unwrap()
        + 1;
    assert_eq!(
        (
            problem["code"].as_str(),
            problem["file"].as_str(),
            problem["line"].as_u64()
        ),
        (
            Some("nhi::config::unknown_field"),
            Some("nhi.d/10-web.yaml"),
            Some(line as u64)
        ),
    );
    let text = ws.run(&["validate"]);
    assert!(
        text.stderr.contains(&format!("nhi.d/10-web.yaml:{line}:5")),
        "{}",
        text.stderr
    );
}
