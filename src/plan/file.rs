//! The on-disk plan file: a JSON envelope holding the body as an exact string, its
//! digest, and the signatures over it. This module alone encodes and decodes it.
//!
//! ```json
//! {
//!   "nhi_plan": 1,
//!   "body_digest": "sha256:…",
//!   "body": "{\"format_version\":1,…}",
//!   "signatures": [{ "statement": "…", "signature": "-----BEGIN SSH SIGNATURE-----…" }]
//! }
//! ```
//!
//! The body is kept as a string so that its digest covers exact bytes that any
//! tool can extract (`jq -j .body plan.json | sha256sum`), never a re-serialisation.

use std::path::Path;

use nhi_provider_sdk::Digest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::body::PlanBody;
use super::{PlanError, check};

/// The envelope layout version.
pub const FILE_FORMAT_VERSION: u32 = 1;

/// Plans larger than this are refused unread.
pub const MAX_PLAN_BYTES: u64 = 512 * 1024 * 1024;

/// One signature over the body: the exact statement text that was signed, and the
/// armored SSHSIG signature of it. Role, principal and time live only inside the
/// statement, so nothing unsigned can disagree with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    pub statement: String,
    pub signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    nhi_plan: u32,
    body_digest: String,
    body: String,
    #[serde(default)]
    signatures: Vec<SignatureRecord>,
}

#[derive(Deserialize)]
struct Probe {
    nhi_plan: Option<serde_json::Value>,
}

/// A decoded, digest-checked and consistency-checked plan file.
#[derive(Debug, Clone)]
pub struct PlanFile {
    pub body: PlanBody,
    /// The exact bytes the digest and every signature cover.
    body_text: String,
    pub digest: Digest,
    pub signatures: Vec<SignatureRecord>,
}

impl PlanFile {
    /// Wraps a freshly built body; its canonical text is compact JSON with fields
    /// in declaration order and every map sorted.
    pub fn new(body: PlanBody) -> Self {
        let (body_text, digest) = seal(&body);
        Self {
            body,
            body_text,
            digest,
            signatures: Vec::new(),
        }
    }

    /// The exact bytes that are hashed and signed.
    pub fn body_bytes(&self) -> &[u8] {
        self.body_text.as_bytes()
    }

    pub fn encode(&self) -> Vec<u8> {
        let envelope = Envelope {
            nhi_plan: FILE_FORMAT_VERSION,
            body_digest: self.digest.to_string(),
            body: self.body_text.clone(),
            signatures: self.signatures.clone(),
        };
        let mut out = serde_json::to_vec_pretty(&envelope).expect("invariant: envelopes serialise");
        out.push(b'\n');
        out
    }

