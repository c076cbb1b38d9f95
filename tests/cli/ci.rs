//! The example pipelines under examples/ci/ run, so they cannot rot: each file
//! is parsed, the shell steps of its jobs are taken in order and run with bash
//! against the local provider, with stand-ins for what only the CI has (a fake
//! `gh`/`glab` answering from files, `GITHUB_OUTPUT`, predefined variables).
//! Steps named "(CI only)" are skipped; a `uses:` step is stood in for by the test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Workspace, repo};

const TRUST: &str = "allowed_signers: allowed_signers\napprovals:\n  required: 1\nrules:\n  - when: destructive\n    required: 2\n";

/// A repository holding the quickstart (pruning), its trust policy under
/// ci/nhi-trust/ and a "cloud" estate outside the checkout; keys for the CI's
/// author and two reviewers elsewhere; and the fake forge's state.
struct Forge {
    checkout: Workspace,
    outside: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Forge {
    fn new() -> Self {
        let checkout = Workspace::example("quickstart");
        let outside = tempfile::tempdir().unwrap();
        let out = outside.path().to_path_buf();
        let out = out.as_path();
        for dir in ["keys", "cloud", "runner", "state/artifacts", "bin", "home"] {
            std::fs::create_dir_all(out.join(dir)).unwrap();
        }
        std::fs::rename(
            checkout.path().join("estate.json"),
            out.join("cloud/estate.json"),
        )
        .unwrap();
        let config = checkout
            .read("nhi.yaml")
            .replace("prune: false", "prune: true")
            .replace(
                "state: estate.json",
                &format!("state: {}", out.join("cloud/estate.json").display()),
            );
        checkout.write("nhi.yaml", &config);
        let mut signers = String::new();
        for who in ["nhi-ci", "bob", "carol"] {
            let key = out.join("keys").join(who);
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-C")
                .arg(format!("{who}@example.com"))
                .arg("-f")
                .arg(&key)
                .status()
                .unwrap();
            assert!(made.success());
            let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
            let fields: Vec<&str> = public.split_whitespace().take(2).collect();
            signers.push_str(&format!("{who}@example.com {}\n", fields.join(" ")));
        }
        checkout.write("ci/nhi-trust/trust.yaml", TRUST);
        checkout.write("ci/nhi-trust/allowed_signers", &signers);
        let fake = out.join("bin/gh");
        std::fs::copy(repo().join("tests/data/ci/fake-forge.sh"), &fake).unwrap();
        std::os::unix::fs::symlink(&fake, out.join("bin/glab")).unwrap();
        let nhi = PathBuf::from(env!("CARGO_BIN_EXE_nhi"));
        let path = format!(
            "{}:{}:{}",
            out.join("bin").display(),
            nhi.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut forge = Self {
            checkout,
            outside,
            env: BTreeMap::new(),
        };
        forge.git(&["init", "-q", "-b", "main"]);
        forge.git(&["add", "-A"]);
        forge.git(&["commit", "-q", "-m", "identities"]);
        let before = forge.git(&["rev-parse", "HEAD"]);
        forge.git(&["commit", "-q", "--allow-empty", "-m", "merge !7"]);
        let merge = forge.git(&["rev-parse", "HEAD"]);
        let dir = forge.checkout.path().display().to_string();
        forge.git(&["remote", "add", "origin", &dir]);
        let key = std::fs::read_to_string(forge.outside.path().join("keys/nhi-ci")).unwrap();
        for (k, v) in [
            ("PATH", path),
            ("HOME", out.join("home").display().to_string()),
            ("FAKE_CI", out.join("state").display().to_string()),
            ("FAKE_HEAD_SHA", before.clone()),
            ("RUNNER_TEMP", out.join("runner").display().to_string()),
            ("GITHUB_REPOSITORY", "acme/identities".into()),
            ("GITHUB_SHA", merge.clone()),
            ("GITHUB_RUN_ID", "4242".into()),
            ("CI_PROJECT_ID", "42".into()),
            ("CI_MERGE_REQUEST_IID", "7".into()),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".into()),
            ("CI_JOB_ID", "99".into()),
            ("CI_SERVER_HOST", "gitlab.example.invalid".into()),
            ("CI_COMMIT_SHA", merge),
            ("CI_COMMIT_BEFORE_SHA", before.clone()),
            ("NHI_GITLAB_TOKEN", "fake-token".into()),
            // What `${{ … }}` stands for in the GitHub files.
            ("${{ github.token }}", "fake-token".into()),
            ("${{ github.event.pull_request.number }}", "7".into()),
            (
                "${{ github.event.issue.number || github.event.pull_request.number }}",
                "7".into(),
            ),
            ("${{ github.run_id }}", "4242".into()),
            ("${{ github.event.before }}", before),
            ("${{ secrets.NHI_PLAN_KEY }}", key.clone()),
            ("NHI_PLAN_KEY", key),
        ] {
            forge.env.insert(k.to_owned(), v);
        }
        forge
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
            .args(args)
            .current_dir(self.checkout.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn state(&self, name: &str) -> PathBuf {
        self.outside.path().join("state").join(name)
    }

    fn state_json(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.state(name)).unwrap()).unwrap()
    }

    fn set_state_json(&self, name: &str, value: &serde_json::Value) {
        std::fs::write(self.state(name), value.to_string()).unwrap();
    }

    /// A fresh checkout for the next job: nothing a previous job wrote is left.
    fn fresh_checkout(&self) {
        self.git(&["clean", "-q", "-fdx"]);
    }

    /// Keeps `file` of the checkout as the artifact `name` (`upload-artifact`).
    fn upload(&self, name: &str, file: &str) {
        let dir = self.state(&format!("artifacts/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(self.checkout.path().join(file), dir.join(file)).unwrap();
    }

    /// A reviewer downloads the plan artifact and approves it detached: the
    /// one line they paste into a comment.
    fn approve(&self, who: &str) -> String {
        let plan = self.state("artifacts/nhi-plan/plan.nhi");
        let key = self.outside.path().join("keys").join(who);
        let out = Command::new(env!("CARGO_BIN_EXE_nhi"))
            .arg("approve")
            .arg(&plan)
            .arg("--key")
            .arg(&key)
            .args(["--yes", "--detached"])
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn cloud(&self) -> PathBuf {
        self.outside.path().join("cloud/estate.json")
    }

    /// Runs one shell step as the CI would, with `env` added; returns its exit
    /// code and output, and takes what it wrote to `GITHUB_ENV` into the
    /// environment of later steps.
    fn run(&mut self, name: &str, script: &str, env: &[(String, String)]) -> Step {
        let runner = self.outside.path().join("runner");
        let output_file = runner.join("github_output");
        let env_file = runner.join("github_env");
        std::fs::write(&output_file, "").unwrap();
        std::fs::write(&env_file, "").unwrap();
        let script_file = runner.join("step.sh");
        std::fs::write(&script_file, script).unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(self.checkout.path())
            .env_clear()
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_ENV", &env_file);
        for (k, v) in &self.env {
            if !k.starts_with("${{") {
                cmd.env(k, v);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let step = Step {
            name: name.to_owned(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: key_values(&std::fs::read_to_string(&output_file).unwrap()),
        };
        for (k, v) in key_values(&std::fs::read_to_string(&env_file).unwrap()) {
            self.env.insert(k, v);
        }
        step
    }

    /// Runs the `run:` steps of each job of a GitHub workflow in order; stops at
    /// the first that fails and returns every step run.
    fn github(&mut self, file: &str) -> Vec<Step> {
        let workflow = yaml(&format!("examples/ci/github/{file}"));
        let mut base = self.expand(&workflow["env"], &BTreeMap::new());
        let mut ran = Vec::new();
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for job in workflow["jobs"].as_object().unwrap().values() {
            base.extend(self.expand(&job["env"], &outputs));
            for step in job["steps"].as_array().unwrap() {
                let Some(script) = step["run"].as_str() else {
                    continue;
                };
                let name = step["name"].as_str().unwrap_or(script).to_owned();
                if name.contains("(CI only)") {
                    continue;
                }
                let mut env = base.clone();
                env.extend(self.expand(&step["env"], &outputs));
                let env: Vec<(String, String)> = env.into_iter().collect();
                let done = self.run(&name, script, &env);
                if let Some(id) = step["id"].as_str() {
                    outputs.insert(id.to_owned(), done.outputs.clone());
                }
                let failed = done.code != 0;
                ran.push(done);
                if failed {
                    return ran;
                }
            }
        }
        ran
    }

    /// An `env:` map with each `${{ … }}` replaced by its stand-in.
    fn expand(
        &self,
        env: &serde_json::Value,
        outputs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(env) = env.as_object() else {
            return out;
        };
        for (k, v) in env {
            let v = v.as_str().unwrap();
            let value = if let Some(expr) = v.strip_prefix("${{ steps.") {
                let expr = expr.strip_suffix(" }}").unwrap();
                let (id, name) = expr.split_once(".outputs.").unwrap();
                outputs[id][name].clone()
            } else if v.starts_with("${{") {
                self.env
                    .get(v)
                    .unwrap_or_else(|| panic!("no stand-in for `{v}`: add one to ci.rs"))
                    .clone()
            } else {
                v.to_owned()
            };
            out.insert(k.clone(), value);
        }
        out
    }

    /// Runs the `script:` of GitLab jobs by name, in the order given.
    fn gitlab(&mut self, jobs: &[&str], source: &str) -> Vec<Step> {
        let pipeline = yaml("examples/ci/gitlab/.gitlab-ci.yml");
        let stages: Vec<&str> = pipeline["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let mut ran = Vec::new();
        let base: Vec<(String, String)> = vec![
            ("CI_PIPELINE_SOURCE".into(), source.into()),
            ("CI_DEFAULT_BRANCH".into(), "main".into()),
            ("CI_COMMIT_BRANCH".into(), "main".into()),
        ];
        for name in jobs {
            let job = &pipeline[*name];
            assert!(
                stages.contains(&job["stage"].as_str().unwrap()),
                "{name}: its stage is one of {stages:?}"
            );
            // GitLab expands `$VAR` in variables; bash does it here.
            let mut script = String::new();
            for scope in [&pipeline["variables"], &job["variables"]] {
                for (k, v) in scope.as_object().into_iter().flatten() {
                    script.push_str(&format!("export {k}=\"{}\"\n", v.as_str().unwrap()));
                }
            }
            for line in job["script"].as_array().unwrap() {
                script.push_str(line.as_str().unwrap());
                script.push('\n');
            }
            let done = self.run(name, &script, &base);
            let failed = done.code != 0;
            ran.push(done);
            if failed {
                break;
            }
        }
        ran
    }
}

#[derive(Debug)]
struct Step {
    name: String,
    code: i32,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
}

fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every step succeeded; the last one is returned.
fn all_ok(steps: &[Step]) -> &Step {
    for step in steps {
        assert_eq!(
            step.code, 0,
            "step `{}` failed:\nstdout:\n{}\nstderr:\n{}",
            step.name, step.stdout, step.stderr
        );
    }
    steps.last().expect("some steps ran")
}

fn drifted_out_of_band(forge: &Forge) {
    let estate = std::fs::read_to_string(forge.cloud()).unwrap().replace(
        "Nightly database backups",
        "Nightly backups, edited by hand",
    );
    std::fs::write(forge.cloud(), estate).unwrap();
}

#[test]
fn the_github_workflows_plan_comment_collect_approvals_apply_and_report_drift() {
    let mut forge = Forge::new();
    // Two pushes to the pull request: one plan comment, edited.
    for _ in 0..2 {
        forge.fresh_checkout();
        let plan = forge.github("nhi-plan.yml");
        let last = all_ok(&plan);
        assert_eq!(plan[0].outputs["changes"], "true");
        assert!(plan[0].outputs["digest"].starts_with("sha256:"), "{last:?}");
        forge.upload("nhi-plan", "plan.nhi");
    }
    let comments = forge.state_json("comments.json");
    assert_eq!(comments.as_array().unwrap().len(), 1, "{comments}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- nhi-plan: nhi.yaml -->\n### nhi plan:"),
        "{body}"
    );
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(forge.state("artifacts/nhi-plan/plan.nhi")).unwrap(),
    )
    .unwrap();
    let digest = plan["body_digest"].as_str().unwrap();
    assert!(body.contains(&format!("Plan `{digest}`")), "{body}");
    // Reviewers: bob in a comment, carol in a review; one of two is not enough.
    let bob = forge.approve("bob");
    let mut comments = comments;
    comments.as_array_mut().unwrap().push(serde_json::json!({
        "id": 2, "user": {"login": "bob"}, "body": format!("LGTM\n\n{bob}\n")
    }));
    forge.set_state_json("comments.json", &comments);
    forge.fresh_checkout();
    let judged = forge.github("nhi-approvals.yml");
    all_ok(&judged);
    let statuses = forge.state_json("statuses.json");
    assert_eq!(statuses[0]["state"], "failure", "{statuses}");
    assert_eq!(statuses[0]["context"], "nhi/approvals");
    let carol = forge.approve("carol");
    forge.set_state_json(
        "reviews.json",
        &serde_json::json!([{"id": 1, "user": {"login": "carol"}, "body": carol}]),
    );
    forge.fresh_checkout();
    all_ok(&forge.github("nhi-approvals.yml"));
    assert_eq!(forge.state_json("statuses.json")[1]["state"], "success");
    // Merged: apply the approved plan under the trust policy from before.
    forge.fresh_checkout();
    let applied = forge.github("nhi-apply.yml");
    let last = all_ok(&applied);
    assert!(
        last.stdout.contains("applied; receipt.json is the record"),
        "{last:?}"
    );
    assert!(forge.checkout.path().join("receipt.json").exists());
    // Nightly: clean, then an out-of-band edit opens the issue (exit 2).
    forge.fresh_checkout();
    all_ok(&forge.github("nhi-drift.yml"));
    drifted_out_of_band(&forge);
    let drift = forge.github("nhi-drift.yml");
    assert_eq!(drift.last().unwrap().code, 2, "{drift:?}");
    let issues = forge.state_json("issues.json");
    assert_eq!(issues[0]["state"], "open");
    assert!(
        issues[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("### nhi drift: 1 drift"),
        "{issues}"
    );
}

#[test]
fn the_gitlab_pipeline_plans_reports_to_the_widget_applies_and_reports_drift() {
    let mut forge = Forge::new();
    for _ in 0..2 {
        forge.fresh_checkout();
        all_ok(&forge.gitlab(&["nhi-plan"], "merge_request_event"));
        forge.upload("nhi-plan", "plan.nhi");
    }
    let notes = forge.state_json("notes.json");
    assert_eq!(notes.as_array().unwrap().len(), 1, "{notes}");
    assert!(
        notes[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("<!-- nhi-plan: nhi.yaml -->\n### nhi plan:")
    );
    let report: serde_json::Value =
        serde_json::from_str(&forge.checkout.read("nhi-report.json")).unwrap();
    assert_eq!(
        report,
        serde_json::json!({"create": 6, "update": 2, "delete": 7})
    );
    let mut notes = notes;
    for who in ["bob", "carol"] {
        let line = forge.approve(who);
        notes.as_array_mut().unwrap().push(serde_json::json!({
            "id": 9, "author": {"username": who}, "body": format!("approved:\n{line}")
        }));
    }
    forge.set_state_json("notes.json", &notes);
    forge.fresh_checkout();
    // The approvals job reads the artifact of the plan job of its pipeline.
    std::fs::copy(
        forge.state("artifacts/nhi-plan/plan.nhi"),
        forge.checkout.path().join("plan.nhi"),
    )
    .unwrap();
    all_ok(&forge.gitlab(&["nhi-approvals"], "merge_request_event"));
    forge.fresh_checkout();
    let applied = forge.gitlab(&["nhi-apply"], "push");
    let last = all_ok(&applied);
    assert!(
        last.stdout.contains("applied; receipt.json is the record"),
        "{last:?}"
    );
    forge.fresh_checkout();
    all_ok(&forge.gitlab(&["nhi-drift"], "schedule"));
    drifted_out_of_band(&forge);
    let drift = forge.gitlab(&["nhi-drift"], "schedule");
    assert_eq!(drift.last().unwrap().code, 2, "{drift:?}");
    let issues = forge.state_json("issues.json");
    assert_eq!(issues[0]["state"], "opened");
    assert_eq!(issues[0]["labels"], "nhi-drift");
}

/// What the tests stand in for is what the files name: the plan artifact, the
/// widget's report; and a step that needs the real CI is named so, and only
/// installing nhi does.
#[test]
fn the_stand_ins_match_the_files_and_only_installing_nhi_needs_the_real_ci() {
    let plan = yaml("examples/ci/github/nhi-plan.yml");
    let upload = plan["jobs"]["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["uses"] == "actions/upload-artifact@v4")
        .unwrap();
    assert_eq!(upload["with"]["name"], "nhi-plan");
    assert_eq!(upload["with"]["path"], "plan.nhi");
    let gitlab = yaml("examples/ci/gitlab/.gitlab-ci.yml");
    let artifacts = &gitlab["nhi-plan"]["artifacts"];
    assert_eq!(artifacts["paths"], serde_json::json!(["plan.nhi"]));
    assert_eq!(artifacts["reports"]["terraform"], "nhi-report.json");
    assert_eq!(
        gitlab["nhi-approvals"]["needs"],
        serde_json::json!(["nhi-plan"])
    );
    for file in [
        "nhi-plan.yml",
        "nhi-approvals.yml",
        "nhi-apply.yml",
        "nhi-drift.yml",
    ] {
        let workflow = yaml(&format!("examples/ci/github/{file}"));
        for job in workflow["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().unwrap() {
                let name = step["name"].as_str().unwrap_or_default();
                if name.contains("(CI only)") {
                    assert_eq!(name, "Install nhi (CI only)", "{file}");
                }
            }
        }
    }
}
