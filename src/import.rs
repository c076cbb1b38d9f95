//! Import: one provider block's scope, read through the one read path, as the
//! configuration that declares it exactly, so that a plan over it has no
//! changes. Live keys are adopted by id under names of their own; the hygiene
//! findings of each identity come along for the reviewer. Read-only, and there
//! is no secret in a read to write.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use miette::Diagnostic;
use nhi_provider_sdk::{Address, Binding, Identity, KeyStatus, ObservedIdentity};

use crate::clock::Clock;
use crate::config::{ConfigError, ProviderBlock};
use crate::events::Events;
use crate::policy::Finding;
use crate::refresh::RefreshError;
use crate::registry::Registry;

/// What to import.
pub struct ImportOptions<'a> {
    /// The configuration file: its provider block is read, and its identities
    /// are what `--only-unmanaged` leaves out.
    pub config: &'a Path,
    /// The name of the provider block to import.
    pub provider: &'a str,
    /// Only the identities in scope that the configuration does not declare.
    pub only_unmanaged: bool,
    /// The clock findings are judged at (`NHI_NOW` fixes it).
    pub clock: Clock,
    pub registry: &'a Registry,
    /// Progress of the scope's read.
    pub events: &'a dyn Events,
}

/// A scope as configuration.
#[derive(Debug, Clone)]
pub struct Imported {
    pub block: ProviderBlock,
    /// The provider's own description of the scope.
    pub scope: String,
    /// When the scope was read.
    pub read_at: jiff::Timestamp,
    /// Whether only undeclared identities were asked for: the rendering is then
    /// entries to append to `identities:`, not a whole configuration.
    pub only_unmanaged: bool,
    /// Sorted by name.
    pub identities: Vec<ImportedIdentity>,
}

/// One live identity as a configuration entry.
#[derive(Debug, Clone)]
pub struct ImportedIdentity {
    /// As the provider reports it (the configuration's canonical form).
    pub identity: Identity,
    /// In the order they are written: keys nhi named first, by name, then the
    /// adopted ones, oldest first.
    pub keys: Vec<ImportedKey>,
    /// Live keys left out, each with why (e.g. an older key under a name that a
    /// plan deletes).
    pub skipped_keys: Vec<String>,
    /// As the provider reports them, sorted by role and resource.
    pub bindings: Vec<Binding>,
    /// The governance gate's findings on the identity and what it holds.
    pub findings: Vec<Finding>,
}