    /// Parses and checks a plan: envelope version, body digest over the exact
    /// bytes, body version, and the body's internal consistency. Signatures are
    /// carried but judged by `trust`.
    pub fn decode(bytes: &[u8]) -> Result<Self, PlanError> {
        if bytes.len() as u64 > MAX_PLAN_BYTES {
            return Err(PlanError::TooLarge {
                limit: MAX_PLAN_BYTES,
            });
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| PlanError::NotAPlan {
            detail: e.to_string(),
        })?;
        match probe.nhi_plan {
            None => {
                return Err(PlanError::NotAPlan {
                    detail: "it has no `nhi_plan` field".into(),
                });
            }
            Some(serde_json::Value::Number(n))
                if n.as_u64() == Some(u64::from(FILE_FORMAT_VERSION)) => {}
            Some(other) => {
                let found: String = other.to_string().chars().take(40).collect();
                return Err(PlanError::UnsupportedFormat {
                    found,
                    supported: FILE_FORMAT_VERSION,
                });
            }
        }
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| PlanError::Malformed {
                detail: e.to_string(),
            })?;
        let computed = check_digest(&envelope.body_digest, &envelope.body)?;
        let body: PlanBody =
            serde_json::from_str(&envelope.body).map_err(|e| PlanError::Malformed {
                detail: format!("body: {e}"),
            })?;
        check::check(&body)?;
        Ok(Self {
            body,
            body_text: envelope.body,
            digest: computed,
            signatures: envelope.signatures,
        })
    }

    pub fn read(path: &Path) -> Result<Self, PlanError> {
        let read = |source| PlanError::Read {
            path: path.to_owned(),
            source,
        };
        // One open and one bounded read: the size check holds for the bytes decoded.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(file, MAX_PLAN_BYTES + 1),
                    &mut bytes,
                )
            })
            .map_err(read)?;
        Self::decode(&bytes)
    }

    /// Writes the plan atomically: a temporary file beside the target, then rename.
    pub fn write(&self, path: &Path) -> Result<(), PlanError> {
        write_atomic(path, &self.encode()).map_err(|source| PlanError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// The canonical text of a plan or receipt body (compact JSON, fields in
/// declaration order, maps sorted) and its digest.
pub(crate) fn seal<T: Serialize>(body: &T) -> (String, Digest) {
    let text = serde_json::to_string(body).expect("invariant: plan and receipt bodies serialise");
    let digest = Digest::of(text.as_bytes());
    (text, digest)
}

/// Checks an envelope's recorded digest against the exact body text it carries.
pub(crate) fn check_digest(recorded: &str, body: &str) -> Result<Digest, PlanError> {
    let recorded: Digest = recorded
        .parse()
        .map_err(|e: nhi_provider_sdk::DigestError| PlanError::Malformed {
            detail: e.to_string(),
        })?;
    let computed = Digest::of(body.as_bytes());
    if recorded != computed {
        return Err(PlanError::DigestMismatch { recorded, computed });
    }
    Ok(computed)
}

/// Writes bytes to a temporary file in the target's directory, syncs, and renames
/// it over the target, so readers see the old file or the new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "plan".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::PlanFile;

    fn sample() -> PlanFile {
        let yaml = "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings: {state: estate.json}\nidentities:\n  - name: a\n    provider: demo\n    owner: o@example.com\n    keys:\n      - name: k\n        sink: {file: k.key}\n    bindings:\n      - role: viewer\n";
        let config = crate::config::parse(std::path::Path::new("nhi.yaml"), yaml).unwrap();
        let observed = nhi_provider_sdk::ObservedState::default();
        let scopes = [crate::diff::Scope {
            block: &config.providers[0],
            observed: &observed,
            key_slots: None,
            retire: None,
        }];
        let now: jiff::Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let diff = crate::diff::diff(&config, &scopes, now);
        let reads = [super::super::ScopeRead {
            block: &config.providers[0],
            scope: "s".into(),
            observed: &observed,
            observed_digest: None,
        }];
        let options = super::super::PlanOptions {
            author: "a".into(),
            now,
            valid_for: jiff::SignedDuration::from_hours(24),
        };
        PlanFile::new(super::super::build(&config, &reads, diff, &options))
    }

    #[test]
    fn encode_decode_round_trips_exactly() {
        let file = sample();
        let bytes = file.encode();
        let back = PlanFile::decode(&bytes).unwrap();
        assert_eq!(back.body, file.body);
        assert_eq!(back.encode(), bytes);
    }

    proptest! {
        #[test]
        fn every_plan_the_engine_builds_passes_its_own_checks(estate in crate::diff::tests::arb_estate()) {
            let (config, observed) = estate;
            let scopes = [crate::diff::Scope { block: &config.providers[0], observed: &observed, key_slots: None, retire: None }];
            let now = crate::diff::tests::now();
            let diff = crate::diff::diff(&config, &scopes, now);
            let reads = [super::super::ScopeRead { block: &config.providers[0], scope: "s".into(), observed: &observed, observed_digest: None }];
            let options = super::super::PlanOptions { author: "a".into(), now, valid_for: jiff::SignedDuration::from_hours(24) };
            let file = PlanFile::new(super::super::build(&config, &reads, diff, &options));
            let decoded = PlanFile::decode(&file.encode());
            prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
        }

        #[test]
        fn hostile_bytes_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut bytes = sample().encode();
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let _ = PlanFile::decode(&bytes);
        }

        #[test]
        fn any_change_to_the_body_is_caught(at in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
            let file = sample();
            let mut value: serde_json::Value = serde_json::from_slice(&file.encode()).unwrap();
            let mut body = value["body"].as_str().unwrap().as_bytes().to_vec();
            let i = at.index(body.len());
            prop_assume!(body[i] != byte);
            body[i] = byte;
            let Ok(body) = String::from_utf8(body) else { return Ok(()) };
            value["body"] = body.into();
            let err = PlanFile::decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
            prop_assert!(matches!(err, super::PlanError::DigestMismatch { .. }), "{err:?}");
        }
    }
}
