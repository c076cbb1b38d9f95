//! The `Provider` trait: describe a scope, read what is observed in it, take its
//! lock, and apply one change. One request and one response struct per call, so
//! the trait can grow without breaking providers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use zeroize::Zeroizing;

use std::collections::BTreeMap;

use crate::validate::{DeclaredPart, ValidateRequest, ValidateResponse};
use crate::{ObservedState, Operation, ProviderError, Sink, SinkKind};

/// What a provider is constructed from: its block of the configuration.
#[derive(Debug, Clone)]
pub struct ProviderContext {
    /// The provider block's name, unique in the configuration.
    pub name: String,
    /// The block's type-specific `settings`, as JSON.
    pub settings: serde_json::Value,
    /// Directory relative paths in settings are resolved against.
    pub base_dir: PathBuf,
}

/// A provider type: the static facts the engine needs to validate configuration
/// offline, and the way to connect.
pub trait ProviderType: Send + Sync {
    /// The `type:` value in a provider block, e.g. `local`.
    fn type_name(&self) -> &'static str;
    /// Identity kinds this provider manages; the first is the default.
    fn kinds(&self) -> &'static [&'static str];
    /// Whether the settings are usable; `Err` says what is wrong. Asked at
    /// validation and again before connecting, since plans carry settings too.
    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String>;
    /// Checks declared identities offline: names, attributes, bindings, tags, and
    /// whether the owner and description can be stored where the provider keeps
    /// them (AWS: tags; GCP: the account's 256-byte description, beside the
    /// record of the named keys). By default a provider accepts every name,
    /// binding and tag, and has no attributes.
    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        for (i, identity) in request.identities.iter().enumerate() {
            if let Some(name) = identity.attributes.and_then(|a| a.keys().next()) {
                response.check(
                    i,
                    DeclaredPart::Attributes,
                    Err(format!(
                        "`{}` identities have no attribute `{name}`",
                        self.type_name()
                    )),
                );
            }
        }
        response
    }
    /// Brings provider-specific attributes to the form the provider reports them
    /// in (e.g. a policy document), so equivalent values never show as drift.
    /// Called only for attributes [`Self::validate`] accepted.
    fn normalize_attributes(
        &self,
        kind: &str,
        attributes: BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, serde_json::Value> {
        let _ = kind;
        attributes
    }
    /// The most keys an identity may hold at once (AWS: 2), if the cloud limits
    /// it; rotation then deletes the old key first when every slot is taken.
    fn key_slots(&self) -> Option<usize> {
        None
    }
    /// Whether [`crate::Operation::ReplaceIdentity`] is applied (delete, then
    /// create under the same name); `nhi plan --replace` of an identity is
    /// refused in a scope whose provider cannot.
    fn replaces_identities(&self) -> bool {
        true
    }
    /// Whether reads report when each key was last used
    /// ([`crate::ObservedKey::last_used`]); a provider that never does cannot
    /// tell a key never used from one whose use it does not know.
    fn reports_key_use(&self) -> bool {
        false
    }
    /// Brings an inline policy document to the form the provider reports it in,
    /// so that equivalent documents never show as drift.
    fn normalize_policy(&self, policy: serde_json::Value) -> serde_json::Value {
        policy
    }
    /// The attribute and value that retire an identity reversibly before it is
    /// deleted, when the block's settings ask for it (GCP: `disabled: true` under
    /// `on_delete: disable_first`). A plan then sets that attribute instead of
    /// deleting, and a later plan deletes the identity once it holds.
    fn retire_first(&self, settings: &serde_json::Value) -> Option<(String, serde_json::Value)> {
        let _ = settings;
        None
    }
    /// A warning for reviewers about an operation in this cloud (e.g. that a
    /// deletion becomes irreversible), shown with the planned change.
    fn advice(&self, operation: &crate::Operation) -> Option<&'static str> {
        let _ = operation;
        None
    }
    /// [`Self::advice`] about each of `operations`, in order: what the engine
    /// asks, once per scope of a plan, so that a plugin answers a whole plan in
    /// one round trip.
    fn advise(&self, operations: &[&crate::Operation]) -> Vec<Option<&'static str>> {
        operations.iter().map(|o| self.advice(o)).collect()
    }
    /// The sinks this provider delivers key material to itself (files and
    /// standard output are always delivered by the engine).
    fn sink_kinds(&self) -> &'static [SinkKind] {
        &[]
    }
    /// Whether the settings of a sink of one of [`Self::sink_kinds`] are usable;
    /// `Err` says what to write. Asked at validation and again at apply.
    fn check_sink(&self, kind: &str, settings: &serde_json::Value) -> Result<(), String> {
        let _ = settings;
        Err(format!(
            "the `{}` provider type delivers no `{kind}` sink",
            self.type_name()
        ))
    }
    /// Whether the engine may read this provider's live state while it still
    /// reads the identities of a large configuration. Yes by default: reading a
    /// cloud mostly waits on the network. No for the local provider, whose read
    /// takes the same cores as the configuration's: one after the other, planning
    /// never holds the configuration's text and the whole live state at once.
    fn read_beside_config(&self) -> bool {
        true
    }
    /// Whether a block with `settings` and another block of this type with
    /// `other` manage some of the same objects; `Some` says what they share, e.g.
    /// "both manage the estate file `estate.json`". Asked at validation for every
    /// pair of blocks of this type, with relative paths resolved against
    /// `base_dir`: such blocks are refused, since a pruning one would delete the
    /// other's identities, their plans would undo each other, and apply would
    /// wait on its own lock. By default blocks never overlap.
    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        base_dir: &std::path::Path,
    ) -> Option<String> {
        let _ = (settings, other, base_dir);
        None
    }
    /// For a type whose facts depend on the block (the plugin host: each block
    /// names its own executable), the type that serves a block with `settings`,
    /// started and checked; `Err` says why it cannot be. `None`: this type
    /// serves every block itself. The engine asks before any other call about
    /// the block; the type returned lives as long as the process.
    fn for_block(
        &self,
        settings: &serde_json::Value,
        base_dir: &std::path::Path,
    ) -> Result<Option<&'static dyn ProviderType>, String> {
        let _ = (settings, base_dir);
        Ok(None)
    }
    /// Starts in the background what [`Self::for_block`] will need for a block
    /// with `settings` (the plugin host pins and starts the block's plugin), so
    /// that it overlaps reading the configuration's identities; `for_block` then
    /// waits for it. `Some` while that runs: the engine reads identities ahead
    /// and judges them once it is done. `None`: nothing to wait for.
    fn prepare(
        &self,
        settings: &serde_json::Value,
        base_dir: &std::path::Path,
    ) -> Option<Preparing> {
        let _ = (settings, base_dir);
        None
    }
    /// Which external plugin serves this type, pinned how: plans record it and
    /// apply refuses a plan whose plugin differs. `None` for built-in types.
    fn plugin(&self) -> Option<crate::plugin::PluginRecord> {
        None
    }
    /// Construct a provider for one block.
    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError>;
}

