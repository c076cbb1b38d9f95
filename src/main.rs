//! The `nhi` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

// Planning allocates millions of small strings and maps; mimalloc does that
// about 40% faster than the system allocator (docs/benchmark.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    nhi::cli::main()
}
