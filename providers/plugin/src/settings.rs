//! The `plugin` entry of a `type: plugin` block's settings: which executable,
//! pinned by which digest, with which environment and deadline. Everything else
//! in the settings is the plugin's own, passed on without the `plugin` entry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nhi_provider_sdk::Digest;

/// How long a call may take unless the block says otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_mins(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PluginSettings {
    /// As written; relative to the configuration's directory.
    pub path: String,
    pub sha256: Digest,
    /// Names of environment variables the child receives (all others cleared).
    pub env: Vec<String>,
    pub timeout: Duration,
}

impl PluginSettings {
    pub fn parse(settings: &serde_json::Value) -> Result<Self, String> {
        let entry = settings.get("plugin").ok_or(
            "a `plugin` block's settings need `plugin: {path: <executable>, sha256: <digest>}`",
        )?;
        let fields = entry
            .as_object()
            .ok_or("`plugin` is a mapping `{path, sha256}`")?;
        if let Some(unknown) = fields
            .keys()
            .find(|k| !["path", "sha256", "env", "timeout_ms"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown field `plugin.{unknown}`; expected `path`, `sha256`, `env` or `timeout_ms`"
            ));
        }
        let path = fields
            .get("path")
            .and_then(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .ok_or("`plugin.path` names the plugin's executable")?
            .to_owned();
        let sha256 = fields.get("sha256").and_then(|d| d.as_str()).ok_or(
            "`plugin.sha256` pins the executable: `sha256:<64 hex digits>` (`sha256sum FILE`)",
        )?;
        let sha256: Digest = if sha256.starts_with("sha256:") {
            sha256.parse()
        } else {
            format!("sha256:{sha256}").parse()
        }
        .map_err(|_| {
            format!("`plugin.sha256` is `sha256:<64 lowercase hex digits>`, not `{sha256}`")
        })?;
        let env = match fields.get("env") {
            None => Vec::new(),
            Some(serde_json::Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .filter(|n| valid_env_name(n))
                        .map(str::to_owned)
                        .ok_or_else(|| format!("`plugin.env` lists variable names, not `{n}`"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`plugin.env` is a list of variable names".into()),
        };
        let timeout = match fields.get("timeout_ms") {
            None => DEFAULT_TIMEOUT,
            Some(ms) => Duration::from_millis(
                ms.as_u64()
                    .filter(|ms| (1..=3_600_000).contains(ms))
                    .ok_or("`plugin.timeout_ms` is a whole number of milliseconds, 1 to 3600000")?,
            ),
        };
        Ok(Self {
            path,
            sha256,
            env,
            timeout,
        })
    }

    pub fn file(&self, base_dir: &Path) -> PathBuf {
        base_dir.join(&self.path)
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The settings the plugin itself sees: all but nhi's `plugin` entry.
pub fn plugin_own(settings: &serde_json::Value) -> serde_json::Value {
    let mut own = settings.clone();
    if let Some(map) = own.as_object_mut() {
        map.remove("plugin");
    }
    own
}
