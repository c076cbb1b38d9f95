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
    /// Create a new key named `key`, then delete `old`. The engine applies it as
    /// a `CreateKey` and then a `DeleteKey` of `old` (a `DeactivateKey` when
    /// `deactivate_old`); providers never receive it.
    RotateKey {
        identity: String,
        key: String,
        old: ObservedKey,
        /// The key declares `retire_after`: the old key is deactivated once the
        /// new one is delivered and recorded, and a later plan deletes it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deactivate_old: bool,
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
    /// Make `key` unusable without deleting it (AWS `Inactive`, GCP disabled).
    /// `nhi revoke` asks for it, and a plan does for a key declared
    /// `status: inactive`; a provider that cannot deactivate a key refuses it,
    /// and revoke deletes the key instead and says so.
    DeactivateKey {
        identity: String,
        key: ObservedKey,
    },
    /// Invalidate every session credential the identity was issued before
    /// `issued_before` (AWS: an inline deny on `aws:TokenIssueTime`). Only
    /// `nhi revoke` asks for it; providers without sessions refuse it.
    RevokeSessions {
        identity: String,
        issued_before: jiff::Timestamp,
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
            | Self::DeleteBinding { identity, .. }
            | Self::DeactivateKey { identity, .. }
            | Self::RevokeSessions { identity, .. } => identity,
        }
    }

    /// Whether this operation produces new key material.
    pub fn creates_key(&self) -> bool {
        matches!(self, Self::CreateKey { .. } | Self::RotateKey { .. })
    }

    /// The live key this operation acts on: the key deleted or deactivated, the
    /// old key of a rotation.
    pub fn live_key(&self) -> Option<&crate::ObservedKey> {
        match self {
            Self::DeleteKey { key, .. }
            | Self::DeactivateKey { key, .. }
            | Self::RotateKey { old: key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Where new key material is delivered. Never the plan, a receipt or a log.
///
/// Written `stdout`, `{file: <path>}`, or `{<kind>: <settings>}` for a sink the
/// provider that mints the key delivers itself (e.g. `{aws_secrets_manager:
/// {secret_id: …}}`): the engine knows no provider's sinks, and the provider type
/// that lists the kind in `ProviderType::sink_kinds` checks its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// A new file created with mode 0600, relative to the configuration's directory.
    /// An existing file is never overwritten: apply fails instead.
    File(String),
    /// Standard output, only when apply is run with `--allow-secrets-on-stdout`.
    Stdout,
    /// A sink the provider delivers: `kind` as written (a lowercase name), and
    /// the settings under it.
    Provider {
        kind: String,
        settings: serde_json::Value,
    },
}

impl Sink {
    /// Whether the engine delivers to this sink itself (files, stdout); other
    /// sinks are delivered by the provider that mints the key.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::File(_) | Self::Stdout)
    }

    /// The string setting `name` of a provider sink of `kind`, when this is one.
    pub fn provider_setting(&self, kind: &str, name: &str) -> Option<&str> {
        match self {
            Self::Provider { kind: k, settings } if k == kind => settings.get(name)?.as_str(),
            _ => None,
        }
    }
}

/// Whether `kind` can name a provider sink: a lowercase name that is neither
/// `file` nor `stdout`.
fn is_sink_kind(kind: &str) -> bool {
    let bytes = kind.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        && kind != "file"
        && kind != "stdout"
}

impl Serialize for Sink {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match self {
            Self::Stdout => serializer.serialize_str("stdout"),
            Self::File(path) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("file", path)?;
                map.end()
            }
            Self::Provider { kind, settings } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(kind, settings)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Sink {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) if s == "stdout" => Ok(Self::Stdout),
            serde_json::Value::Object(map) if map.len() == 1 => {
                let (kind, settings) = map.into_iter().next().expect("invariant: one entry");
                match (kind.as_str(), settings) {
                    ("file", serde_json::Value::String(path)) => Ok(Self::File(path)),
                    ("file", _) => Err(D::Error::custom("a `file` sink is a path")),
                    (k, settings) if is_sink_kind(k) => Ok(Self::Provider { kind, settings }),
                    _ => Err(D::Error::custom(
                        "a provider sink's kind is a lowercase name",
                    )),
                }
            }
            _ => Err(D::Error::custom(
                "a sink is `stdout`, `{file: <path>}` or `{<kind>: <settings>}`",
            )),
        }
    }
}

impl JsonSchema for Sink {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sink".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Where new key material is delivered. Never the plan, a receipt or a log.",
            "oneOf": [
                {
                    "description": "A new file created with mode 0600, relative to the configuration's directory.\nAn existing file is never overwritten: apply fails instead.",
                    "type": "object",
                    "properties": { "file": { "type": "string" } },
                    "required": ["file"],
                    "additionalProperties": false
                },
                {
                    "description": "Standard output, only when apply is run with `--allow-secrets-on-stdout`.",
                    "type": "string",
                    "const": "stdout"
                },
                {
                    "description": "A sink the provider that mints the key delivers: `{<kind>: <settings>}`.",
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": {
                        "pattern": "^[a-z][a-z0-9_]{0,62}$",
                        "not": { "enum": ["file", "stdout"] }
                    }
                }
            ]
        })
    }
}

/// A sink a provider type delivers key material to itself.
#[derive(Debug, Clone, Copy)]
pub struct SinkKind {
    /// The key the configuration writes it under, e.g. `aws_secrets_manager`.
    pub name: &'static str,
    /// One line for editors: what the sink is.
    pub description: &'static str,
    /// The JSON Schema of its settings, for editors.
    pub settings_schema: fn() -> serde_json::Value,
}

impl SinkKind {
    /// The `secret_id` of `{<kind>: {secret_id: <id>}}` settings, when they are
    /// exactly that and the id is not blank: the shape of secret-store sinks.
    pub fn secret_id(settings: &serde_json::Value) -> Option<&str> {
        let fields = settings.as_object().filter(|m| m.len() == 1)?;
        fields
            .get("secret_id")?
            .as_str()
            .filter(|id| !id.trim().is_empty())
    }

    /// The JSON Schema of `{secret_id: <id>}` settings.
    pub fn secret_id_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": { "secret_id": { "type": "string" } },
            "required": ["secret_id"],
            "additionalProperties": false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Sink;

    #[test]
    fn sinks_read_and_write_as_configurations_spell_them() {
        let cases = [
            (r#""stdout""#, Some(Sink::Stdout)),
            (r#"{"file":"a.key"}"#, Some(Sink::File("a.key".into()))),
            (
                r#"{"aws_secrets_manager":{"secret_id":"s"}}"#,
                Some(Sink::Provider {
                    kind: "aws_secrets_manager".into(),
                    settings: serde_json::json!({"secret_id": "s"}),
                }),
            ),
            (r#""stderr""#, None),
            (r#"{"file":1}"#, None),
            (r#"{"Bad-Kind":{}}"#, None),
            (r#"{"stdout":{}}"#, None),
            (r#"{"a":1,"b":2}"#, None),
        ];
        for (text, want) in cases {
            let got = serde_json::from_str::<Sink>(text).ok();
            assert_eq!(got, want, "{text}");
            if let Some(sink) = got {
                assert_eq!(serde_json::to_string(&sink).unwrap(), text);
            }
        }
        let sink: Sink =
            serde_json::from_str(r#"{"gcp_secret_manager":{"secret_id":"x"}}"#).unwrap();
        assert_eq!(
            sink.provider_setting("gcp_secret_manager", "secret_id"),
            Some("x")
        );
        assert_eq!(
            sink.provider_setting("aws_secrets_manager", "secret_id"),
            None
        );
    }
}
