//! The aws provider against a real IAM emulator: moto's server, started once for
//! this test binary. Each test works under its own IAM path and names, so tests
//! run in parallel against the one server.
//!
//! One module per concept (`identities`, `keys`, `groups`, `read`, `errors`), on the
//! server of `harness`, started by the launcher the CLI tests share (`server`), and a fault-injecting
//! proxy in front of it for what real IAM enforces and moto does not (`proxy`).

macro_rules! moto_or_skip {
    () => {
        match crate::harness::moto() {
            Some(moto) => moto,
            None => return,
        }
    };
}

mod errors;
mod fixtures;
mod groups;
mod harness;
mod identities;
mod keys;
mod proxy;
mod read;
mod server;
