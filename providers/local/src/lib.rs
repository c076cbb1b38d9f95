//! `nhi-provider-local`: the `local` provider, an estate of identities kept in one
//! JSON file. It is the embedded default, used by examples, tests and benchmarks.
//!
//! Map: [`LocalType`] validates settings and names offline and connects a
//! [`LocalProvider`] (`provider`), which reads and rewrites the estate file
//! (`estate`: the on-disk format), carries out operations on it (`ops`, pure),
//! mints keys (`keygen`) and takes the scope lock (`lock`).
//!
//! # Estate file format
//!
//! ```json
//! {"nhi_local_estate":1,"identities":[
//! {"name":"ci","kind":"service_account","owner":"team-a","description":"","tags":{},"keys":[],"bindings":[]}
//! ]}
//! ```
//!
//! - `nhi_local_estate`: the format version; only `1` exists. Readers reject any
//!   other version before looking at the rest, so it is written first.
//! - `identities`: each element is encoded exactly as the SDK's `ObservedIdentity`
//!   (the identity's fields, then `keys` and `bindings`). Names are unique; key ids
//!   and `(role, resource)` pairs are unique within an identity. Written sorted by
//!   name, one identity per line so that estates diff well; read in any order.
//! - Keys never carry secret material: a secret exists only in the apply response.
//! - A missing file is an empty estate. Writes replace the file atomically.

mod estate;
mod keygen;
mod lock;
mod ops;
mod provider;

pub use estate::{FORMAT_VERSION, read_estate, write_estate};
pub use provider::LocalProvider;

use nhi_provider_sdk::{
    DeclaredPart, Provider, ProviderContext, ProviderError, ProviderType, ValidateRequest,
    ValidateResponse,
};

/// Identity kinds of the local estate; the first is the default.
const KINDS: &[&str] = &["service_account", "user", "role"];

/// The `local` provider type.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalType;

impl ProviderType for LocalType {
    fn type_name(&self) -> &'static str {
        "local"
    }

    fn kinds(&self) -> &'static [&'static str] {
        KINDS
    }

    /// Names follow the estate's rule; the local estate stands in for any cloud,
    /// so it keeps whatever attributes, bindings and tags the configuration
    /// declares.
    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        for (i, identity) in request.identities.iter().enumerate() {
            if let (Some(kind), Some(name)) = (identity.kind, identity.name) {
                response.check(i, DeclaredPart::Name, check_identity_name(kind, name));
            }
        }
        response
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        state_setting(settings).map(|_| ())
    }

    /// Decoding an estate is work for the cores, not a wait on the network.
    fn read_beside_config(&self) -> bool {
        false
    }

    /// The estate records each key's `last_used` when it has one.
    fn reports_key_use(&self) -> bool {
        true
    }

    /// Two blocks overlap when their estate files are one file: the same path
    /// once `.`, `..` and symbolic links are resolved.
    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        base_dir: &std::path::Path,
    ) -> Option<String> {
        let (a, b) = (state_setting(settings).ok()?, state_setting(other).ok()?);
        (estate_file(base_dir, a) == estate_file(base_dir, b))
            .then(|| format!("`{a}` and `{b}` are one estate file"))
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        let state = state_setting(&context.settings).map_err(ProviderError::Settings)?;
        Ok(Box::new(LocalProvider::new(state, &context.base_dir)))
    }
}

/// The estate file `state` names, as one path whatever way it is written: the
/// file itself resolved when it exists, else its directory, else the path with
/// `.` and `..` taken out.
fn estate_file(base_dir: &std::path::Path, state: &str) -> std::path::PathBuf {
    let path = base_dir.join(state);
    if let Ok(real) = std::fs::canonicalize(&path) {
        return real;
    }
    let lexical = lexical(&path);
    match (lexical.parent(), lexical.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                parent
            };
            std::fs::canonicalize(parent).map_or(lexical.clone(), |p| p.join(name))
        }
        _ => lexical,
    }
}

