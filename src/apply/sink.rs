//! Secret sinks: where new key material goes, and nowhere else. A file sink is a
//! new file created with mode 0600 that is never overwritten.

use std::io::Write as _;
use std::path::Path;

use nhi_provider_sdk::{Address, SecretMaterial, Sink};
use zeroize::Zeroizing;

use super::ApplyError;
use crate::diff::Change;
use crate::events::{Event, Events};

/// Writes key material bound for `sink: stdout`. The engine writes to no stream
/// itself: the CLI passes its standard output, and only when the applier allowed it.
pub type StdoutWriter<'a> = &'a (dyn Fn(&str) -> std::io::Result<()> + Sync);

/// Checks every sink before anything changes: file sinks must not exist yet, and
/// standard output only when allowed.
pub fn preflight(changes: &[Change], allow_stdout: bool) -> Result<(), ApplyError> {
    for change in changes {
        match &change.sink {
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
        Sink::AwsSecretsManager { .. } | Sink::GcpSecretManager { .. } => {
            Err("this sink is delivered by its provider".to_owned())
        }
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