/// Work a provider type started in the background for a block
/// ([`ProviderType::prepare`]): whether it is done yet.
#[derive(Clone)]
pub struct Preparing(std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl Preparing {
    /// Work whose end `done` tells.
    pub fn new(done: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(done))
    }

    #[must_use]
    pub fn is_done(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for Preparing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preparing")
            .field("done", &self.is_done())
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    /// The time the caller plans at (`NHI_NOW` fixes it), for whatever the
    /// provider judges by the clock (a key past its cloud-set expiry is
    /// inactive); `None`: the system clock.
    pub now: Option<jiff::Timestamp>,
    /// Where to report what the read waits for (quota windows).
    pub progress: crate::ProgressSink,
}

#[derive(Debug, Clone)]
pub struct ReadResponse {
    pub state: ObservedState,
    /// Calls made to the backing API, for `--verbose` output.
    pub api_calls: u64,
    /// Identities of the scope that are gone from live state but were deleted
    /// recently enough to be restored (GCP: an undelete within 30 days), by
    /// name, each with a sentence for reviewers saying how it shows and how to
    /// restore it. A plan that creates one under that name says so.
    pub deleted: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct DescribeResponse {
    /// A one-line human description of what this block manages exhaustively.
    pub scope: String,
    /// Files on this machine the provider reads and writes for this block (an
    /// estate and its lock): the engine never delivers a secret into one.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct LockRequest {
    /// Who is asking (user, host, process), recorded for other appliers to read.
    pub holder: String,
    /// How long to wait for a held lock; zero fails at once.
    pub timeout: Duration,
}

/// Held for the duration of an apply; dropping it releases the lock.
pub trait LockGuard: Send {}

/// One change to carry out.
///
/// Minting follows one rule on every provider: **a key is recorded under its
/// configured name only once its secret is delivered.** For a sink the provider
/// delivers itself (not [`Sink::is_local`]) the provider delivers, then records
/// the name, before returning; if delivery fails it deletes the key again. For a
/// local sink (a file, standard output) it creates the key *without* a name and
/// returns the secret; the engine delivers it and then calls
/// [`Provider::record_key`]. A key nhi minted whose secret never arrived (a crash
/// or kill in between) therefore reads as an unnamed key, which the next plan
/// deletes and replaces: it never looks converged.
///
/// The engine never sends [`Operation::RotateKey`]: it applies a rotation as a
/// `CreateKey` (delivered and recorded as above) followed by a `DeleteKey` of the
/// old key, so the old key is deleted only after its successor's secret is safe.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub operation: Operation,
    /// Where new key material goes, for operations that mint a key. The provider
    /// delivers to sinks that are not [`Sink::is_local`] itself.
    pub sink: Option<Sink>,
    /// Where to report what the change waits for (a new identity to become
    /// visible, a quota window); silent by default.
    pub progress: crate::ProgressSink,
}

/// What a plan is about to do that only the live cloud can judge before anyone
/// approves it: asked at plan and again at apply, before the first change.
#[derive(Debug, Clone, Default)]
pub struct PreflightRequest {
    /// Identities the plan creates: a name the scope does not hold may still be
    /// taken outside it (AWS names are account-wide).
    pub creates: Vec<crate::Identity>,
    /// Sinks the provider delivers itself that the plan mints into, by identity.
    pub sinks: Vec<(String, Sink)>,
    /// Identities the plan mints a key for (creates or rotations), once each,
    /// whatever the sink: a cloud may forbid new keys (GCP's organization
    /// policy `iam.disableServiceAccountKeyCreation`).
    pub mints: Vec<String>,
    /// Identities the plan deletes: room under a cloud's limit on identities.
    pub deletes: Vec<String>,
    /// The identity of each binding the plan creates, and how many bindings it
    /// deletes: what a cloud's limit on grants (GCP: 1,500 principals in the
    /// project's allow policy) is judged by.
    pub grants_added: Vec<String>,
    pub grants_removed: usize,
}

#[derive(Debug, Clone, Default)]
pub struct PreflightResponse {
    /// Each thing that would make apply fail or do harm, by identity name.
    pub problems: Vec<(String, String)>,
}

/// Records that the secret of a key minted for a local sink was delivered: from
/// now on live state shows key `key_id` of `identity` under the name `key`.
#[derive(Debug, Clone)]
pub struct RecordKeyRequest {
    pub identity: String,
    pub key: String,
    pub key_id: String,
}

#[derive(Debug, Default)]
pub struct ApplyResponse {
    /// New key material, when the operation created a key and its sink is local.
    /// The engine delivers it to that sink and nowhere else.
    pub secret: Option<SecretMaterial>,
    /// The id of a key the operation created (not secret), for the receipt.
    pub new_key_id: Option<String>,
}

/// New key material. Its `Debug` never shows the secret, and its memory is wiped
/// on drop.
pub struct SecretMaterial {
    /// The provider's id of the new key (not secret).
    pub key_id: String,
    pub secret: Zeroizing<String>,
    /// What a file or standard-output sink receives.
    pub form: SecretForm,
}

/// How a secret is written to a file or standard-output sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretForm {
    /// A JSON credential file its cloud's own clients read as it is, naming the
    /// key in a field of its own: a Google service-account key file
    /// (`private_key_id`, for `GOOGLE_APPLICATION_CREDENTIALS`), or AWS's
    /// `credential_process` output (`{"Version": 1, "AccessKeyId", …}`).
    CredentialFile,
    /// An opaque secret, delivered inside nhi's own JSON document
    /// `{"address", "key_id", "secret"}`.
    Opaque,
}

impl fmt::Debug for SecretMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretMaterial")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("form", &self.form)
            .finish()
    }
}

/// A connected provider for one provider block. Operations are idempotent where the
/// cloud allows, so re-running apply after a partial failure converges.
#[async_trait]
pub trait Provider: Send + Sync {
    async fn describe(&self) -> Result<DescribeResponse, ProviderError>;
    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError>;
    async fn lock(&self, request: LockRequest) -> Result<Box<dyn LockGuard>, ProviderError>;
    async fn apply(&self, request: ApplyRequest) -> Result<ApplyResponse, ProviderError>;
    /// Names a key minted for a local sink once the engine delivered its secret
    /// (see [`ApplyRequest`]). Idempotent.
    async fn record_key(&self, request: RecordKeyRequest) -> Result<(), ProviderError>;
    /// Judges a plan's creates and provider sinks against the live cloud (see
    /// [`PreflightRequest`]); read-only. Nothing to say by default.
    async fn preflight(
        &self,
        request: PreflightRequest,
    ) -> Result<PreflightResponse, ProviderError> {
        let _ = request;
        Ok(PreflightResponse::default())
    }
}
