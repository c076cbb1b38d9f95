//! The plan file: a [`Sealed`] envelope tagged `nhi_plan` around a [`PlanBody`].
//! Decoding a plan also checks the body's internal consistency, so what a
//! reviewer reads is what runs.

use std::path::Path;

use super::body::PlanBody;
use super::{PlanError, check};
use crate::sealed::{SealError, Sealed, SealedBody};

pub use crate::sealed::SignatureRecord;

/// The envelope layout version.
pub const FILE_FORMAT_VERSION: u32 = 1;

/// Plans larger than this are refused unread: room for a plan that creates every
/// identity of the largest configuration nhi reads (64 MiB), while `show` of the
/// largest plan stays under a GiB of memory.
pub const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

impl SealedBody for PlanBody {
    const TAG: &'static str = "nhi_plan";
    const VERSION: u32 = FILE_FORMAT_VERSION;
    const MAX_BYTES: u64 = MAX_PLAN_BYTES;
}

/// A decoded, digest-checked and consistency-checked plan file.
pub type PlanFile = Sealed<PlanBody>;

impl From<SealError> for PlanError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::TooLarge { limit } => Self::TooLarge { limit },
            SealError::NotSealed { detail } => Self::NotAPlan { detail },
            SealError::UnsupportedFormat { found } => Self::UnsupportedFormat {
                found,
                supported: FILE_FORMAT_VERSION.to_string(),
            },
            SealError::Malformed { detail } => Self::Malformed { detail },
            SealError::DigestMismatch { recorded, computed } => {
                Self::DigestMismatch { recorded, computed }
            }
            SealError::Body { detail } => Self::Malformed {
                detail: format!("body: {detail}"),
            },
        }
    }
}

