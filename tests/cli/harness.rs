//! Running `nhi` in a scratch copy of an example, with a fixed clock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The planning clock every test uses unless it says otherwise.
pub const NOW: &str = "2026-11-22T12:00:00Z";

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Workspace {
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A scratch copy of `examples/<name>`.
    pub fn example(name: &str) -> Self {
        let ws = Self::empty();
        copy_dir(&repo().join("examples").join(name), ws.path());
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nhi"));
        cmd.current_dir(self.path())
            .env_remove("NO_COLOR")
            .env_remove("SSH_AUTH_SOCK")
            .env("NHI_NOW", NOW)
            .env("NHI_AUTHOR", "alice@example.com")
            .env("RUST_BACKTRACE", "0");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().unwrap())
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.args(args).output().unwrap())
    }
}

/// Replaces what varies between runs (temp paths, versions) in output that
/// snapshots hold.
pub fn redact(text: &str, ws: &Workspace) -> String {
    text.replace(&ws.path().display().to_string(), "[TMP]")
        .replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

/// The first bash block of the README section headed `heading`, as written.
pub fn readme_bash(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("README has the section `{heading}`"));
    section
        .split("```bash\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a bash block")
        .to_owned()
}
