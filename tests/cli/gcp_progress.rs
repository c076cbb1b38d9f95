//! What nhi shows while the GCP provider waits, against the stand-in: a new
//! account Google does not show yet, and a quota window, each reported on
//! standard error as it is waited out, never on standard output.

use crate::flow::{Cloud as _, ok, workspace};
use crate::gcp::config;
use crate::standin;

#[test]
fn gcp_wait_for_a_new_account_to_propagate_is_shown_while_it_lasts() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    ok(&standin.nhi(&ws, &["plan", "-o", "create.plan"]));
    // Google answers "does not exist" for 2 s after each create.
    standin.ok("POST", "/_standin/propagation", r#"{"seconds": 2}"#);
    let applied = standin.nhi(&ws, &["apply", "create.plan", "--trust", "trust.yaml"]);
    ok(&applied);
    let waits: Vec<&str> = applied
        .stderr
        .lines()
        .filter(|l| l.contains("to propagate ("))
        .collect();
    assert!(!waits.is_empty(), "{}", applied.stderr);
    assert!(
        waits.iter().any(|l| l.contains(
            "gcp.prod/identity/app-runtime/binding/roles/logging.logWriter: waiting for the new \
             service account `app-runtime` to propagate ("
        )),
        "{}",
        applied.stderr
    );
    assert!(
        waits.iter().all(|l| l.ends_with(" s of at most 90 s)")),
        "{waits:?}"
    );
    assert!(
        waits
            .iter()
            .any(|l| l.contains("(1 s of") || l.contains("(2 s of")),
        "the seconds waited count up: {waits:?}"
    );
    assert!(!applied.stdout.contains("propagate"), "{}", applied.stdout);
}

#[test]
fn gcp_wait_for_a_quota_window_is_shown_while_it_lasts() {
    let standin = standin::start();
    let ws = workspace();
    ws.write("nhi.yaml", &config(&standin, "", ""));
    standin.ok(
        "POST",
        "/_standin/faults",
        r#"{"method": "serviceAccounts.list", "fault": "429", "count": 2, "retryDelay": 0.3}"#,
    );
    let planned = standin.nhi(&ws, &["plan", "--json"]);
    ok(&planned);
    let waits: Vec<&str> = planned
        .stderr
        .lines()
        .filter(|l| l.starts_with("gcp.prod: Google's quota is used up; trying again in 0.3 s ("))
        .collect();
    assert_eq!(waits.len(), 2, "{}", planned.stderr);
    assert!(waits[0].ends_with(" s of at most 75 s)"), "{waits:?}");
    // Standard output is the plan's JSON, and nothing else.
    serde_json::from_str::<serde_json::Value>(&planned.stdout).unwrap();
}
