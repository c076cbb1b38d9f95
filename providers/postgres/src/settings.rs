//! The `postgres` block's settings: where the server is, who nhi connects as, and
//! which login roles it manages (those whose names start with `role_prefix`).

use std::path::{Path, PathBuf};

use nhi_provider_sdk::settings::{fields, number, string};
use serde_json::Value;

const KNOWN: &[&str] = &[
    "host",
    "port",
    "database",
    "user",
    "password_file",
    "role_prefix",
    "password_valid_days",
];

/// Parsed settings of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `127.0.0.1`, `::1`, `localhost`, or a Unix socket directory (`/…`).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: String,
    pub(crate) user: String,
    /// A file holding the password of `user`, relative to the configuration's
    /// directory; none for `trust` or `peer` authentication.
    pub(crate) password_file: Option<String>,
    pub(crate) role_prefix: String,
    /// Each new password's `VALID UNTIL`, in days from when it is set.
    pub(crate) password_valid_days: Option<u64>,
}

impl Settings {
    pub(crate) fn parse(settings: &Value) -> Result<Self, String> {
        let f = fields(
            settings,
            "postgres",
            KNOWN,
            "at least `database`, `user` and `role_prefix`",
        )?;
        let host = string(f.get("host"), "host")?.unwrap_or("127.0.0.1");
        check_host(host)?;
        let port = number(f.get("port"), "port", u64::from(u16::MAX))?.unwrap_or(5432);
        let required = |name: &str| {
            string(f.get(name), name)?
                .map(str::to_owned)
                .ok_or_else(|| format!("setting `{name}` is required"))
        };
        let database = required("database")?;
        let user = required("user")?;
        crate::names::quote_ident(&database).map_err(|e| format!("setting `database`: {e}"))?;
        crate::names::quote_ident(&user).map_err(|e| format!("setting `user`: {e}"))?;
        let role_prefix = required("role_prefix")?;
        check_prefix(&role_prefix)?;
        Ok(Self {
            host: host.to_owned(),
            port: u16::try_from(port).expect("invariant: at most u16::MAX"),
            database,
            user,
            password_file: string(f.get("password_file"), "password_file")?.map(str::to_owned),
            role_prefix,
            password_valid_days: number(
                f.get("password_valid_days"),
                "password_valid_days",
                36_500,
            )?,
        })
    }

    /// The password file, resolved against `base_dir`.
    pub(crate) fn password_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.password_file.as_ref().map(|p| base_dir.join(p))
    }
}

/// Only this machine: nhi speaks to PostgreSQL without TLS, so the connection
/// must not leave it. A remote server is reached through a tunnel to loopback.
fn check_host(host: &str) -> Result<(), String> {
    if matches!(host, "127.0.0.1" | "::1" | "localhost") || host.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "setting `host` is `{host}`, but nhi connects without TLS and so only to \
             `127.0.0.1`, `::1`, `localhost` or a Unix socket directory; reach a remote \
             server through a tunnel (e.g. `ssh -L`)"
        ))
    }
}

/// A prefix that scopes nothing built in: lowercase letters, digits and `_`,
/// starting with a letter, at most 30 bytes, not `pg_`.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let bytes = prefix.as_bytes();
    let valid = (1..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if !valid || prefix.starts_with("pg") {
        return Err(format!(
            "setting `role_prefix` is `{prefix}`; it must be 1 to 30 lowercase letters, digits \
             and `_`, starting with a letter and not with `pg` (e.g. `app_`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_say_what_is_wrong() {
        let ok = Settings::parse(
            &json!({"database": "app", "user": "nhi", "role_prefix": "app_", "port": 5433}),
        )
        .unwrap();
        assert_eq!(ok.host, "127.0.0.1");
        assert_eq!(ok.port, 5433);
        for (settings, want) in [
            (
                json!({"user": "nhi", "role_prefix": "app_"}),
                "`database` is required",
            ),
            (
                json!({"database": "a", "user": "n"}),
                "`role_prefix` is required",
            ),
            (
                json!({"database": "a", "user": "n", "role_prefix": "pg_x"}),
                "not with `pg`",
            ),
            (
                json!({"database": "a", "user": "n", "role_prefix": "App"}),
                "lowercase letters",
            ),
            (
                json!({"database": "a", "user": "n", "role_prefix": "a_", "host": "db.example.com"}),
                "without TLS",
            ),
            (
                json!({"database": "a", "user": "n", "role_prefix": "a_", "port": 70000}),
                "`port` must be a whole number",
            ),
            (
                json!({"database": "a", "user": "n", "role_prefix": "a_", "sslmode": "require"}),
                "unknown setting `sslmode`",
            ),
        ] {
            let err = Settings::parse(&settings).unwrap_err();
            assert!(err.contains(want), "{settings}: {err}");
        }
        let socket = Settings::parse(
            &json!({"database": "a", "user": "n", "role_prefix": "a_", "host": "/run/postgresql"}),
        )
        .unwrap();
        assert_eq!(socket.host, "/run/postgresql");
    }
}
