//! `nhi-provider-plugin`: the `plugin` provider type. A `type: plugin` block
//! names an executable and pins its digest (`settings: {plugin: {path, sha256}}`);
//! nhi runs exactly the bytes it hashed and drives them over `nhi-provider/1`
//! (see `nhi_provider_sdk::plugin` and `docs/plugin-protocol.md`).
//!
//! Map: [`PluginHost`] is the registered type; [`PluginHost::for_block`] pins and
//! starts one plugin per executable (`pin`, `child`), which then answers as a
//! provider type of its own (`remote`). Its standard error is kept for error
//! messages only (`stderr`); `settings` reads the `plugin` entry.

mod child;
mod pin;
mod remote;
mod settings;
mod stderr;

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use nhi_provider_sdk::{Provider, ProviderContext, ProviderError, ProviderType};

pub use remote::{PluginType, RemoteProvider};
pub use settings::plugin_own;

use settings::PluginSettings;

/// The `plugin` provider type: resolves each block to the plugin it names.
#[derive(Debug, Clone, Copy, Default)]
pub struct PluginHost;

/// Plugins started by this process, by what started them: each executable runs
/// once per process, whatever asks about its blocks.
type Started = Mutex<Vec<((std::path::PathBuf, PluginSettings), &'static PluginType)>>;

fn started() -> &'static Started {
    static STARTED: OnceLock<Started> = OnceLock::new();
    STARTED.get_or_init(Started::default)
}

impl PluginHost {
    /// The plugin serving a block with `settings`, pinned and started.
    pub fn plugin(
        settings: &serde_json::Value,
        base_dir: &Path,
    ) -> Result<&'static PluginType, String> {
        let pinned = PluginSettings::parse(settings)?;
        let file = pinned.file(base_dir);
        // One process per executable, however its path is written.
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        let key = (file.clone(), pinned.clone());
        let mut all = started()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, found)) = all.iter().find(|(k, _)| *k == key) {
            return Ok(found);
        }
        let plugin: &'static PluginType =
            Box::leak(Box::new(PluginType::start(&file, &pinned, base_dir)?));
        all.push((key, plugin));
        Ok(plugin)
    }

    /// Stops every plugin this process started (at exit; later calls fail).
    pub fn stop_all() {
        let all = started()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, plugin) in all.iter() {
            plugin.stop();
        }
    }
}

impl ProviderType for PluginHost {
    fn type_name(&self) -> &'static str {
        "plugin"
    }

    /// A block's kinds are its plugin's; the engine asks the plugin
    /// ([`Self::for_block`]) before it asks about identities.
    fn kinds(&self) -> &'static [&'static str] {
        &[]
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        PluginSettings::parse(settings).map(|_| ())
    }

    fn for_block(
        &self,
        settings: &serde_json::Value,
        base_dir: &Path,
    ) -> Result<Option<&'static dyn ProviderType>, String> {
        Self::plugin(settings, base_dir).map(|p| Some(p as &'static dyn ProviderType))
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Self::plugin(&context.settings, &context.base_dir)
            .map_err(ProviderError::Settings)?
            .connect(context)
    }
}