/// One live key as a declared key.
#[derive(Debug, Clone)]
pub struct ImportedKey {
    pub name: String,
    /// The live key's id, when the key carries no name of nhi's.
    pub adopt: Option<String>,
    /// A file sink beneath the configuration's directory, for the user to
    /// review: nothing is written there until the key is rotated.
    pub sink: String,
    pub status: KeyStatus,
    pub created: jiff::Timestamp,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ImportError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refresh(#[from] RefreshError),
    #[error("the configuration has no provider block named `{name}`")]
    #[diagnostic(code(nhi::import::unknown_provider), help("{}", provider_help(known)))]
    UnknownProvider { name: String, known: Vec<String> },
    #[error("cannot start the async runtime: {0}")]
    #[diagnostic(code(nhi::import::runtime))]
    Runtime(#[source] std::io::Error),
    #[error("cannot resolve the configuration's directory `{dir}`")]
    #[diagnostic(code(nhi::import::config_dir))]
    ConfigDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

fn provider_help(known: &[String]) -> String {
    if known.is_empty() {
        "add a provider block under `providers:` first: import reads the scope it names".into()
    } else {
        let names: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
        format!("provider blocks: {}", names.join(", "))
    }
}

/// Reads the named provider block's scope and turns it into configuration.
pub fn import(options: &ImportOptions<'_>) -> Result<Imported, ImportError> {
    let config = crate::config::load_with(options.config, options.registry, &mut |_, _| {})?;
    let Some(block) = config
        .providers
        .iter()
        .find(|b| b.name == options.provider)
        .cloned()
    else {
        return Err(ImportError::UnknownProvider {
            name: options.provider.to_owned(),
            known: config.providers.iter().map(|b| b.name.clone()).collect(),
        });
    };
    let dir = std::fs::canonicalize(&config.dir).map_err(|source| ImportError::ConfigDir {
        dir: config.dir.display().to_string(),
        source,
    })?;
    let now = options.clock.now();
    let mut refreshed = crate::refresh::runtime()
        .map_err(ImportError::Runtime)?
        .block_on(crate::refresh::refresh_blocks(
            options.registry,
            &dir,
            std::slice::from_ref(&block),
            options.events,
            now,
        ))?;
    let refreshed = refreshed
        .pop()
        .expect("invariant: one block read gives one scope");
    let prefix = Address::provider(&block.type_name, &block.name);
    let declared: HashSet<&str> = config
        .identities
        .iter()
        .filter(|d| d.provider == block.name)
        .map(|d| d.identity.name.as_str())
        .collect();
    let unmanaged: BTreeSet<Address> = refreshed
        .observed
        .identities
        .iter()
        .filter(|o| !declared.contains(o.identity.name.as_str()))
        .map(|o| prefix.identity(&o.identity.name))
        .collect();
    let scopes = crate::plan::scope_inputs(
        options.registry,
        &dir,
        std::iter::once((&refreshed.block, &refreshed.observed)),
    );
    let findings = crate::policy::judge(&crate::policy::Judging {
        now,
        policy: &config.policy,
        scopes: &scopes,
        changes: &[],
        unmanaged: &unmanaged,
        config: Some(&config),
    });
    let mut identities = Vec::new();
    for observed in &refreshed.observed.identities {
        if options.only_unmanaged && declared.contains(observed.identity.name.as_str()) {
            continue;
        }
        let address = prefix.identity(&observed.identity.name);
        let mine: Vec<Finding> = findings
            .iter()
            .filter(|f| f.address.identity_of() == address)
            .cloned()
            .collect();
        identities.push(identity(&block.name, &address, observed, mine));
    }
    identities.sort_by(|a, b| a.identity.name.cmp(&b.identity.name));
    Ok(Imported {
        scope: refreshed.scope.clone(),
        block,
        read_at: now,
        only_unmanaged: options.only_unmanaged,
        identities,
    })
}

fn identity(
    block: &str,
    address: &Address,
    observed: &ObservedIdentity,
    findings: Vec<Finding>,
) -> ImportedIdentity {
    let name = &observed.identity.name;
    let mut keys = Vec::new();
    let mut skipped_keys = Vec::new();
    let mut unnamed = Vec::new();
    // The diff's own addressing: the newest key of a name is `key/<name>`.
    for (key_address, key) in crate::diff::key_addresses(address, &observed.keys) {
        match key.name.as_deref() {
            Some(key_name) if key_address == address.key(key_name) => keys.push(ImportedKey {
                name: key_name.to_owned(),
                adopt: None,
                sink: sink_path(block, name, key_name),
                status: key.status,
                created: key.created,
            }),
            Some(key_name) => skipped_keys.push(format!(
                "live key `{}` is an older key named `{key_name}`: a plan deletes it",
                key.id
            )),
            None => unnamed.push(key),
        }
    }
    unnamed.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    let mut taken: HashSet<String> = keys.iter().map(|k| k.name.clone()).collect();
    let mut n = 0;
    for key in unnamed {
        let key_name = loop {
            n += 1;
            let candidate = format!("key-{n}");
            if taken.insert(candidate.clone()) {
                break candidate;
            }
        };
        keys.push(ImportedKey {
            sink: sink_path(block, name, &key_name),
            name: key_name,
            adopt: Some(key.id.clone()),
            status: key.status,
            created: key.created,
        });
    }
    let mut bindings = observed.bindings.clone();
    bindings.sort_by(|a, b| (&a.role, &a.resource).cmp(&(&b.role, &b.resource)));
    ImportedIdentity {
        identity: observed.identity.clone(),
        keys,
        skipped_keys,
        bindings,
        findings,
    }
}

/// `secrets/<block>/<identity>/<key>.key`: beneath the configuration's
/// directory, one file per key. An identity's name is the provider's (hostile):
/// every byte but letters, digits and `_@+=,-` (and `.` past the first) is
/// written `%XX`, so the path stays plain names, and distinct names stay
/// distinct paths.
fn sink_path(block: &str, identity: &str, key: &str) -> String {
    let mut part = String::with_capacity(identity.len());
    for (i, b) in identity.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b"_@+=,-".contains(&b) || (b == b'.' && i > 0);
        if plain {
            part.push(char::from(b));
        } else {
            let _ = write!(part, "%{b:02X}");
        }
    }
    format!("secrets/{block}/{part}/{key}.key")
}

#[cfg(test)]
mod tests {
    use super::sink_path;

    #[test]
    fn sink_paths_are_plain_confined_and_distinct() {
        let cases = [
            ("ci", "secrets/demo/ci/key-1.key"),
            ("..", "secrets/demo/%2E./key-1.key"),
            ("a/b", "secrets/demo/a%2Fb/key-1.key"),
            ("a%2Fb", "secrets/demo/a%252Fb/key-1.key"),
            ("r\u{e9}", "secrets/demo/r%C3%A9/key-1.key"),
            ("dev.ops@x", "secrets/demo/dev.ops@x/key-1.key"),
        ];
        for (name, want) in cases {
            let got = sink_path("demo", name, "key-1");
            assert_eq!(got, want);
            assert_eq!(crate::sink::check_relative(&got), Ok(()), "{got}");
        }
    }
}
