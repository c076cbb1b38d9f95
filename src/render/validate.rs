//! What `nhi validate --json` reports: whether the configuration is valid, what
//! it declares, and every problem found with where it is
//! (`schemas/validate-json.schema.json`).

use miette::Diagnostic;
use schemars::JsonSchema;
use serde::Serialize;

use crate::config::{Config, ConfigError};

/// Bumped on any incompatible change of [`ValidateJson`].
pub const VALIDATE_JSON_FORMAT_VERSION: u32 = 1;

/// The verdict on a configuration. Fields are stable within a `format_version`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidateJson {
    pub format_version: u32,
    /// The configuration file as given.
    pub config_path: String,
    pub valid: bool,
    /// What the configuration declares; `null` when it is not valid.
    pub counts: Option<Counts>,
    /// Every problem found, in file order; empty when valid.
    pub problems: Vec<ProblemJson>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Counts {
    pub providers: usize,
    pub identities: usize,
    pub keys: usize,
    pub bindings: usize,
}

/// One problem, as stderr shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemJson {
    /// A stable code such as `nhi::config::unknown_field`.
    pub code: Option<String>,
    pub message: String,
    pub help: Option<String>,
    /// The file the problem is in.
    pub file: String,
    /// 1-based line and column of the underlined text; `null` when the problem
    /// concerns the file as a whole (it cannot be read, say).
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// What the configuration declares.
pub fn counts(config: &Config) -> Counts {
    Counts {
        providers: config.providers.len(),
        identities: config.identities.len(),
        keys: config.identities.iter().map(|i| i.keys.len()).sum(),
        bindings: config.identities.iter().map(|i| i.bindings.len()).sum(),
    }
}

/// [`ValidateJson`] of a valid configuration.
pub fn valid(path: &str, config: &Config) -> ValidateJson {
    ValidateJson {
        format_version: VALIDATE_JSON_FORMAT_VERSION,
        config_path: path.to_owned(),
        valid: true,
        counts: Some(counts(config)),
        problems: Vec::new(),
    }
}

/// [`ValidateJson`] of a configuration that could not be loaded.
pub fn invalid(path: &str, error: &ConfigError) -> ValidateJson {
    let problems = if error.problems().is_empty() {
        vec![problem(path, error)]
    } else {
        error.problems().iter().map(|p| problem(path, p)).collect()
    };
    ValidateJson {
        format_version: VALIDATE_JSON_FORMAT_VERSION,
        config_path: path.to_owned(),
        valid: false,
        counts: None,
        problems,
    }
}

fn problem(path: &str, diagnostic: &dyn Diagnostic) -> ProblemJson {
    let span = diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| *label.inner());
    let contents = span.and_then(|span| {
        let source = diagnostic.source_code()?;
        source.read_span(&span, 0, 0).ok()
    });
    let file = contents
        .as_ref()
        .and_then(|c| c.name().map(str::to_owned))
        .unwrap_or_else(|| path.to_owned());
    ProblemJson {
        code: diagnostic.code().map(|c| c.to_string()),
        message: diagnostic.to_string(),
        help: diagnostic.help().map(|h| h.to_string()),
        file,
        line: contents.as_ref().map(|c| c.line() + 1),
        column: contents.as_ref().map(|c| c.column() + 1),
    }
}

/// The JSON Schema of [`ValidateJson`], as checked in under `schemas/`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ValidateJson)).expect("invariant: schemas serialise")
}

#[cfg(test)]
mod tests {
    /// `schemas/validate-json.schema.json` is generated from
    /// [`super::ValidateJson`]; `NHI_UPDATE_SCHEMAS=1` regenerates it.
    #[test]
    fn validate_json_schema_is_up_to_date() {
        crate::check_schema_file("validate-json.schema.json", &super::schema());
    }
}
