//! Secret sinks: where new key material goes, and nowhere else. A file sink is a
//! new file created with mode 0600 that is never overwritten.

use std::io::Write as _;
use std::path::Path;

use nhi_provider_sdk::{Address, SecretMaterial, Sink};
use zeroize::Zeroizing;

use super::ApplyError;
use crate::diff::Change;
use crate::events::{Event, Events};
use crate::registry::Registry;

/// Writes key material bound for `sink: stdout`. The engine writes to no stream
/// itself: the CLI passes its standard output, and only when the applier allowed it.
pub type StdoutWriter<'a> = &'a (dyn Fn(&str) -> std::io::Result<()> + Sync);

/// Checks every sink before anything changes: file sinks must not exist yet,
/// standard output only when allowed, and a provider's sink only one its scope's
/// provider type delivers, with settings it accepts (a plan is hostile input).
pub fn preflight(
    changes: &[Change],
    allow_stdout: bool,
    registry: &Registry,
) -> Result<(), ApplyError> {
    for change in changes {
        match &change.sink {
            Some(Sink::Provider { kind, settings }) => {
                let type_name = change
                    .address
                    .provider_prefix()
                    .split_once('.')
                    .map_or("", |(t, _)| t);
                let checked = match registry.find(type_name) {
                    Some(t) if t.sink_kinds().iter().any(|k| k.name == kind) => {
                        t.check_sink(kind, settings)
                    }
                    _ => Err(format!(
                        "the `{type_name}` provider type delivers no `{kind}` sink"
                    )),
                };
                checked.map_err(|detail| ApplyError::SinkRefused {
                    address: change.address.to_string(),
                    detail,
                })?;
            }
            Some(Sink::File(path)) if Path::new(path).exists() => {
                return Err(ApplyError::SinkExists { path: path.clone() });
            }
            Some(Sink::Stdout) if !allow_stdout => {
                return Err(ApplyError::StdoutSink {
                    address: change.address.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Delivers new key material to its sink.
pub fn deliver(
    sink: &Sink,
    address: &Address,
    secret: &SecretMaterial,
    stdout: Option<StdoutWriter<'_>>,
    events: &dyn Events,
) -> Result<(), String> {
    let document = Zeroizing::new(format!(
        "{{\"address\":{},\"key_id\":{},\"secret\":{}}}\n",
        json_string(address.as_str()),
        json_string(&secret.key_id),
        json_string(&secret.secret)
    ));
    match sink {
        Sink::File(path) => write_new_private(Path::new(path), document.as_bytes()),
        Sink::Stdout => {
            let Some(stdout) = stdout else {
                return Err("standard output was not allowed for key material".to_owned());
            };
            events.event(Event::Warning(&format!(
                "warning: writing key material for `{address}` to standard output"
            )));
            stdout(&document).map_err(|e| e.to_string())
        }
        Sink::Provider { .. } => Err("this sink is delivered by its provider".to_owned()),
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

#[cfg(unix)]
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

#[cfg(not(unix))]
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use nhi_provider_sdk::{Address, Operation, Sink};

    use crate::apply::ApplyError;
    use crate::diff::{Action, Change, Reason, Risk};
    use crate::registry::Registry;

    fn minting(provider_type: &str, sink: Sink) -> Change {
        let operation = Operation::CreateKey {
            identity: "ci".into(),
            key: "primary".into(),
        };
        Change {
            address: Address::provider(provider_type, "prod")
                .identity("ci")
                .key("primary"),
            action: Action::of(&operation),
            reason: Reason::New,
            risk: Risk::of(&operation),
            detail: None,
            operation,
            sink: Some(sink),
        }
    }

    fn provider_sink(kind: &str, secret_id: &str) -> Sink {
        Sink::Provider {
            kind: kind.into(),
            settings: serde_json::json!({ "secret_id": secret_id }),
        }
    }

    /// A plan is hostile input: a provider sink its scope's type does not deliver,
    /// or settings that type refuses, stop apply before the first change.
    #[test]
    fn a_plan_naming_a_sink_its_provider_does_not_deliver_is_refused_before_any_change() {
        let registry = Registry::builtin();
        let ok = minting("aws", provider_sink("aws_secrets_manager", "nhi/ci"));
        assert!(super::preflight(&[ok], false, registry).is_ok());
        let cases = [
            (
                minting("local", provider_sink("aws_secrets_manager", "nhi/ci")),
                "the `local` provider type delivers no `aws_secrets_manager` sink",
            ),
            (
                minting("aws", provider_sink("gcp_secret_manager", "ci")),
                "the `aws` provider type delivers no `gcp_secret_manager` sink",
            ),
            (
                minting("gcp", provider_sink("gcp_secret_manager", "../other")),
                "write `gcp_secret_manager: {secret_id: <id>}`, an id of 1 to 255 letters, digits, `-` and `_` in the provider block's project",
            ),
        ];
        for (change, want) in cases {
            match super::preflight(&[change], false, registry) {
                Err(ApplyError::SinkRefused { detail, .. }) => assert_eq!(detail, want),
                other => panic!("{other:?}"),
            }
        }
    }
}
