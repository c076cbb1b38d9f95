//! The provider types a run of nhi can plan and apply with, found by their `type:`
//! name: the built-in ones, and any registered at run time (external plugins,
//! tests). A value, not a fixed table, so the set can grow while nhi runs.

use std::sync::{Arc, LazyLock};

use nhi_provider_sdk::ProviderType;

/// Provider types by name, in the order errors and `--help` list them.
#[derive(Clone)]
pub struct Registry {
    types: Vec<Arc<dyn ProviderType>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// A second provider type under a name the registry already has.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("provider type `{type_name}` is registered twice")]
#[diagnostic(
    code(nhi::provider::duplicate_type),
    help("each provider type name may be registered once; rename or remove one of them")
)]
pub struct DuplicateType {
    pub type_name: String,
}

static BUILTIN: LazyLock<Registry> = LazyLock::new(|| Registry {
    types: vec![
        Arc::new(nhi_provider_local::LocalType),
        Arc::new(nhi_provider_aws::AwsType),
        Arc::new(nhi_provider_gcp::GcpType),
        Arc::new(nhi_provider_plugin::PluginHost),
    ],
});

impl Registry {
    /// The provider types built into this nhi: `local`, `aws`, `gcp`, and
    /// `plugin`, which runs an external executable.
    pub fn builtin() -> &'static Self {
        &BUILTIN
    }

    /// No provider types at all.
    pub fn empty() -> Self {
        Self { types: Vec::new() }
    }

    /// Adds a provider type found at run time; its name must be new.
    pub fn register(&mut self, provider_type: Arc<dyn ProviderType>) -> Result<(), DuplicateType> {
        let name = provider_type.type_name();
        if self.find(name).is_some() {
            return Err(DuplicateType {
                type_name: name.to_owned(),
            });
        }
        self.types.push(provider_type);
        Ok(())
    }

    /// The provider type named `name`, if registered.
    pub fn find(&self, name: &str) -> Option<&dyn ProviderType> {
        self.types
            .iter()
            .find(|t| t.type_name() == name)
            .map(AsRef::as_ref)
    }

    /// The type that serves `block` (configuration in `dir`): its registered
    /// type, or what that type resolves the block to (a plugin's own, started
    /// and pinned; see `ProviderType::for_block`).
    pub fn for_block(
        &self,
        block: &crate::config::ProviderBlock,
        dir: &std::path::Path,
    ) -> Result<&dyn ProviderType, String> {
        let found = self.find(&block.type_name).ok_or_else(|| {
            format!(
                "provider type `{}` is not built into this nhi",
                block.type_name
            )
        })?;
        Ok(found.for_block(&block.settings, dir)?.unwrap_or(found))
    }

    /// Every registered type, in order.
    pub fn types(&self) -> impl Iterator<Item = &dyn ProviderType> {
        self.types.iter().map(AsRef::as_ref)
    }

    /// Names of every registered type, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.types.iter().map(|t| t.type_name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Registry;

    #[test]
    fn a_type_registered_at_run_time_is_found_and_a_second_of_one_name_refused() {
        let mut registry = Registry::empty();
        assert!(registry.find("local").is_none());
        registry
            .register(Arc::new(nhi_provider_local::LocalType))
            .unwrap();
        assert_eq!(registry.names(), ["local"]);
        assert!(registry.find("local").is_some());
        let err = registry
            .register(Arc::new(nhi_provider_local::LocalType))
            .unwrap_err();
        assert_eq!(err.to_string(), "provider type `local` is registered twice");
        assert_eq!(
            Registry::builtin().names(),
            ["local", "aws", "gcp", "plugin"]
        );
    }

    #[test]
    fn configuration_is_validated_against_the_registry_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nhi.yaml");
        std::fs::write(
            &path,
            "version: 1\nproviders:\n  - name: prod\n    type: aws\n    settings: {path_prefix: /nhi/}\n",
        )
        .unwrap();
        assert!(crate::config::load(&path).is_ok());
        let mut only_local = Registry::empty();
        only_local
            .register(Arc::new(nhi_provider_local::LocalType))
            .unwrap();
        let err = crate::config::load_with(&path, &only_local, &mut |_, _| {}).unwrap_err();
        let report = format!("{:?}", miette::Report::new(err));
        assert!(report.contains("unknown provider type `aws`"), "{report}");
        assert!(report.contains("known provider types: `local`"), "{report}");
    }
}
