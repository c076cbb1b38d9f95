//! End-to-end tests of the `nhi` binary: one test binary, one module per area.
#![allow(
    clippy::needless_pass_by_value,
    clippy::format_push_string,
    clippy::items_after_statements,
    clippy::semicolon_if_nothing_returned
)]

mod apply;
mod approvals;
mod auditor;
mod aws;
mod ci;
mod delivery;
mod drift;
mod flow;
mod forge;
mod gate;
mod gcp;
mod gcp_google;
mod gcp_keys;
mod gcp_limits;
mod gcp_progress;
mod governance;
mod harness;
mod import;
mod include;
mod log;
mod moto;
mod plan;
mod planted_keys;
mod plugin;
mod postgres;
mod privilege;
mod refusals;
mod replace;
mod retire;
mod revoke;
mod revoke_clouds;
mod s3;
mod setup;
mod standin;
mod target;
mod team;
mod trust;
mod validate;
mod walkthroughs;
