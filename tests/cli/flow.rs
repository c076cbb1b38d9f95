//! Scenario steps shared by the tests against emulators: plan and apply with a
//! trust policy that needs no approvals, and check that a plan converged.

use crate::harness::{Run, Workspace};

/// Something `nhi` runs against: an emulator with its environment.
pub trait Cloud {
    fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run;
}

impl Cloud for crate::moto::Moto {
    fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run {
        crate::moto::Moto::nhi(self, ws, args)
    }
}

/// The stand-in needs no environment: the configuration names its endpoint.
impl Cloud for crate::standin::Standin {
    fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run {
        ws.run_env(args, &[("NHI_NOW", &crate::team::now())])
    }
}

const TRUST: &str = "allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n";

pub fn ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// Plans to a file and applies it; returns the plan's text.
pub fn plan_and_apply(moto: &impl Cloud, ws: &Workspace, name: &str) -> String {
    let planned = moto.nhi(ws, &["plan", "-o", name]);
    ok(&planned);
    ok(&moto.nhi(ws, &["apply", name, "--trust", "trust.yaml"]));
    planned.stdout
}

pub fn no_changes(moto: &impl Cloud, ws: &Workspace) {
    let again = moto.nhi(ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.code, 0,
        "expected no changes:\n{}\n{}",
        again.stdout, again.stderr
    );
}

pub fn changes(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter_map(|l| l.trim_start().strip_prefix("# "))
        .filter(|l| l.contains(" will be "))
        .collect()
}

pub fn workspace() -> Workspace {
    let ws = Workspace::empty();
    ws.write("allowed_signers", "");
    ws.write("trust.yaml", TRUST);
    ws
}

/// Runs `examples/<name>/walkthrough.sh` with this build of `nhi` and the real
/// clock; asserts it succeeded and returns its standard output.
pub fn walkthrough(name: &str) -> String {
    let script = crate::harness::repo().join(format!("examples/{name}/walkthrough.sh"));
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_nhi"))
        .env_remove("NHI_NOW")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.into_owned()
}
