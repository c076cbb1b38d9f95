//! A stand-in CI for the example pipelines (tests/cli/ci.rs): a repository
//! holding the quickstart and its trust policy, a "cloud" estate outside the
//! checkout, reviewers' keys, a fake `gh`/`glab` answering from files, and the
//! runners that take a workflow's `run:` steps or a job's `script:` from the
//! YAML and run them with bash as the CI would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Workspace, repo};

const TRUST: &str = "allowed_signers: allowed_signers\napprovals:\n  required: 1\nrules:\n  - when: destructive\n    required: 2\n";

/// A repository holding the quickstart (pruning), its trust policy under
/// ci/nhi-trust/ and a "cloud" estate outside the checkout; keys for the CI's
/// author and two reviewers elsewhere; and the fake forge's state.
pub(crate) struct Forge {
    pub(crate) checkout: Workspace,
    outside: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Forge {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn state(&self, name: &str) -> PathBuf {
        self.outside.path().join("state").join(name)
    }

    pub(crate) fn state_json(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.state(name)).unwrap()).unwrap()
    }

    pub(crate) fn set_state_json(&self, name: &str, value: &serde_json::Value) {
        std::fs::write(self.state(name), value.to_string()).unwrap();
    }

    /// The merge also writes `text` to `file` (the pull request changed it).
    pub(crate) fn merge_also_writes(&mut self, file: &str, text: &str) {
        self.checkout.write(file, text);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--amend", "-m", "merge !7"]);
        let merge = self.git(&["rev-parse", "HEAD"]);
        self.env.insert("GITHUB_SHA".into(), merge.clone());
        self.env.insert("CI_COMMIT_SHA".into(), merge);
    }

    /// A fresh checkout for the next job: nothing a previous job wrote is left.
    pub(crate) fn fresh_checkout(&self) {
        self.git(&["clean", "-q", "-fdx"]);
    }

    /// Keeps `file` of the checkout as the artifact `name` (`upload-artifact`).
    pub(crate) fn upload(&self, name: &str, file: &str) {
        let dir = self.state(&format!("artifacts/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(self.checkout.path().join(file), dir.join(file)).unwrap();
    }

    /// A reviewer downloads the plan artifact and approves it detached: the
    /// one line they paste into a comment.
    pub(crate) fn approve(&self, who: &str) -> String {
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

    pub(crate) fn cloud(&self) -> PathBuf {
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
    pub(crate) fn github(&mut self, file: &str) -> Vec<Step> {
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
    pub(crate) fn gitlab(&mut self, jobs: &[&str], source: &str) -> Vec<Step> {
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
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) outputs: BTreeMap<String, String>,
}

fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub(crate) fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every step succeeded; the last one is returned.
pub(crate) fn all_ok(steps: &[Step]) -> &Step {
    for step in steps {
        assert_eq!(
            step.code, 0,
            "step `{}` failed:\nstdout:\n{}\nstderr:\n{}",
            step.name, step.stdout, step.stderr
        );
    }
    steps.last().expect("some steps ran")
}

pub(crate) fn drifted_out_of_band(forge: &Forge) {
    let estate = std::fs::read_to_string(forge.cloud()).unwrap().replace(
        "Nightly database backups",
        "Nightly backups, edited by hand",
    );
    std::fs::write(forge.cloud(), estate).unwrap();
}
