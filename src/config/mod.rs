//! Desired-state YAML → validated [`Config`], with source spans for every error.

mod model;

pub use model::{Config, DesiredIdentity, DesiredKey, ProviderBlock};
