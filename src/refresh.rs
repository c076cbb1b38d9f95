//! Refresh, the one read path of plan and apply: connect a provider block (its
//! settings checked), ask what scope it manages, and read what that scope holds.
//! Live state is hostile input too: duplicate or unsorted identities are refused
//! here, before the diff sees them.

use miette::Diagnostic;
use nhi_provider_sdk::{ObservedState, Provider, ProviderContext, ProviderError, ReadRequest};

use std::path::Path;

use crate::config::ProviderBlock;
use crate::events::{Event, Events};
use crate::registry::Registry;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RefreshError {
    #[error("cannot connect provider `{provider}`")]
    #[diagnostic(
        code(nhi::provider::connect),
        help("check the provider block's settings")
    )]
    Connect {
        provider: String,
        #[source]
        source: ProviderError,
    },
    #[error("cannot read live state of provider `{provider}`")]
    #[diagnostic(
        code(nhi::provider::read),
        help("nothing was changed; fix the cause and run again")
    )]
    Read {
        provider: String,
        #[source]
        source: ProviderError,
    },
    #[error("provider `{provider}` has unusable settings: {detail}")]
    #[diagnostic(
        code(nhi::provider::settings),
        help("check the provider block's settings; a plan carries the settings it was made with")
    )]
    Settings { provider: String, detail: String },
    #[error("provider `{provider}` returned identity `{name}` twice")]
    #[diagnostic(
        code(nhi::provider::invalid_state),
        help("the provider's live state is inconsistent; nothing was changed")
    )]
    Duplicate { provider: String, name: String },
    #[error("provider `{provider}` returned {what} twice on identity `{name}`")]
    #[diagnostic(
        code(nhi::provider::invalid_state),
        help("the provider's live state is inconsistent; nothing was changed")
    )]
    DuplicatePart {
        provider: String,
        name: String,
        what: String,
    },
    #[error("provider type `{type_name}` is not built into this nhi")]
    #[diagnostic(code(nhi::provider::unknown_type))]
    UnknownType { type_name: String },
}

/// A connected provider block and what it holds.
pub struct Refreshed {
    pub block: ProviderBlock,
    pub provider: Box<dyn Provider>,
    pub scope: String,
    /// Files the provider keeps for this block on this machine (see
    /// `DescribeResponse::files`).
    pub files: Vec<std::path::PathBuf>,
    pub observed: ObservedState,
    pub api_calls: u64,
    /// Identities deleted but restorable, by name (see `ReadResponse::deleted`).
    pub deleted: Vec<(String, String)>,
}

/// Connects one provider block of a configuration in `dir` (relative paths in
/// its settings resolve against it), checking its settings first: plans carry
/// settings too, and a plan file is hostile input.
pub fn connect(
    registry: &Registry,
    dir: &Path,
    block: &ProviderBlock,
) -> Result<Box<dyn Provider>, RefreshError> {
    if registry.find(&block.type_name).is_none() {
        return Err(RefreshError::UnknownType {
            type_name: block.type_name.clone(),
        });
    }
    let provider_type =
        registry
            .for_block(block, dir)
            .map_err(|detail| RefreshError::Settings {
                provider: block.name.clone(),
                detail,
            })?;
    provider_type
        .check_settings(&block.settings)
        .map_err(|detail| RefreshError::Settings {
            provider: block.name.clone(),
            detail,
        })?;
    provider_type
        .connect(ProviderContext {
            name: block.name.clone(),
            settings: block.settings.clone(),
            base_dir: dir.to_path_buf(),
        })
        .map_err(|source| RefreshError::Connect {
            provider: block.name.clone(),
            source,
        })
}

/// The one-line description of what a connected block manages exhaustively.
pub async fn describe(
    block: &ProviderBlock,
    provider: &dyn Provider,
) -> Result<nhi_provider_sdk::DescribeResponse, RefreshError> {
    provider
        .describe()
        .await
        .map_err(|source| RefreshError::Read {
            provider: block.name.clone(),
            source,
        })
}

/// Reads one connected provider at `now` (the caller's clock, which judges
/// what the provider judges by time) and checks what it returned.
pub async fn read(
    block: &ProviderBlock,
    provider: &dyn Provider,
    now: jiff::Timestamp,
) -> Result<(ObservedState, u64), RefreshError> {
    read_all(block, provider, now)
        .await
        .map(|(state, calls, _)| (state, calls))
}

