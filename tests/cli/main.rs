//! End-to-end tests of the `nhi` binary: one test binary, one module per area.

mod harness;
mod plan;
mod trust;
mod validate;
