//! The `postgres` provider against a real PostgreSQL server: a throwaway cluster
//! per test (`server`), driven through the `Provider` trait as the engine drives
//! it, and changed by hand with `psql` where a test needs drift.

mod flows;
mod harness;
mod refusals;
#[allow(dead_code)]
mod server;