impl Sealed<PlanBody> {
    /// Parses and checks a plan: envelope version, body digest over the exact
    /// bytes, body version, and the body's internal consistency. Signatures are
    /// carried but judged by `trust`.
    pub fn decode(bytes: &[u8]) -> Result<Self, PlanError> {
        let file = Self::unseal(bytes)?;
        check::check(&file.body)?;
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<Self, PlanError> {
        let bytes = crate::sealed::read_bounded(path, MAX_PLAN_BYTES).map_err(|source| {
            PlanError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        // Only bytes that are no plan are looked at again, as a receipt.
        match Self::decode(&bytes) {
            Err(PlanError::NotAPlan { .. }) if crate::receipt::is_receipt(&bytes) => {
                Err(PlanError::IsAReceipt {
                    path: path.display().to_string(),
                })
            }
            decoded => decoded,
        }
    }

    /// Writes the plan atomically: a temporary file beside the target, then rename.
    pub fn write(&self, path: &Path) -> Result<(), PlanError> {
        self.store(path).map_err(|source| PlanError::Write {
            path: path.to_owned(),
            source,
        })
    }
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
            plugin: None,
        }];
        let options = super::super::BuildOptions {
            author: "a".into(),
            now,
            valid_for: jiff::SignedDuration::from_hours(24),
            config_dir: "/work".into(),
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

    /// Addresses nhi builds never hold a control character: a plan whose
    /// unmanaged or touched addresses do was not built by nhi, and apply would
    /// print them raw.
    #[test]
    fn an_address_with_a_control_character_is_refused() {
        let mut body = sample().body;
        body.unmanaged.push(nhi_provider_sdk::Address::raw(
            "local.demo/identity/x\u{1b}[8m",
        ));
        body.summary.unmanaged = 1;
        let err = PlanFile::decode(&PlanFile::new(body).encode()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plan body is inconsistent: the address `local.demo/identity/x\\u{1b}[8m` holds a control character"
        );
    }

    /// What a partial plan must keep of its target's dependencies: a key of a
    /// new identity comes after the identity's creation.
    #[test]
    fn a_part_of_an_identity_nobody_creates_is_refused() {
        let mut body = sample().body;
        assert_eq!(body.changes[0].address.as_str(), "local.demo/identity/a");
        body.changes.remove(0);
        body.summary = super::super::Summary::of(&body.changes, 0);
        let err = PlanFile::decode(&PlanFile::new(body).encode()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plan body is inconsistent: change 1 (`local.demo/identity/a/binding/viewer`): its identity does not exist and the plan does not create it first"
        );
    }

    proptest! {
        #[test]
        fn every_plan_the_engine_builds_passes_its_own_checks(estate in crate::diff::tests::arb_estate()) {
            let (config, observed) = estate;
            let scopes = [crate::diff::Scope { block: &config.providers[0], observed: &observed, key_slots: None, retire: None }];
            let now = crate::diff::tests::now();
            let diff = crate::diff::diff(&config, &scopes, now);
            let reads = [super::super::ScopeRead { block: &config.providers[0], scope: "s".into(), observed: &observed, observed_digest: None, plugin: None }];
            let options = super::super::BuildOptions { author: "a".into(), now, valid_for: jiff::SignedDuration::from_hours(24), config_dir: "/work".into() };
            let mut body = super::super::build(&config, &reads, diff, &options);
            let judged = [crate::policy::ScopeInput {
                prefix: nhi_provider_sdk::Address::provider(&config.providers[0].type_name, &config.providers[0].name),
                type_name: &config.providers[0].type_name,
                reports_key_use: true,
                observed: &observed,
            }];
            body.findings = crate::policy::judge_body(&body, &judged, Some(&config), false);
            let file = PlanFile::new(body);
            let decoded = PlanFile::decode(&file.encode());
            prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
        }

        /// Partial plans too: targets (an identity, and a key of another) and
        /// replacements of whatever the estate holds that can be replaced.
        #[test]
        fn every_partial_plan_the_engine_builds_passes_its_own_checks(estate in crate::diff::tests::arb_estate(), pick in any::<prop::sample::Index>()) {
            let (config, observed) = estate;
            let scopes = [crate::diff::Scope { block: &config.providers[0], observed: &observed, key_slots: Some(2), retire: None }];
            let prefix = nhi_provider_sdk::Address::provider(&config.providers[0].type_name, &config.providers[0].name);
            let mut request = crate::diff::Request::default();
            if !config.identities.is_empty() {
                let want = &config.identities[pick.index(config.identities.len())];
                let identity = prefix.identity(&want.identity.name);
                match want.keys.first() {
                    Some(key) => request.targets.insert(identity.key(&key.name)),
                    None => request.targets.insert(identity),
                };
            }
            for have in &observed.identities {
                let identity = prefix.identity(&have.identity.name);
                for (address, _) in crate::diff::key_addresses(&identity, &have.keys) {
                    let mut one = request.clone();
                    one.replace.insert(address);
                    if crate::diff::check_request(&config, &scopes, &one, &|_| true).is_ok() {
                        request = one;
                        break;
                    }
                }
            }
            prop_assume!(crate::diff::check_request(&config, &scopes, &request, &|_| true).is_ok());
            let now = crate::diff::tests::now();
            let mut diff = crate::diff::diff_replacing(&config, &scopes, now, &request.replace);
            let Ok(selected) = crate::diff::select(&mut diff, &request) else { return Ok(()) };
            let reads = [super::super::ScopeRead { block: &config.providers[0], scope: "s".into(), observed: &observed, observed_digest: None, plugin: None }];
            let options = super::super::BuildOptions { author: "a".into(), now, valid_for: jiff::SignedDuration::from_hours(24), config_dir: "/work".into() };
            let mut body = super::super::build(&config, &reads, diff, &options);
            body.set_selection(super::super::SelectionRecord {
                targets: request.targets.iter().cloned().collect(),
                replace: request.replace.iter().cloned().collect(),
                left_out: selected.left_out,
            });
            let judged = [crate::policy::ScopeInput {
                prefix,
                type_name: &config.providers[0].type_name,
                reports_key_use: true,
                observed: &observed,
            }];
            body.findings = crate::policy::judge_body(&body, &judged, Some(&config), true);
            let decoded = PlanFile::decode(&PlanFile::new(body).encode());
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
