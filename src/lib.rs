//! `nhi` plans, signs, approves and applies changes to non-human identities.
//!
//! Architecture, following the data:
//! - [`config`] turns desired-state YAML into a validated model, with spans for errors;
//! - providers (crates under `providers/`, found through `registry`) read live state;
//! - [`diff`] compares desired and observed state into ordered changes (pure);
//! - [`plan`] owns the plan body, its canonical bytes, digests and the file envelope;
//! - `render` is the only place that writes to stdout;
//! - [`trust`] signs and verifies plans and receipts, and judges approvals;
//! - [`apply`] verifies, locks, re-reads, refuses stale plans, executes and writes receipts;
//! - `cli` maps each subcommand onto those pieces.

pub mod apply;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diff;
pub mod events;
pub mod plan;
pub mod receipt;
pub mod refresh;
pub mod registry;
pub mod render;
pub mod sealed;
pub mod trust;