/// `path` with `.` dropped and `..` taking out the component before it.
fn lexical(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn check_identity_name(kind: &str, name: &str) -> Result<(), String> {
    if !KINDS.contains(&kind) {
        return Err(format!(
            "kind `{kind}` is not one the local provider knows (`service_account`, `user`, `role`)"
        ));
    }
    check_name(name)
}

/// The rule `^[a-z][a-z0-9-]{0,62}$`, without a regex engine.
fn check_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let valid = matches!(bytes.first(), Some(b'a'..=b'z'))
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(
            "must start with a lowercase letter and contain only lowercase letters, digits \
             and `-` (at most 63 characters)"
                .to_owned(),
        )
    }
}

/// The `state` path of valid settings: a mapping with exactly that one field.
fn state_setting(settings: &serde_json::Value) -> Result<&str, String> {
    let Some(fields) = settings.as_object() else {
        return Err(
            "settings must be a mapping with one field, `state`: the path of the estate file"
                .to_owned(),
        );
    };
    let unknown: Vec<String> = fields
        .keys()
        .filter(|k| *k != "state")
        .map(|k| format!("`{k}`"))
        .collect();
    if !unknown.is_empty() {
        let plural = if unknown.len() == 1 { "" } else { "s" };
        return Err(format!(
            "unknown setting{plural} {}; the local provider takes only `state`",
            unknown.join(", ")
        ));
    }
    match fields.get("state") {
        None => Err("missing setting `state`: the path of the estate file".to_owned()),
        Some(serde_json::Value::String(state)) if state.is_empty() => {
            Err("setting `state` is empty; it must be the path of the estate file".to_owned())
        }
        Some(serde_json::Value::String(state)) => Ok(state),
        Some(_) => Err("setting `state` must be a string: the path of the estate file".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_names() {
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("ci-deployer", true),
            ("a1-2", true),
            (&long, true),
            (&too_long, false),
            ("", false),
            ("1abc", false),
            ("-abc", false),
            ("Abc", false),
            ("a_b", false),
            ("a.b", false),
            ("é", false),
            ("a b", false),
        ];
        for (name, ok) in cases {
            assert_eq!(
                super::check_identity_name("service_account", name).is_ok(),
                *ok,
                "{name}"
            );
        }
        let err = super::check_identity_name("user", "Bad").unwrap_err();
        assert!(err.contains("lowercase letter"), "{err}");
        assert!(
            super::check_identity_name("robot", "ok")
                .unwrap_err()
                .contains("`robot`")
        );
    }

    #[test]
    fn settings() {
        let cases: &[(serde_json::Value, Result<(), &str>)] = &[
            (json!({"state": "estate.json"}), Ok(())),
            (json!({"state": "/abs/estate.json"}), Ok(())),
            (
                json!({}),
                Err("missing setting `state`: the path of the estate file"),
            ),
            (
                json!({"state": ""}),
                Err("setting `state` is empty; it must be the path of the estate file"),
            ),
            (
                json!({"state": 3}),
                Err("setting `state` must be a string: the path of the estate file"),
            ),
            (
                json!({"state": "e.json", "region": "x"}),
                Err("unknown setting `region`; the local provider takes only `state`"),
            ),
            (
                json!({"path": "e", "zone": "x"}),
                Err("unknown settings `path`, `zone`; the local provider takes only `state`"),
            ),
            (
                json!(null),
                Err(
                    "settings must be a mapping with one field, `state`: the path of the estate file",
                ),
            ),
            (
                json!(["state"]),
                Err(
                    "settings must be a mapping with one field, `state`: the path of the estate file",
                ),
            ),
        ];
        for (settings, want) in cases {
            let got = LocalType.check_settings(settings);
            assert_eq!(
                got.as_ref().map_err(String::as_str),
                want.as_ref().map_err(|e| *e),
                "{settings}"
            );
        }
    }

    #[test]
    fn type_facts_and_bad_settings_do_not_connect() {
        assert_eq!(LocalType.type_name(), "local");
        assert_eq!(LocalType.kinds(), ["service_account", "user", "role"]);
        let context = ProviderContext {
            name: "demo".into(),
            settings: json!({"stat": "x"}),
            base_dir: ".".into(),
        };
        let Err(err) = LocalType.connect(context) else {
            panic!("connected with bad settings")
        };
        assert!(matches!(err, ProviderError::Settings(_)), "{err}");
    }
}
