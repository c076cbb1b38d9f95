//! Operations: the one change a provider is asked to carry out, with everything it
//! needs, and where new key material is delivered.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Binding, Identity, ObservedKey};

/// One change to live state, as planned and as executed. Rendering derives
/// before/after values from the operation itself, so what a reviewer reads is
/// exactly what runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    CreateIdentity {
        identity: Identity,
    },
    UpdateIdentity {
        before: Identity,
        after: Identity,
    },
    /// Delete then create: the kind changed. Keys and bindings of the old identity
    /// are deleted by earlier changes and recreated by later ones.
    ReplaceIdentity {
        before: Identity,
        after: Identity,
    },
    DeleteIdentity {
        identity: Identity,
    },
    /// Create a key named `key`; its secret goes to the change's sink.
    CreateKey {
        identity: String,
        key: String,
    },
    /// Create a new key named `key`, then delete `old`.
    RotateKey {
        identity: String,
        key: String,
        old: ObservedKey,
    },
    DeleteKey {
        identity: String,
        key: ObservedKey,
    },
    CreateBinding {
        identity: String,
        binding: Binding,
    },
    UpdateBinding {
        identity: String,
        before: Binding,
        after: Binding,
    },
    DeleteBinding {
        identity: String,
        binding: Binding,
    },
}

impl Operation {
    /// The name of the identity this operation acts on or under.
    pub fn identity_name(&self) -> &str {
        match self {
            Self::CreateIdentity { identity } | Self::DeleteIdentity { identity } => &identity.name,
            Self::UpdateIdentity { after, .. } | Self::ReplaceIdentity { after, .. } => &after.name,
            Self::CreateKey { identity, .. }
            | Self::RotateKey { identity, .. }
            | Self::DeleteKey { identity, .. }
            | Self::CreateBinding { identity, .. }
            | Self::UpdateBinding { identity, .. }
            | Self::DeleteBinding { identity, .. } => identity,
        }
    }

    /// Whether this operation produces new key material.
    pub fn creates_key(&self) -> bool {
        matches!(self, Self::CreateKey { .. } | Self::RotateKey { .. })
    }
}

/// Where new key material is delivered. Never the plan, a receipt or a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sink {
    /// A new file created with mode 0600, relative to the configuration's directory.
    /// An existing file is never overwritten: apply fails instead.
    File(String),
    /// Standard output, only when apply is run with `--allow-secrets-on-stdout`.
    Stdout,
    /// A secret in AWS Secrets Manager (created, or given a new version), written
    /// by the AWS provider that minted the key.
    AwsSecretsManager { secret_id: String },
    /// A secret in Google Cloud Secret Manager, in the provider block's project
    /// (created if missing, else given a new version), written by the GCP
    /// provider that minted the key.
    GcpSecretManager { secret_id: String },
}

impl Sink {
    /// Whether the engine delivers to this sink itself (files, stdout); other
    /// sinks are delivered by the provider that mints the key.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::File(_) | Self::Stdout)
    }
}
