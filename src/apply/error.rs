//! Errors of apply after the plan and its trust checked out.

use miette::Diagnostic;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ApplyError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Revoked(#[from] crate::revoke::sticky::StickyError),

    #[error(
        "the configuration `{path}` is not the one the plan was made from (plan: `{planned}`, on disk: `{actual}`)"
    )]
    #[diagnostic(
        code(nhi::apply::config_changed),
        help(
            "plan again from the current configuration, or pass `--ignore-config` where only the plan travels (see README)"
        )
    )]
    ConfigChanged {
        path: String,
        planned: String,
        actual: String,
    },

    #[error("the configuration `{path}` the plan was made from no longer loads")]
    #[diagnostic(
        code(nhi::apply::config_invalid),
        help(
            "the governance gate judges the plan again with it: plan again from a configuration that validates"
        )
    )]
    ConfigInvalid {
        path: String,
        #[source]
        source: Box<crate::config::ConfigError>,
    },

    #[error(
        "the estate shows {} the plan does not record:\n{}",
        if findings.len() == 1 { "a finding".to_owned() } else { format!("{} findings", findings.len()) },
        findings.join("\n")
    )]
    #[diagnostic(
        code(nhi::apply::unjudged),
        help(
            "plan again: the plan's findings were removed or altered, or the live estate changed since it was judged"
        )
    )]
    Unjudged { findings: Vec<String> },

    #[error(
        "the plan does not say it is partial, yet it lacks {} its configuration gives against the unchanged live state (the first: `{first}`)",
        if *count == 1 { "a change".to_owned() } else { format!("{count} changes") }
    )]
    #[diagnostic(
        code(nhi::apply::incomplete),
        help(
            "plan again: the plan's record of its `--target` was removed or its changes were cut; a partial plan must say that it is one"
        )
    )]
    Incomplete { count: usize, first: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Rego(#[from] crate::policy::rego::RegoError),

    #[error(
        "the Rego bundle is not the one the plan was judged with (planned `{planned}`, now `{actual}`)"
    )]
    #[diagnostic(
        code(nhi::apply::rego_changed),
        help(
            "plan again with the bundle as it is now, so that reviewers approve the verdicts it gives"
        )
    )]
    RegoChanged { planned: String, actual: String },

    #[error(
        "the plan was judged with a Rego bundle, which apply judges again with the configuration; `--ignore-config` leaves it unread"
    )]
    #[diagnostic(
        code(nhi::apply::rego_unchecked),
        help("apply in the configuration's directory, without `--ignore-config`")
    )]
    RegoUnchecked,

    #[error("the configuration `{path}` the plan was made from is not here")]
    #[diagnostic(
        code(nhi::apply::config_missing),
        help(
            "run apply in the configuration's directory (`-C DIR`), or pass `--ignore-config` where only the plan travels"
        )
    )]
    ConfigMissing { path: String },

    #[error("{} cannot receive the secret the plan mints:\n{}", if problems.len() == 1 { "a secret sink".to_owned() } else { format!("{} secret sinks", problems.len()) }, problems.iter().map(|p| format!("  `{}`: {}", p.address, p.detail)).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code(nhi::apply::sink),
        help(
            "nothing was changed; fix each sink (or plan again if it changed since planning), then apply"
        )
    )]
    Sinks {
        problems: Vec<crate::sink::SinkProblem>,
    },

    #[error("the live cloud refuses what the plan would do:\n{}", problems.iter().map(|p| format!("  `{}`: {}", p.address, p.detail)).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code(nhi::apply::preflight),
        help("nothing was changed; resolve each, plan again, and have the new plan approved")
    )]
    Preflight {
        problems: Vec<crate::sink::SinkProblem>,
    },

    #[error("apply was interrupted after {done} of {total} changes")]
    #[diagnostic(
        code(nhi::apply::interrupted),
        help(
            "the changes applied so far are recorded in the receipt `{receipt}`; run `nhi plan` to see exactly what remains"
        )
    )]
    Interrupted {
        done: usize,
        total: usize,
        receipt: String,
    },

    #[error("cannot start the apply journal `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::apply::journal),
        help(
            "nothing was changed; a journal left by an earlier apply that did not finish is evidence: keep it, and name another receipt with `--receipt`"
        )
    )]
    Journal { path: String, detail: String },

    #[error("the plan sends key material for `{address}` to a sink its provider refuses: {detail}")]
    #[diagnostic(
        code(nhi::apply::sink_refused),
        help("nhi never plans such a sink; the plan was edited: do not apply it")
    )]
    SinkRefused { address: String, detail: String },

    #[error("the plan sends key material for `{address}` to standard output")]
    #[diagnostic(
        code(nhi::apply::stdout_sink),
        help("pass `--allow-secrets-on-stdout` if you really mean it; prefer a file sink")
    )]
    StdoutSink { address: String },

    #[error("scope `{scope}` connects to {actual}, but the plan says {planned}")]
    #[diagnostic(
        code(nhi::apply::scope_mismatch),
        help(
            "the plan's provider settings do not describe what reviewers were shown; do not apply it"
        )
    )]
    ScopeMismatch {
        scope: String,
        planned: String,
        actual: String,
    },

    #[error("scope `{scope}` was planned with plugin {planned}, but apply would run {actual}")]
    #[diagnostic(
        code(nhi::apply::plugin_mismatch),
        help(
            "the plugin that judged the plan is not the one that would change the estate; plan again with the plugin that should run"
        )
    )]
    PluginMismatch {
        scope: String,
        planned: String,
        actual: String,
    },

    #[error("cannot lock scope `{scope}`")]
    #[diagnostic(
        code(nhi::apply::locked),
        help("another apply holds the lock; wait for it, or pass `--lock-timeout 5m` to wait")
    )]
    Locked {
        scope: String,
        #[source]
        source: nhi_provider_sdk::ProviderError,
    },

    /// A scope's shared lock in S3: held, expired, lost or unusable.
    #[error(transparent)]
    #[diagnostic(transparent)]
    SharedLock(#[from] crate::backend::LockError),

    /// The receipt log cannot take this apply's receipt.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(#[from] crate::log::LogError),

    /// Connecting or reading a scope failed (the one read path plan uses too).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refresh(#[from] crate::refresh::RefreshError),

    #[error("the plan mistakes which live key nhi minted, at change `{change}`: {detail}")]
    #[diagnostic(
        code(nhi::apply::unminted_key),
        help(
            "nothing was changed; the plan was made without the receipt log, from the providers' key records (tags, descriptions), which anyone allowed to write them can forge: plan again with `nhi plan --trust <policy>` and have the new plan approved"
        )
    )]
    UnmintedKey { change: String, detail: String },

    #[error("the plan is stale: {} object{} changed since planning:\n{}", objects.len(), if objects.len() == 1 { "" } else { "s" }, objects.join("\n"))]
    #[diagnostic(
        code(nhi::plan::stale),
        help("nothing was changed; run `nhi plan` again and have the new plan approved")
    )]
    Stale { objects: Vec<String> },

    #[error("change {index} of {total} (`{address}`) failed: {detail}")]
    #[diagnostic(
        code(nhi::apply::change_failed),
        help(
            "changes before it were applied and are recorded in the receipt `{receipt}`; fix the cause, plan again, and apply the new plan"
        )
    )]
    ChangeFailed {
        index: usize,
        total: usize,
        address: String,
        detail: String,
        receipt: String,
    },

    #[error("cannot write receipt `{path}`: {detail}")]
    #[diagnostic(code(nhi::apply::receipt))]
    Receipt { path: String, detail: String },
}
