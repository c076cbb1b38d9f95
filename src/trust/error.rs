//! Errors of signing, trust policies, verification and detached approvals. Each
//! has a stable code; apply stops at the first and changes nothing.

use std::path::PathBuf;

use miette::Diagnostic;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum TrustError {
    #[error("cannot use key `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::trust::key),
        help("pass an OpenSSH ed25519 private key, or its `.pub` file to sign through ssh-agent")
    )]
    Key { path: PathBuf, detail: String },

    #[error("key `{path}` is encrypted")]
    #[diagnostic(
        code(nhi::trust::encrypted_key),
        help(
            "load it into ssh-agent (`ssh-add {path}`) and pass the public key: `--key {path}.pub`"
        )
    )]
    EncryptedKey { path: String },

    #[error("cannot sign through ssh-agent: {detail}")]
    #[diagnostic(
        code(nhi::trust::agent),
        help("start an agent and add the key (`eval $(ssh-agent)`, `ssh-add KEY`)")
    )]
    Agent { detail: String },

    #[error("cannot sign: {detail}")]
    #[diagnostic(code(nhi::trust::sign))]
    Sign { detail: String },

    #[error("no principal to sign as")]
    #[diagnostic(
        code(nhi::trust::principal),
        help(
            "pass `--principal NAME` (as listed in allowed_signers) or give the key a comment (`ssh-keygen -c`)"
        )
    )]
    NoPrincipal,

    #[error("principal `{principal}` is not valid")]
    #[diagnostic(
        code(nhi::trust::principal),
        help("principals are printable ASCII without spaces, commas, quotes or wildcards")
    )]
    BadPrincipal { principal: String },

    #[error("no trust policy given")]
    #[diagnostic(
        code(nhi::trust::no_policy),
        help("pass `--trust FILE` or set `NHI_TRUST`; the default `{default}` does not exist")
    )]
    NoPolicy { default: String },

    #[error("cannot use trust policy `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::trust::policy),
        help("see \"Trust policy\" in the README for the format")
    )]
    Policy { path: PathBuf, detail: String },

    /// A trust policy that is not well-formed YAML of the right shape, or holds a
    /// value nhi refuses, shown with the offending text underlined.
    #[error(transparent)]
    #[diagnostic(transparent)]
    PolicyInvalid(Box<PolicyProblem>),

    #[error(
        "the trust policy requires plans judged with the Rego bundle `{required}`; this plan was judged with {judged}"
    )]
    #[diagnostic(
        code(nhi::trust::policy_bundle),
        help(
            "plan again with the organisation's bundle under `policy.rego` (its digest is printed by `nhi policy test`)"
        )
    )]
    PolicyBundle { required: String, judged: String },

    #[error(
        "the trust policy refuses partial plans (`partial_plans: refuse`); this plan holds only the changes for {targets}"
    )]
    #[diagnostic(
        code(nhi::trust::partial),
        help(
            "plan without `--target`, so that the plan reconciles everything, and have it approved again"
        )
    )]
    PartialRefused { targets: String },

    #[error(
        "the trust policy does not allow plugin `{plugin}` (`{digest}`), which provider `{provider}` runs"
    )]
    #[diagnostic(
        code(nhi::trust::plugin_not_allowed),
        help(
            "review the plugin executable; if it may run, add its digest to `plugins.allow` in the trust policy"
        )
    )]
    PluginNotAllowed {
        plugin: String,
        digest: String,
        provider: String,
    },

    #[error("cannot read allowed signers file `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::trust::allowed_signers),
        help(
            "the trust policy's `allowed_signers` names this file, relative to the policy's own directory; check the path and its permissions"
        )
    )]
    AllowedSignersRead { path: PathBuf, detail: String },

    #[error("cannot use allowed signers file `{path}` (line {line}): {detail}")]
    #[diagnostic(
        code(nhi::trust::allowed_signers),
        help("the format is OpenSSH's: `principal[,principal] [options] ssh-ed25519 KEY`")
    )]
    AllowedSigners {
        path: PathBuf,
        line: usize,
        detail: String,
    },

    #[error("signature {index} is invalid: {detail}")]
    #[diagnostic(
        code(nhi::trust::bad_signature),
        help(
            "the plan or its signatures were altered; do not apply it as it is (a signature that does not count can be dropped: `nhi unsign PLAN {index}`)"
        )
    )]
    BadSignature { index: usize, detail: String },

    #[error("receipt signature {index} is not an applier signature")]
    #[diagnostic(code(nhi::trust::bad_signature))]
    NotApplier { index: usize },

    #[error(
        "the {role} signature of `{principal}` was made for another plan (`{signed}`), not this one (`{actual}`)"
    )]
    #[diagnostic(
        code(nhi::trust::wrong_plan),
        help(
            "signatures cannot be moved between plans; have the plan signed or approved again (`nhi unsign PLAN {index}` drops this one)"
        )
    )]
    WrongPlan {
        /// The signature's position, from 1, as `nhi verify` numbers it.
        index: usize,
        role: String,
        principal: String,
        signed: String,
        actual: String,
    },

    #[error(
        "the {role} signature claims principal `{principal}`, but allowed signers do not list its key `{key}` for `{principal}`"
    )]
    #[diagnostic(
        code(nhi::trust::unknown_signer),
        help(
            "only keys in the trust policy's allowed_signers count; listed principals of this key: {listed} (`nhi unsign PLAN {index}` drops this signature)"
        )
    )]
    UnknownSigner {
        /// The signature's position, from 1, as `nhi verify` numbers it.
        index: usize,
        role: String,
        principal: String,
        key: String,
        listed: String,
    },

    #[error("the plan has no author signature")]
    #[diagnostic(
        code(nhi::trust::unsigned),
        help("sign it: `nhi sign PLAN --key KEY` (or `nhi plan -o PLAN --sign-key KEY`)")
    )]
    Unsigned,

    #[error("the plan has {count} author signatures")]
    #[diagnostic(
        code(nhi::trust::multiple_authors),
        help("a plan has exactly one author; plan again")
    )]
    MultipleAuthors { count: usize },

    #[error("author `{principal}` may not author plans under this trust policy")]
    #[diagnostic(
        code(nhi::trust::author_not_allowed),
        help("the policy's `authors` list names who may plan")
    )]
    AuthorNotAllowed { principal: String },

    #[error(
        "the plan's approvals do not meet the trust policy ({have} counted, {need} required): {detail}"
    )]
    #[diagnostic(
        code(nhi::trust::insufficient_approvals),
        help("ask reviewers to run `nhi approve PLAN --key KEY`")
    )]
    InsufficientApprovals {
        have: usize,
        need: usize,
        detail: String,
    },

    #[error("the plan expired at {expires_at} (now {now})")]
    #[diagnostic(
        code(nhi::plan::expired),
        help("plan again and have the new plan approved")
    )]
    Expired {
        expires_at: jiff::Timestamp,
        now: jiff::Timestamp,
    },

    #[error("the plan was created at {created_at}, in the future (now {now})")]
    #[diagnostic(
        code(nhi::plan::expired),
        help("check the planner's clock; plan again")
    )]
    FromTheFuture {
        created_at: jiff::Timestamp,
        now: jiff::Timestamp,
    },

    /// A detached approval refused (`--signatures`, `nhi merge`), naming its file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Approval(Box<ApprovalError>),
}

