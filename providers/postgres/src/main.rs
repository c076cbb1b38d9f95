//! `nhi-provider-postgres`: the `postgres` provider served as a plugin
//! (`nhi-provider/1` on standard input and output).

fn main() -> std::process::ExitCode {
    nhi_provider_sdk::plugin::serve(
        &nhi_provider_postgres::PostgresType,
        &nhi_provider_sdk::plugin::About::new("postgres", env!("CARGO_PKG_VERSION")),
    )
}
