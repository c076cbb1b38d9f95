//! Errors reading, checking and judging plan files.

use std::path::PathBuf;

use miette::Diagnostic;
use nhi_provider_sdk::Digest;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum PlanError {
    #[error("cannot read plan file `{path}`")]
    #[diagnostic(
        code(nhi::plan::read),
        help("check the path; plans are written by `nhi plan -o FILE`")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write plan file `{path}`")]
    #[diagnostic(
        code(nhi::plan::write),
        help("check that the directory exists and is writable")
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("plan file is larger than {limit} bytes")]
    #[diagnostic(
        code(nhi::plan::too_large),
        help("this is not a plan nhi wrote; refuse it")
    )]
    TooLarge { limit: u64 },

    #[error("`{path}` is an apply receipt, not a plan")]
    #[diagnostic(
        code(nhi::plan::is_a_receipt),
        help("check a receipt with `nhi verify {path} --plan PLAN`")
    )]
    IsAReceipt { path: String },

    #[error("not an nhi plan file: {detail}")]
    #[diagnostic(
        code(nhi::plan::not_a_plan),
        help("plans are JSON files written by `nhi plan -o FILE`")
    )]
    NotAPlan { detail: String },

    #[error("unsupported plan format version `{found}`")]
    #[diagnostic(
        code(nhi::plan::unsupported_format),
        help(
            "this build reads format version {supported}; plan again with this nhi, or use the nhi that wrote the plan"
        )
    )]
    UnsupportedFormat { found: String, supported: String },

    #[error("plan file is malformed: {detail}")]
    #[diagnostic(
        code(nhi::plan::malformed),
        help("the file was edited or damaged; plan again")
    )]
    Malformed { detail: String },

    #[error("plan body does not match its digest: recorded `{recorded}`, computed `{computed}`")]
    #[diagnostic(
        code(nhi::plan::digest_mismatch),
        help("the plan body was changed after it was written; do not apply it, plan again")
    )]
    DigestMismatch { recorded: Digest, computed: Digest },

    #[error("plan body is inconsistent: {detail}")]
    #[diagnostic(
        code(nhi::plan::inconsistent),
        help("nhi never writes such a plan; it was crafted or edited by hand: do not apply it")
    )]
    Inconsistent { detail: String },
}
