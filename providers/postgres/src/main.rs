//! `nhi-provider-postgres`: the `postgres` provider served as a plugin
//! (`nhi-provider/1` on standard input and output).

use nhi_provider_sdk::plugin::{About, serve, wire::Call};

fn main() -> std::process::ExitCode {
    // The type keeps the SDK's defaults for these, so nhi need not ask.
    let about = About::new("postgres", env!("CARGO_PKG_VERSION"))
        .without_call(Call::NORMALIZE_POLICY)
        .without_call(Call::NORMALIZE_ATTRIBUTES)
        .without_call(Call::RETIRE_FIRST)
        .without_call(Call::CHECK_SINK);
    serve(&nhi_provider_postgres::PostgresType, &about)
}
