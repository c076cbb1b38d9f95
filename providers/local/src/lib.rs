//! The local provider: a file-backed estate (placeholder until implemented).
use nhi_provider_sdk::{Provider, ProviderContext, ProviderError, ProviderType};

/// The `local` provider type.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalType;

impl ProviderType for LocalType {
    fn type_name(&self) -> &'static str {
        "local"
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["service_account"]
    }
    fn check_identity_name(&self, _kind: &str, _name: &str) -> Result<(), String> {
        Ok(())
    }
    fn check_settings(&self, _settings: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    fn connect(&self, _context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Err(ProviderError::Other("not yet".into()))
    }
}
