//! `nhi` plans, signs, approves and applies changes to non-human identities.
//!
//! Architecture, following the data (docs/architecture.md has the picture):
//! - [`config`] turns desired-state YAML into a validated model, with spans for
//!   errors; provider types (found in a [`registry::Registry`]) judge what only a
//!   cloud can, in one batched `validate` request;
//! - [`refresh`] is the one read path: connect a provider block, describe its
//!   scope, read and check its live state;
//! - [`diff`] compares desired and observed state into ordered changes (pure);
//! - [`plan`] owns the plan body and its checks; [`plan::plan`] is the plan
//!   operation (configuration, refresh, diff, build);
//! - [`minted`] reads which keys nhi minted from the receipt log, so that the
//!   diff recognises them whatever the provider's record says;
//! - [`sealed`] is the one envelope of plan and receipt files (exact body bytes,
//!   digest, signatures); [`receipt`] is the record of an apply;
//! - [`trust`] signs and verifies plans and receipts, and judges approvals, in
//!   the plan file or detached beside it;
//! - [`apply`] verifies, locks, re-reads, refuses stale plans, executes (journalled)
//!   and writes receipts; [`sink`] confines file sinks and checks them at
//!   validate, plan and apply;
//! - [`revoke`] is the kill path: reducing operations only, within the trust
//!   policy's `revoke` bar, a signed record, and the check that keeps later plans
//!   from undoing it;
//! - [`log`] is the hash-chained receipt log, in a directory or (with
//!   [`backend`]) an S3 bucket that also holds fenced scope leases; [`unlock`]
//!   takes over the leases of a holder that died;
//! - [`drift`] and [`audit`] are the read-only looks: what differs from the
//!   configuration, and the live estate judged by the policy's rules;
//!   [`import`] turns a scope into the configuration that declares it;
//! - [`events`] carry progress out of long operations; [`clock`] is the time;
//! - `render` is the only place that writes to stdout or stderr, and `cli` maps
//!   each subcommand onto the operations above.

pub mod apply;
pub mod audit;
pub mod backend;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diff;
pub mod drift;
pub mod events;
pub mod import;
pub mod kit;
pub mod log;
pub mod minted;
pub mod plan;
pub mod policy;
pub mod receipt;
pub mod refresh;
pub mod registry;
pub mod render;
pub mod revoke;
pub mod sealed;
pub mod sink;
pub mod trust;
pub mod unlock;

/// Checks that `schemas/<name>` holds `schema` as generated from the types;
/// `NHI_UPDATE_SCHEMAS=1` rewrites it instead.
#[cfg(test)]
pub(crate) fn check_schema_file(name: &str, schema: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let mut generated = serde_json::to_string_pretty(schema).expect("invariant: schemas serialise");
    generated.push('\n');
    if std::env::var_os("NHI_UPDATE_SCHEMAS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("schemas/ is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/{name} is out of date: run `NHI_UPDATE_SCHEMAS=1 scripts/test`"
    );
}