/// What is wrong in a trust policy file, and where.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(nhi::trust::policy))]
pub struct PolicyProblem {
    pub(crate) message: String,
    #[help]
    pub(crate) help: String,
    #[source_code]
    pub(crate) src: miette::NamedSource<std::sync::Arc<str>>,
    #[label(collection)]
    pub(crate) labels: Vec<miette::LabeledSpan>,
}

/// Why a detached approval is refused; apply and merge change nothing.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApprovalError {
    #[error("cannot read approval `{file}`: {detail}")]
    #[diagnostic(
        code(nhi::approval::read),
        help(
            "`--signatures` takes approval files (`nhi approve --detached`) or directories of `*.approval` files"
        )
    )]
    Read { file: String, detail: String },

    #[error("approval `{file}` is larger than {limit} bytes")]
    #[diagnostic(
        code(nhi::approval::too_large),
        help("an approval holds one signature (about 1 KiB); this file is something else")
    )]
    TooLarge { file: String, limit: u64 },

    #[error("approval `{file}` is malformed: {detail}")]
    #[diagnostic(
        code(nhi::approval::malformed),
        help(
            "an approval file holds what `nhi approve --detached` writes: its JSON, or its one line `nhi-approval:v1:…`; remove the file or ask for a new approval"
        )
    )]
    Malformed { file: String, detail: String },

    #[error("more than {limit} approvals; nhi reads at most {limit} signatures for a plan")]
    #[diagnostic(
        code(nhi::approval::too_many),
        help("pass only the approvals of this plan")
    )]
    TooMany { limit: usize },

    #[error("approval `{file}` holds an {role} signature, not an approval")]
    #[diagnostic(
        code(nhi::approval::not_an_approval),
        help(
            "detached files carry approvals only (`nhi approve PLAN --detached`); the author signs the plan itself"
        )
    )]
    NotAnApproval { file: String, role: String },

    #[error("approval `{file}` (claiming `{principal}`) does not verify: it was altered")]
    #[diagnostic(
        code(nhi::approval::invalid),
        help("do not use it; remove the file and ask `{principal}` to approve again")
    )]
    DoesNotVerify { file: String, principal: String },

    #[error(
        "approval `{file}` by `{principal}` was made for another plan (`{signed}`), not this one (`{actual}`)"
    )]
    #[diagnostic(
        code(nhi::approval::wrong_plan),
        help("approvals cannot be moved between plans; ask for an approval of this plan")
    )]
    WrongPlan {
        file: String,
        principal: String,
        signed: String,
        actual: String,
    },

    #[error("approval `{file}` is refused: {detail}")]
    #[diagnostic(
        code(nhi::approval::refused),
        help(
            "apply refuses a plan while an approval given to it does not verify; remove the file, or ask its signer to approve again"
        )
    )]
    Refused { file: String, detail: String },
}