/// [`read`], with the identities the provider reports deleted but restorable.
pub async fn read_all(
    block: &ProviderBlock,
    provider: &dyn Provider,
    now: jiff::Timestamp,
) -> Result<(ObservedState, u64, Vec<(String, String)>), RefreshError> {
    read_reporting(
        block,
        provider,
        now,
        nhi_provider_sdk::ProgressSink::default(),
    )
    .await
}

/// [`read_all`], with the provider's reports of what it waits for to `progress`.
pub async fn read_reporting(
    block: &ProviderBlock,
    provider: &dyn Provider,
    now: jiff::Timestamp,
    progress: nhi_provider_sdk::ProgressSink,
) -> Result<(ObservedState, u64, Vec<(String, String)>), RefreshError> {
    let response = provider
        .read(ReadRequest {
            now: Some(now),
            progress,
        })
        .await
        .map_err(|source| RefreshError::Read {
            provider: block.name.clone(),
            source,
        })?;
    let mut state = response.state;
    check_state(&block.name, &mut state)?;
    Ok((state, response.api_calls, response.deleted))
}

/// What `changes` ask a scope's `Provider::preflight` to judge: the identities
/// they create and the provider sinks they mint into; `None` when nothing.
pub fn preflight_request(
    block: &ProviderBlock,
    changes: &[crate::diff::Change],
) -> Option<nhi_provider_sdk::PreflightRequest> {
    let prefix = nhi_provider_sdk::Address::provider(&block.type_name, &block.name);
    let mut request = nhi_provider_sdk::PreflightRequest::default();
    for change in changes
        .iter()
        .filter(|c| c.address.provider_prefix() == prefix.as_str())
    {
        let operation = &change.operation;
        if operation.creates_key() {
            let identity = operation.identity_name();
            if !request.mints.iter().any(|m| m == identity) {
                request.mints.push(identity.to_owned());
            }
        }
        match operation {
            nhi_provider_sdk::Operation::DeleteIdentity { identity } => {
                request.deletes.push(identity.name.clone());
            }
            nhi_provider_sdk::Operation::CreateBinding { identity, .. } => {
                request.grants_added.push(identity.clone());
            }
            nhi_provider_sdk::Operation::DeleteBinding { .. } => request.grants_removed += 1,
            _ => {}
        }
        match (operation, &change.sink) {
            (nhi_provider_sdk::Operation::CreateIdentity { identity }, _) => {
                request.creates.push(identity.clone());
            }
            (operation, Some(sink)) if operation.creates_key() && !sink.is_local() => {
                request
                    .sinks
                    .push((operation.identity_name().to_owned(), sink.clone()));
            }
            _ => {}
        }
    }
    let asks = !request.creates.is_empty()
        || !request.sinks.is_empty()
        || !request.mints.is_empty()
        || !request.grants_added.is_empty();
    asks.then_some(request)
}

/// Asks a connected scope to judge `request`: problems as `(address, detail)`.
pub async fn preflight(
    block: &ProviderBlock,
    provider: &dyn Provider,
    request: nhi_provider_sdk::PreflightRequest,
) -> Result<Vec<crate::sink::SinkProblem>, RefreshError> {
    let prefix = nhi_provider_sdk::Address::provider(&block.type_name, &block.name);
    let response = provider
        .preflight(request)
        .await
        .map_err(|source| RefreshError::Read {
            provider: block.name.clone(),
            source,
        })?;
    Ok(response
        .problems
        .into_iter()
        .map(|(identity, detail)| crate::sink::SinkProblem {
            address: prefix.identity(&identity).to_string(),
            detail,
        })
        .collect())
}

