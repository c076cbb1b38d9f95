//! The revocation record: what `nhi revoke` did, why, by whom and when, with
//! the fingerprints of each object before and after. A [`Sealed`] envelope
//! tagged `nhi_revocation`, signed like a receipt (namespace `nhi-receipt`,
//! role `applier`), kept in the configuration's `.nhi/revocations/` and, when
//! the trust policy keeps one, in the receipt log.

use nhi_provider_sdk::{Address, Digest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sealed::{Sealed, SealedBody};

/// The body layout version of revocation records.
pub const REVOCATION_FORMAT_VERSION: u32 = 1;

/// The signed record of one `nhi revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationBody {
    /// Always [`REVOCATION_FORMAT_VERSION`]; readers refuse any other.
    pub format_version: u32,
    /// The nhi version that revoked, for the record only.
    pub tool_version: String,
    /// Why, as the responder wrote it (`--reason`), never empty.
    pub reason: String,
    /// The principal of the first signing key: who revoked.
    pub actor: String,
    /// When the revocation started, UTC, to the second; sessions issued before
    /// it are revoked where the provider has sessions.
    pub revoked_at: jiff::Timestamp,
    /// One entry per object acted on, in the order they were acted on.
    pub objects: Vec<RevokedObject>,
    /// The record's place in the receipt log, as a receipt's; absent when no
    /// log is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<crate::sealed::ChainLink>,
}

/// One object a revocation acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokedObject {
    /// The address as given on the command line.
    pub address: Address,
    /// What was revoked: later plans may not undo it.
    pub target: Target,
    /// What was done to it, in order (e.g. `deactivate_key`, `delete_key` where
    /// the provider cannot deactivate, `detach_binding`, `revoke_sessions`).
    pub actions: Vec<String>,
    /// The object's fingerprint as read just before; `null`: absent.
    pub before: Option<Digest>,
    /// Its fingerprint as read just after; `null`: absent.
    pub after: Option<Digest>,
}

/// The object a revocation covers, by what a plan would name it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// A key of `identity`: `name` as configured (absent for a key nhi did not
    /// create), `id` as the provider knows it.
    Key {
        identity: String,
        name: Option<String>,
        id: String,
    },
    /// An identity: its keys deactivated, the identity disabled where the
    /// provider can.
    Identity { identity: String },
    /// A binding of `identity`, by its `(role, resource)`.
    Binding {
        identity: String,
        role: String,
        resource: String,
    },
}

impl Target {
    pub fn identity(&self) -> &str {
        match self {
            Self::Key { identity, .. }
            | Self::Identity { identity }
            | Self::Binding { identity, .. } => identity,
        }
    }
}

impl SealedBody for RevocationBody {
    const TAG: &'static str = "nhi_revocation";
    const VERSION: u32 = REVOCATION_FORMAT_VERSION;
    const MAX_BYTES: u64 = 16 * 1024 * 1024;
}

/// A decoded, digest-checked revocation record.
pub type RevocationFile = Sealed<RevocationBody>;

/// Whether these bytes are a revocation record.
pub fn is_revocation(bytes: &[u8]) -> bool {
    crate::sealed::has_tag(bytes, RevocationBody::TAG)
}

/// Decodes a revocation record: envelope, digest over the exact body, body
/// version, and a body that holds what every record holds. The record is
/// hostile input: everything a plan relies on is checked here.
pub fn decode(bytes: &[u8]) -> Result<RevocationFile, String> {
    let file =
        RevocationFile::unseal(bytes).map_err(|e| crate::sealed::detail(&e, "a revocation"))?;
    let body = &file.body;
    if body.format_version != REVOCATION_FORMAT_VERSION {
        return Err(format!(
            "format version {} is not supported",
            body.format_version
        ));
    }
    if body.reason.trim().is_empty() || body.objects.is_empty() {
        return Err("it names no reason or no object".into());
    }
    let texts = [body.reason.as_str(), body.actor.as_str()];
    let addresses = body.objects.iter().map(|o| o.address.as_str());
    if !texts.into_iter().chain(addresses).all(printable) {
        return Err("its reason, actor or an address holds control characters".into());
    }
    Ok(file)
}

/// Whether `text` can be printed in a message as it is.
pub fn printable(text: &str) -> bool {
    !text.chars().any(|c| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

/// The JSON Schema of a revocation body (`schemas/revocation.schema.json`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RevocationBody))
        .expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    /// `NHI_UPDATE_SCHEMAS=1` rewrites `schemas/revocation.schema.json`.
    #[test]
    fn revocation_schema_is_up_to_date() {
        crate::check_schema_file("revocation.schema.json", &super::schema());
    }

    #[test]
    fn a_revocation_is_neither_a_receipt_nor_a_plan() {
        let bytes = br#"{"nhi_revocation":1,"body_digest":"sha256:00","body":"{}"}"#;
        assert!(super::is_revocation(bytes));
        assert!(!crate::receipt::is_receipt(bytes));
        assert!(super::decode(br#"{"nhi_receipt":1}"#).is_err());
    }

    /// Records are read back into error messages: nothing in them may steer a
    /// terminal.
    #[test]
    fn a_record_that_could_steer_a_terminal_is_refused() {
        let body = |reason: &str, address: &str| super::RevocationBody {
            format_version: 1,
            tool_version: "0".into(),
            reason: reason.into(),
            actor: "oncall@example.com".into(),
            revoked_at: jiff::Timestamp::UNIX_EPOCH,
            objects: vec![super::RevokedObject {
                address: nhi_provider_sdk::Address::raw(address),
                target: super::Target::Identity {
                    identity: "ci".into(),
                },
                actions: vec![],
                before: None,
                after: None,
            }],
            chain: None,
        };
        let decode = |b| super::decode(&super::RevocationFile::new(b).encode());
        assert!(decode(body("leaked", "local.demo/identity/ci")).is_ok());
        for (reason, address) in [
            ("leaked\u{1b}[2J", "local.demo/identity/ci"),
            ("leaked", "local.demo/identity/ci\u{202e}"),
            ("  ", "local.demo/identity/ci"),
        ] {
            assert!(
                decode(body(reason, address)).is_err(),
                "{reason:?} {address:?}"
            );
        }
    }
}
