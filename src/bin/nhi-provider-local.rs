//! The `local` provider served as a plugin over `nhi-provider/1`: what the
//! conformance kit, the plugin tests and `scripts/bench-plugin` run.

use nhi_provider_sdk::plugin::{About, serve, wire::Call};

// The allocator nhi itself uses: reading an estate allocates as planning does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // The local type keeps the SDK's defaults for these, so nhi need not ask.
    let about = About::new("local", env!("CARGO_PKG_VERSION"))
        .without_call(Call::NORMALIZE_POLICY)
        .without_call(Call::NORMALIZE_ATTRIBUTES)
        .without_call(Call::ADVICE)
        .without_call(Call::RETIRE_FIRST)
        .without_call(Call::CHECK_SINK)
        .without_call(Call::PREFLIGHT)
        // Its `validate` judges names alone.
        .validating(&["kind", "name"])
        .with_test_hooks();
    serve(&nhi_provider_local::LocalType, &about)
}