/// A single-threaded runtime: providers do their own concurrency where they need it.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Refuses live state a provider should never return: duplicate identities, or
/// duplicate keys or bindings on one identity. Sorts identities by name.
pub fn check_state(provider: &str, state: &mut ObservedState) -> Result<(), RefreshError> {
    if !state
        .identities
        .windows(2)
        .all(|w| w[0].identity.name < w[1].identity.name)
    {
        state
            .identities
            .sort_by(|a, b| a.identity.name.cmp(&b.identity.name));
        if let Some(w) = state
            .identities
            .windows(2)
            .find(|w| w[0].identity.name == w[1].identity.name)
        {
            return Err(RefreshError::Duplicate {
                provider: provider.to_owned(),
                name: w[0].identity.name.clone(),
            });
        }
    }
    for identity in &state.identities {
        let name = &identity.identity.name;
        let keys = &identity.keys;
        if let Some((_, key)) = keys
            .iter()
            .enumerate()
            .find(|(i, k)| keys[..*i].iter().any(|o| o.id == k.id))
        {
            return Err(RefreshError::DuplicatePart {
                provider: provider.to_owned(),
                name: name.clone(),
                what: format!("key `{}`", key.id),
            });
        }
        let bindings = &identity.bindings;
        if let Some((_, b)) = bindings
            .iter()
            .enumerate()
            .find(|(i, b)| bindings[..*i].iter().any(|o| o.same_object(b)))
        {
            return Err(RefreshError::DuplicatePart {
                provider: provider.to_owned(),
                name: name.clone(),
                what: format!("binding `{}` on `{}`", b.role, b.resource),
            });
        }
    }
    Ok(())
}

/// Connects and reads the provider blocks of a configuration in `dir`, in order,
/// reporting each read to `events`. `nhi plan` starts it for some blocks as soon
/// as they are validated, while the identities are read.
pub async fn refresh_blocks(
    registry: &Registry,
    dir: &Path,
    blocks: &[ProviderBlock],
    events: &dyn Events,
    now: jiff::Timestamp,
) -> Result<Vec<Refreshed>, RefreshError> {
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let label = format!("{}.{}", block.type_name, block.name);
        events.event(Event::ReadStarted { provider: &label });
        let read = async {
            let provider = connect(registry, dir, block)?;
            // Both at once: a plugin answers them concurrently, so its read
            // need not wait for a round trip.
            let (described, read) = tokio::join!(
                describe(block, provider.as_ref()),
                crate::events::relayed(events, &label, |sink| {
                    read_reporting(block, provider.as_ref(), now, sink)
                })
            );
            let described = described?;
            let (observed, api_calls, deleted) = read?;
            Ok::<_, RefreshError>(Refreshed {
                block: block.clone(),
                provider,
                scope: described.scope,
                files: described.files,
                observed,
                api_calls,
                deleted,
            })
        }
        .await;
        events.event(Event::ReadFinished { provider: &label });
        out.push(read?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{
        Binding, Identity, KeyStatus, ObservedIdentity, ObservedKey, ObservedState,
    };

    use super::{RefreshError, check_state};

    fn identity(name: &str) -> ObservedIdentity {
        ObservedIdentity {
            identity: Identity {
                name: name.into(),
                kind: "service_account".into(),
                owner: "o".into(),
                description: String::new(),
                tags: nhi_provider_sdk::Tags::new(),
                attributes: std::collections::BTreeMap::new(),
            },
            keys: vec![],
            bindings: vec![],
        }
    }

    #[test]
    fn hostile_live_state_is_refused() {
        let key = ObservedKey {
            id: "K".into(),
            name: None,
            created: jiff::Timestamp::UNIX_EPOCH,
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        };
        let binding = Binding {
            role: "r".into(),
            resource: "*".into(),
            policy: None,
        };
        let mut dup_keys = identity("b");
        dup_keys.keys = vec![key.clone(), key];
        let mut dup_bindings = identity("c");
        dup_bindings.bindings = vec![
            binding.clone(),
            Binding {
                policy: Some(serde_json::json!({}).into()),
                ..binding
            },
        ];
        let cases: Vec<(Vec<ObservedIdentity>, Option<&str>)> = vec![
            (vec![identity("b"), identity("a")], None),
            (
                vec![identity("a"), identity("b"), identity("a")],
                Some("returned identity `a` twice"),
            ),
            (
                vec![dup_keys],
                Some("returned key `K` twice on identity `b`"),
            ),
            (
                vec![dup_bindings],
                Some("returned binding `r` on `*` twice on identity `c`"),
            ),
        ];
        for (identities, want) in cases {
            let mut state = ObservedState { identities };
            let got = check_state("p", &mut state).map_err(|e: RefreshError| e.to_string());
            match want {
                None => {
                    assert!(got.is_ok());
                    assert_eq!(state.identities[0].identity.name, "a", "sorted");
                }
                Some(message) => assert_eq!(got.unwrap_err(), format!("provider `p` {message}")),
            }
        }
    }
}
