//! The one error type every provider call returns.

/// What can go wrong inside a provider. Messages are lowercase and name the object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider block's settings are unusable.
    #[error("invalid provider settings: {0}")]
    Settings(String),
    /// An object the change needs does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// An object the change would create already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The live estate is unreadable or violates the provider's own format.
    #[error("live state is unusable: {0}")]
    Corrupt(String),
    /// The scope lock is held by someone else.
    #[error("the scope lock is held by {holder}")]
    Locked { holder: String },
    /// The cloud refused the call for lack of permission.
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The provider cannot carry out this kind of operation at all.
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
    /// The change may or may not have happened: a provider behind a pipe crashed,
    /// hung or answered garbage after the change was sent. The receipt records it
    /// as unknown, and the next plan re-reads before anything is retried.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl ProviderError {
    /// Whether the provider cannot say if the call took effect.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown(_))
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
