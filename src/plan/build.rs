//! Building a plan body from a configuration, what each scope holds, and a diff.

use nhi_provider_sdk::{Address, ObservedState};

use super::body::{BODY_FORMAT_VERSION, ConfigRecord, PlanBody, ScopeRecord, Summary, Touched};
use crate::config::{Config, ProviderBlock};
use crate::diff::Diff;

/// What planning was asked to do beyond the configuration.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub author: String,
    /// The planning clock.
    pub now: jiff::Timestamp,
    /// How long the plan stays valid.
    pub valid_for: jiff::SignedDuration,
    /// The configuration's directory, absolute with links resolved.
    pub config_dir: std::path::PathBuf,
}

/// One scope as read for planning.
#[derive(Debug, Clone)]
pub struct ScopeRead<'a> {
    pub block: &'a ProviderBlock,
    /// The provider's description of its scope.
    pub scope: String,
    pub observed: &'a ObservedState,
    /// `fingerprint(observed)` when the caller already computed it (e.g. on
    /// another thread while diffing); computed here when `None`.
    pub observed_digest: Option<nhi_provider_sdk::Digest>,
    /// The plugin that served the block, for a `type: plugin` block.
    pub plugin: Option<nhi_provider_sdk::plugin::PluginRecord>,
}

/// The body, without findings: judge it with [`crate::policy::judge`] and set
/// them.
pub fn build(
    config: &Config,
    reads: &[ScopeRead<'_>],
    diff: Diff,
    options: &BuildOptions,
) -> PlanBody {
    let scopes = reads
        .iter()
        .map(|read| ScopeRecord {
            provider: Address::provider(&read.block.type_name, &read.block.name).to_string(),
            scope: read.scope.clone(),
            settings: read.block.settings.clone(),
            prune: read.block.prune,
            observed_digest: read
                .observed_digest
                .unwrap_or_else(|| nhi_provider_sdk::fingerprint(read.observed)),
            observed_identities: read.observed.identities.len() as u64,
            plugin: read.plugin.clone(),
        })
        .collect();
    let summary = Summary::of(&diff.changes, diff.unmanaged.len());
    let expires_at = options
        .now
        .checked_add(options.valid_for)
        .unwrap_or(jiff::Timestamp::MAX);
    let mut body = PlanBody {
        format_version: BODY_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: options.now,
        expires_at,
        author: options.author.clone(),
        config: ConfigRecord {
            path: config.path.display().to_string(),
            dir: options.config_dir.display().to_string(),
            digest: config.digest,
        },
        scopes,
        changes: diff.changes,
        touched: diff
            .touched
            .into_iter()
            .map(|(address, fingerprint)| Touched {
                address,
                fingerprint,
            })
            .collect(),
        unmanaged: diff.unmanaged,
        summary,
        policy: config.policy.clone(),
        findings: Vec::new(),
        selection: None,
    };
    body.format_version = body.required_format();
    body
}
