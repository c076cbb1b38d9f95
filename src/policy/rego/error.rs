//! Why an org policy bundle cannot be loaded, tested or evaluated, and the
//! diagnostics that point into a bundle's file.

use miette::{Diagnostic, NamedSource, SourceSpan};

use super::load;

/// Why a bundle cannot be loaded, tested or evaluated.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RegoError {
    #[error("policy path `{path}` {reason}")]
    #[diagnostic(
        code(nhi::policy::rego),
        help("policy paths are relative to the configuration's directory and stay inside it")
    )]
    Path { path: String, reason: String },

    #[error("cannot read policy path `{path}`: {detail}")]
    #[diagnostic(
        code(nhi::policy::rego),
        help("check that the path exists, relative to the configuration's directory")
    )]
    Io { path: String, detail: String },

    #[error("no `.rego` files under {paths}")]
    #[diagnostic(
        code(nhi::policy::rego),
        help("name `.rego` files, or directories that hold some")
    )]
    Empty { paths: String },

    #[error("policy file `{path}` is larger than {limit} bytes")]
    #[diagnostic(code(nhi::policy::rego), help("split the policy into smaller files"))]
    TooLarge { path: String, limit: u64 },

    #[error("the policy bundle holds more than {limit} `.rego` files")]
    #[diagnostic(code(nhi::policy::rego), help("name fewer files or directories"))]
    TooMany { limit: usize },

    #[error("policy file `{path}` is not UTF-8")]
    #[diagnostic(code(nhi::policy::rego), help("save the file as UTF-8"))]
    NotUtf8 { path: String },

    /// A file regorus cannot parse, or whose rules break nhi's conventions.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(Box<SourceError>),

    #[error("the org policy bundle cannot be prepared: {detail}")]
    #[diagnostic(
        code(nhi::policy::rego),
        help("`nhi policy test` on the bundle shows the failing rule")
    )]
    Prepare { detail: String },

    #[error("org policy rule `{rule}` failed: {detail}")]
    #[diagnostic(
        code(nhi::policy::rego),
        help(
            "a policy that fails never passes: fix the rule (built-in errors are errors, as `opa eval --strict-builtin-errors`)"
        )
    )]
    Eval { rule: String, detail: String },

    #[error("org policy rule `{rule}` produced {detail}")]
    #[diagnostic(
        code(nhi::policy::rego),
        help(
            "a finding is a message string or `{{\"msg\": <string>, \"address\": <an address of this configuration>}}`"
        )
    )]
    Finding { rule: String, detail: String },
}

/// A problem in a bundle's file, pointed at.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("`{file}` line {line}: {detail}")]
#[diagnostic(code(nhi::policy::rego), help("{help}"))]
pub struct SourceError {
    /// Relative to the configuration's directory.
    pub file: String,
    /// 1-based.
    pub line: u32,
    pub detail: String,
    help: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    span: SourceSpan,
}

/// A regorus parse error (`--> file:line:col` then `error: …`) as a
/// diagnostic that points into the file.
pub(super) fn parse_error(file: &load::SourceFile, error: &anyhow::Error) -> RegoError {
    let text = error.to_string();
    let position = text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("--> ")?;
        let mut parts = rest.rsplitn(3, ':');
        let col = parts.next()?.parse::<u32>().ok()?;
        let line = parts.next()?.parse::<u32>().ok()?;
        Some((line, col))
    });
    let detail = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("cannot parse")
        .trim()
        .trim_start_matches("error: ")
        .to_owned();
    let (line, col) = position.unwrap_or((1, 1));
    source_error(
        file,
        line,
        col,
        detail,
        "see the Rego reference: https://www.openpolicyagent.org/docs/policy-language".into(),
    )
}

pub(super) fn source_error(
    file: &load::SourceFile,
    line: u32,
    col: u32,
    detail: String,
    help: String,
) -> RegoError {
    let offset: usize = file
        .text
        .split_inclusive('\n')
        .take((line as usize).saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + (col as usize).saturating_sub(1);
    let offset = offset.min(file.text.len());
    RegoError::Source(Box::new(SourceError {
        file: file.path.clone(),
        line,
        detail,
        help,
        src: NamedSource::new(&file.path, file.text.clone()),
        span: SourceSpan::new(offset.into(), 0),
    }))
}
