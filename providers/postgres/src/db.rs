//! Connections to the server and what its errors mean to nhi. Every connection
//! starts with `standard_conforming_strings = on`, which the literal quoting in
//! `names` relies on.

use std::path::Path;
use std::time::Duration;

use nhi_provider_sdk::ProviderError;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};
use zeroize::Zeroizing;

use crate::settings::Settings;

/// How long connecting may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection as the block's user, its session named `application_name`
/// (visible to others in `pg_stat_activity`), and drives it on the runtime.
pub(crate) async fn connect(
    settings: &Settings,
    base_dir: &Path,
    application_name: &str,
) -> Result<Client, ProviderError> {
    let mut config = Config::new();
    config
        .host(&settings.host)
        .port(settings.port)
        .user(&settings.user)
        .dbname(&settings.database)
        .application_name(application_name)
        .options("-c standard_conforming_strings=on -c client_min_messages=warning")
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(path) = settings.password_path(base_dir) {
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|err| {
            ProviderError::io(
                format!("cannot read the password file `{}`", path.display()),
                err,
            )
        })?);
        config.password(text.trim_end_matches(['\r', '\n']).as_bytes());
    }
    let (client, connection) = config.connect(NoTls).await.map_err(|err| {
        ProviderError::Other(format!(
            "cannot connect to PostgreSQL at `{}` port {} as `{}`: {}",
            settings.host,
            settings.port,
            settings.user,
            clean(&err)
        ))
    })?;
    // The connection ends, and with it the session and its advisory locks, when
    // the client is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The server's message, without anything that could steer a terminal: the
/// server is not trusted to send only plain text.
pub(crate) fn clean(err: &tokio_postgres::Error) -> String {
    let text = match err.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => err.to_string(),
    };
    text.chars()
        .map(|c| {
            if nhi_provider_sdk::text::is_unsafe_char(c) {
                '\u{fffd}'
            } else {
                c
            }
        })
        .take(500)
        .collect()
}

/// A server error as a provider error about `object` (e.g. "role `app_ci`"),
/// while doing `what` (e.g. "granting `SELECT`").
pub(crate) fn error(what: &str, object: &str, err: &tokio_postgres::Error) -> ProviderError {
    let message = clean(err);
    match err.code() {
        Some(c) if *c == SqlState::UNDEFINED_OBJECT || *c == SqlState::UNDEFINED_TABLE => {
            ProviderError::NotFound(format!("{object} ({what}: {message})"))
        }
        Some(c) if *c == SqlState::UNDEFINED_SCHEMA || *c == SqlState::INVALID_CATALOG_NAME => {
            ProviderError::NotFound(format!("{object} ({what}: {message})"))
        }
        Some(c) if *c == SqlState::DUPLICATE_OBJECT => {
            ProviderError::AlreadyExists(format!("{object} ({message})"))
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            ProviderError::AccessDenied(format!("{what} on {object}: {message}"))
        }
        Some(c) if *c == SqlState::DEPENDENT_OBJECTS_STILL_EXIST => ProviderError::Other(format!(
            "{what} on {object}: {message}; the role still owns objects or holds privileges \
                 nhi does not manage (on functions, sequences, columns or in other databases): \
                 reassign or revoke them by hand, then apply again"
        )),
        _ => ProviderError::Other(format!("{what} on {object}: {message}")),
    }
}
