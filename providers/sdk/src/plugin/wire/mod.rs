//! The messages of `nhi-provider/1`: one JSON-RPC 2.0 object per line. Each call
//! has one params and one result struct, so the protocol grows by adding fields
//! and capabilities, never by changing one. `docs/plugin-protocol.md` explains
//! them; `schemas/plugin/` holds their JSON Schemas.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ProviderError;

mod calls;
mod handshake;
mod questions;

pub use calls::*;
pub use handshake::*;
pub use questions::*;

/// A call from nhi to the plugin.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request<P> {
    /// Always `2.0`.
    pub jsonrpc: String,
    /// Increases by one with every call; the response carries it back.
    pub id: u64,
    pub method: String,
    pub params: P,
}

/// The plugin's answer to one call: `result` or `error`, never both.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response<R> {
    /// Always `2.0`.
    pub jsonrpc: String,
    /// The id of the request answered; `null` only for a request that could not
    /// be read at all.
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

/// A failed call. `code` follows JSON-RPC (`-32700` unreadable, `-32601` unknown
/// method, `-32602` bad params); a provider's own failure is `-32000` with `data`
/// saying which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpcError {
    pub code: i64,
    /// Lowercase, names the object; never key material.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

/// Which [`ProviderError`] a provider failure is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorData {
    pub kind: ErrorKind,
    /// Who holds the scope lock, for `locked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Settings,
    NotFound,
    AlreadyExists,
    Corrupt,
    Locked,
    AccessDenied,
    Io,
    Unsupported,
    Other,
    /// The change may or may not have happened (e.g. a timeout after sending it
    /// to the cloud): the engine records it as unknown and re-reads.
    OutcomeUnknown,
}

pub const PARSE_ERROR: i64 = -32700;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const PROVIDER_ERROR: i64 = -32000;

impl RpcError {
    pub fn from_provider(error: &ProviderError) -> Self {
        let (kind, holder) = match error {
            ProviderError::Settings(_) => (ErrorKind::Settings, None),
            ProviderError::NotFound(_) => (ErrorKind::NotFound, None),
            ProviderError::AlreadyExists(_) => (ErrorKind::AlreadyExists, None),
            ProviderError::Corrupt(_) => (ErrorKind::Corrupt, None),
            ProviderError::Locked { holder } => (ErrorKind::Locked, Some(holder.clone())),
            ProviderError::AccessDenied(_) => (ErrorKind::AccessDenied, None),
            ProviderError::Io { .. } => (ErrorKind::Io, None),
            ProviderError::Unsupported(_) => (ErrorKind::Unsupported, None),
            ProviderError::OutcomeUnknown(_) => (ErrorKind::OutcomeUnknown, None),
            _ => (ErrorKind::Other, None),
        };
        // The variant's own words, without the prefix `Display` adds, so the host
        // rebuilds the same error.
        let message = match error {
            ProviderError::Settings(m)
            | ProviderError::NotFound(m)
            | ProviderError::AlreadyExists(m)
            | ProviderError::Corrupt(m)
            | ProviderError::AccessDenied(m)
            | ProviderError::Unsupported(m)
            | ProviderError::OutcomeUnknown(m)
            | ProviderError::Other(m) => m.clone(),
            other => other.to_string(),
        };
        Self {
            code: PROVIDER_ERROR,
            message,
            data: Some(ErrorData { kind, holder }),
        }
    }

    /// The provider error this stands for; a protocol error (no `data`) is `other`.
    pub fn into_provider(self) -> ProviderError {
        let kind = self.data.as_ref().map_or(ErrorKind::Other, |d| d.kind);
        let m = self.message;
        match kind {
            ErrorKind::Settings => ProviderError::Settings(m),
            ErrorKind::NotFound => ProviderError::NotFound(m),
            ErrorKind::AlreadyExists => ProviderError::AlreadyExists(m),
            ErrorKind::Corrupt => ProviderError::Corrupt(m),
            ErrorKind::Locked => ProviderError::Locked {
                holder: self.data.and_then(|d| d.holder).unwrap_or(m),
            },
            ErrorKind::AccessDenied => ProviderError::AccessDenied(m),
            ErrorKind::Unsupported => ProviderError::Unsupported(m),
            ErrorKind::OutcomeUnknown => ProviderError::OutcomeUnknown(m),
            ErrorKind::Io | ErrorKind::Other => ProviderError::Other(m),
        }
    }
}
