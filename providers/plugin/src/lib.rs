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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use nhi_provider_sdk::{Preparing, Provider, ProviderContext, ProviderError, ProviderType};

pub use remote::{PluginType, RemoteProvider};
pub use settings::plugin_own;

use settings::PluginSettings;

/// The `plugin` provider type: resolves each block to the plugin it names.
#[derive(Debug, Clone, Copy, Default)]
pub struct PluginHost;

/// A plugin of this process: being started, started, or why it could not be.
type Slot = Arc<OnceLock<Result<&'static PluginType, String>>>;

/// Plugins started by this process, by what started them: each executable runs
/// once per process, whatever asks about its blocks.
type Started = Mutex<Vec<((PathBuf, PluginSettings), Slot)>>;

fn started() -> &'static Started {
    static STARTED: OnceLock<Started> = OnceLock::new();
    STARTED.get_or_init(Started::default)
}

/// What starts a plugin, for [`start_into`].
struct Start {
    file: PathBuf,
    settings: PluginSettings,
    base_dir: PathBuf,
}

impl PluginHost {
    /// The plugin serving a block with `settings`, pinned and started (or
    /// being started by [`ProviderType::prepare`], which this waits for).
    pub fn plugin(
        settings: &serde_json::Value,
        base_dir: &Path,
    ) -> Result<&'static PluginType, String> {
        let (slot, start) = Self::slot(settings, base_dir)?;
        if let Some(start) = start {
            start_into(&slot, &start);
        }
        slot.wait().clone()
    }

    /// The slot of the plugin a block with `settings` names, and what starts
    /// it when nothing has yet (the caller then must).
    fn slot(
        settings: &serde_json::Value,
        base_dir: &Path,
    ) -> Result<(Slot, Option<Start>), String> {
        let pinned = PluginSettings::parse(settings)?;
        let file = pinned.file(base_dir);
        // One process per executable, however its path is written.
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        let key = (file.clone(), pinned.clone());
        let mut all = started()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, found)) = all.iter().find(|(k, _)| *k == key) {
            return Ok((Arc::clone(found), None));
        }
        let slot = Slot::default();
        all.push((key, Arc::clone(&slot)));
        let start = Start {
            file,
            settings: pinned,
            base_dir: base_dir.to_path_buf(),
        };
        Ok((slot, Some(start)))
    }

    /// Stops every plugin this process started (at exit; later calls fail),
    /// once those still starting have.
    pub fn stop_all() {
        let all: Vec<Slot> = started()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(_, slot)| Arc::clone(slot))
            .collect();
        for slot in all {
            if let Ok(plugin) = slot.wait() {
                plugin.stop();
            }
        }
    }
}

/// Starts a plugin and fills its slot, with why not if it cannot be started.
/// Nothing may wait on an empty slot for ever: a panic fills it too.
fn start_into(slot: &Slot, start: &Start) {
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        PluginType::start(&start.file, &start.settings, &start.base_dir)
            .map(|plugin| &*Box::leak(Box::new(plugin)))
    }))
    .unwrap_or_else(|_| {
        Err(format!(
            "cannot start plugin `{}`: nhi failed while starting it",
            start.settings.path
        ))
    });
    let _ = slot.set(started);
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

    /// Pins and starts the block's plugin on a thread of its own: copying,
    /// hashing, executing and the handshake take milliseconds the engine spends
    /// reading the configuration.
    fn prepare(&self, settings: &serde_json::Value, base_dir: &Path) -> Option<Preparing> {
        let (slot, start) = Self::slot(settings, base_dir).ok()?;
        if let Some(start) = start {
            let (filling, start) = (Arc::clone(&slot), Arc::new(start));
            let background = Arc::clone(&start);
            let spawned = std::thread::Builder::new()
                .name("plugin-start".to_owned())
                .spawn(move || start_into(&filling, &background));
            if spawned.is_err() {
                start_into(&slot, &start);
            }
        }
        Some(Preparing::new(move || slot.get().is_some()))
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Self::plugin(&context.settings, &context.base_dir)
            .map_err(ProviderError::Settings)?
            .connect(context)
    }
}
