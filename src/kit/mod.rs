//! The conformance kit behind `nhi provider test PLUGIN`: a versioned suite that
//! drives any plugin through the engine's own configuration loader, diff and
//! fingerprints, and checks that its estate converges, that out-of-band changes
//! show as drift and make a plan stale, that deletes converge, that it survives
//! hostile protocol input, and that a minted secret never leaks. Returns a
//! report; the CLI renders it.

mod checks;
mod robust;
pub mod schemas;

use std::path::{Path, PathBuf};

/// The suite's version: checks are added under a new version, never changed.
pub const SUITE: &str = "nhi-provider-kit/1";

/// What to test.
#[derive(Debug, Clone)]
pub struct KitOptions {
    /// The plugin executable.
    pub plugin: PathBuf,
    /// The plugin's own settings (JSON object); `None`: `{"state": "estate.json"}`
    /// in the kit's scratch directory, what file-backed plugins take.
    pub settings: Option<serde_json::Value>,
    /// Where the kit writes its configuration and whatever the settings name.
    pub scratch: PathBuf,
    /// Per-call deadline for the plugin, in milliseconds.
    pub timeout_ms: u64,
    /// What the kit declares, in a form the plugin accepts.
    pub sample: KitSample,
}

/// The identities the kit declares: two, each with one key delivered to a file
/// and the same bindings. A plugin with naming rules of its own (a role prefix,
/// its own binding syntax) takes them from the `kit:` entry of the settings
/// file, which the plugin never sees.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KitSample {
    /// The two identities' names; default `kit-alpha`, `kit-beta`.
    pub names: [String; 2],
    /// The key's name; default `primary`.
    pub key: String,
    /// Each identity's bindings, `{name}` in a resource replaced by the
    /// identity's name; default one, `reader` on `kit/{name}`.
    pub bindings: Vec<KitBinding>,
}

/// One binding the kit declares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KitBinding {
    pub role: String,
    pub resource: String,
}

impl Default for KitSample {
    fn default() -> Self {
        Self {
            names: ["kit-alpha".into(), "kit-beta".into()],
            key: "primary".into(),
            bindings: vec![KitBinding {
                role: "reader".into(),
                resource: "kit/{name}".into(),
            }],
        }
    }
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub check: &'static str,
    pub outcome: KitOutcome,
    /// Why it failed or was skipped; what it saw when it passed.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KitOutcome {
    Pass,
    Fail,
    Skip,
}

/// The suite's verdicts, in order.
#[derive(Debug, Clone)]
pub struct KitReport {
    pub suite: &'static str,
    /// `<name> <version>` from the handshake, when it got that far.
    pub plugin: Option<String>,
    pub verdicts: Vec<Verdict>,
}

impl KitReport {
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.outcome != KitOutcome::Fail)
    }
}

/// Runs the suite.
pub fn run(options: &KitOptions) -> KitReport {
    checks::run(options)
}

pub(crate) fn digest_of(path: &Path) -> Result<nhi_provider_sdk::Digest, String> {
    std::fs::read(path)
        .map(|b| nhi_provider_sdk::Digest::of(&b))
        .map_err(|e| format!("cannot read plugin `{}`: {e}", path.display()))
}
