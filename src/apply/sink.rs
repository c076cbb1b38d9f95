//! Secret sinks at apply: every sink checked before the first change, and new
//! key material delivered to its sink and nowhere else. File sinks are the
//! engine's `crate::sink`: confined, never following links, replaced only when
//! they hold a retired key's secret.

use std::path::Path;

use nhi_provider_sdk::{Address, SecretMaterial, Sink};

use super::ApplyError;
use crate::diff::Change;
use crate::events::{Event, Events};
use crate::registry::Registry;
use crate::sink::{Protected, Retiring};

/// Writes key material bound for `sink: stdout`. The engine writes to no stream
/// itself: the CLI passes its standard output, and only when the applier allowed it.
pub type StdoutWriter<'a> = &'a (dyn Fn(&str) -> std::io::Result<()> + Sync);

/// Checks every sink before anything changes: file sinks must be usable (see
/// `crate::sink::check_plan`), standard output only when allowed, and a
/// provider's sink only one its scope's provider type delivers, with settings it
/// accepts (a plan is hostile input).
pub fn preflight(
    changes: &[Change],
    allow_stdout: bool,
    registry: &Registry,
    files: (&Path, &Retiring<'_>, &Protected),
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
            Some(Sink::Stdout) if !allow_stdout => {
                return Err(ApplyError::StdoutSink {
                    address: change.address.to_string(),
                });
            }
            _ => {}
        }
    }
    let (base, retiring, protected) = files;
    let problems = crate::sink::check_plan(base, changes, retiring, protected);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Sinks { problems })
    }
}

/// Delivers new key material to its local sink: a file beneath `base`, or
/// standard output.
pub fn deliver(
    change: &Change,
    secret: &SecretMaterial,
    base: &Path,
    retiring: &Retiring<'_>,
    stdout: Option<StdoutWriter<'_>>,
    events: &dyn Events,
) -> Result<(), String> {
    let address: &Address = &change.address;
    let document = crate::sink::document(address, secret);
    match &change.sink {
        Some(Sink::File(path)) => write_file(base, path, change, retiring, document.as_bytes()),
        Some(Sink::Stdout) => {
            let Some(stdout) = stdout else {
                return Err("standard output was not allowed for key material".to_owned());
            };
            events.event(Event::Warning(&format!(
                "warning: writing key material for `{address}` to standard output"
            )));
            stdout(&document).map_err(|e| e.to_string())
        }
        _ => Err("this sink is delivered by its provider".to_owned()),
    }
}

#[cfg(unix)]
fn write_file(
    base: &Path,
    path: &str,
    change: &Change,
    retiring: &Retiring<'_>,
    bytes: &[u8],
) -> Result<(), String> {
    crate::sink::write(base, path, bytes, &|found| {
        crate::sink::replaceable(path, change, retiring, found)
    })
}

#[cfg(not(unix))]
fn write_file(
    _base: &Path,
    _path: &str,
    _change: &Change,
    _retiring: &Retiring<'_>,
    _bytes: &[u8],
) -> Result<(), String> {
    Err("file sinks need a Unix system".to_owned())
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
        let none = crate::sink::Retiring::new(&[], &[]);
        let files = (
            std::path::Path::new("."),
            &none,
            &crate::sink::Protected::default(),
        );
        let ok = minting("aws", provider_sink("aws_secrets_manager", "nhi/ci"));
        assert!(super::preflight(&[ok], false, registry, files).is_ok());
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
            match super::preflight(&[change], false, registry, files) {
                Err(ApplyError::SinkRefused { detail, .. }) => assert_eq!(detail, want),
                other => panic!("{other:?}"),
            }
        }
    }
}
