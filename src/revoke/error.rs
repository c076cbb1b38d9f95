//! Why a revocation was refused or failed.

use miette::Diagnostic;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RevokeError {
    #[error("the trust policy `{policy}` gives nobody the right to revoke")]
    #[diagnostic(
        code(nhi::revoke::no_bar),
        help(
            "add `revoke: {{required: 1, signers: [oncall@example.com]}}` to the trust policy; nothing was changed"
        )
    )]
    NoBar { policy: String },

    #[error("a revocation needs a reason")]
    #[diagnostic(
        code(nhi::revoke::reason),
        help(
            "say why with `--reason TEXT` (at most 500 characters); it goes into the signed record"
        )
    )]
    Reason,

    #[error("key `{key}` may not revoke: {detail}")]
    #[diagnostic(
        code(nhi::revoke::not_allowed),
        help(
            "sign with a key of a principal in the trust policy's `revoke.signers`, listed in its allowed signers; nothing was changed"
        )
    )]
    NotAllowed { key: String, detail: String },

    #[error(
        "the revocation is signed by {got} of the {required} principals the trust policy's `revoke` bar needs"
    )]
    #[diagnostic(
        code(nhi::revoke::under_signed),
        help("give one `--key` per principal of `revoke.signers`; nothing was changed")
    )]
    UnderSigned { got: usize, required: usize },

    #[error("`{address}` is in no provider block of the configuration")]
    #[diagnostic(
        code(nhi::revoke::unknown_scope),
        help(
            "addresses start with `<type>.<name>` of a provider block, e.g. `aws.prod/identity/ci/key/primary`; nothing was changed"
        )
    )]
    UnknownScope { address: String },

    #[error("`{address}` does not exist in live state")]
    #[diagnostic(
        code(nhi::revoke::not_found),
        help("`nhi plan` or `nhi drift` lists the live addresses; nothing was changed")
    )]
    NotFound { address: String },

    #[error("`{address}` is {what}, which revoke does not act on")]
    #[diagnostic(
        code(nhi::revoke::unsupported),
        help("revoke a key, an identity or a binding; nothing was changed")
    )]
    Unsupported { address: String, what: String },

    #[error(
        "refusing to ask provider `{provider}` for `{operation}`: it does not only reduce access"
    )]
    #[diagnostic(
        code(nhi::revoke::not_a_reduction),
        help("this is a bug in nhi; revoke never creates, grants or re-enables")
    )]
    NotAReduction { provider: String, operation: String },

    #[error("cannot lock scope `{scope}`")]
    #[diagnostic(
        code(nhi::revoke::locked),
        help("another apply or revoke holds it; wait with `--lock-timeout`, nothing was changed")
    )]
    Locked {
        scope: String,
        #[source]
        source: nhi_provider_sdk::ProviderError,
    },

    #[error("revoking `{address}` failed: {detail}")]
    #[diagnostic(
        code(nhi::revoke::failed),
        help(
            "what ran before it is in the record `{record}`; fix the cause and revoke again (revoke is idempotent)"
        )
    )]
    Failed {
        address: String,
        detail: String,
        record: String,
    },

    #[error("cannot write the revocation record `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::revoke::record),
        help("the revocation ran; keep its output as the record and fix the directory")
    )]
    Record { path: String, detail: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refresh(#[from] crate::refresh::RefreshError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Trust(#[from] crate::trust::TrustError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(#[from] crate::log::LogError),

    /// A scope's shared lock in S3.
    #[error(transparent)]
    #[diagnostic(transparent)]
    SharedLock(#[from] crate::backend::LockError),
}
