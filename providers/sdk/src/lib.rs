//! `nhi-provider-sdk`: the provider-neutral model of non-human identities and the
//! [`Provider`] trait every provider implements. Providers depend on this crate and
//! on nothing else of nhi; the engine depends on it to plan and apply.

mod address;
mod age;
mod digest;
mod error;
pub mod files;
pub mod lockfile;
mod model;
mod operation;
pub mod parallel;
pub mod plugin;
mod policy;
mod progress;
mod provider;
pub mod settings;
pub mod settle;
mod tags;
pub mod text;
mod validate;

pub use address::Address;
pub use age::{Age, AgeError};
pub use digest::{Digest, DigestError, fingerprint};
pub use error::ProviderError;
pub use model::{Binding, Identity, KeyStatus, ObservedIdentity, ObservedKey, ObservedState};
pub use operation::{Operation, Sink, SinkKind};
pub use policy::Policy;
pub use progress::ProgressSink;
pub use provider::{
    ApplyRequest, ApplyResponse, DescribeResponse, LockGuard, LockRequest, PreflightRequest,
    PreflightResponse, Preparing, Provider, ProviderContext, ProviderType, ReadRequest,
    ReadResponse, RecordKeyRequest, SecretForm, SecretMaterial,
};
pub use tags::Tags;
pub use validate::{
    DeclaredIdentity, DeclaredPart, ValidateRequest, ValidateResponse, ValidationProblem,
};
