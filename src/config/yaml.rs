//! YAML text → [`RawConfig`]: the parser's limits, and its errors turned into
//! [`Problem`]s that say what to do.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, Error, Location, MessageFormatter as _, Options};

use super::error::{MAX_FILE_BYTES, Problem, ProblemKind, Source, list, lowercase_first, quote};
use super::raw::RawConfig;

/// Deepest nesting accepted; configurations need about ten levels, inline policies a
/// few more. Also bounds recursion while building JSON values.
const MAX_DEPTH: usize = 64;
/// Parser events (one per scalar, collection start or end) per configuration. A
/// 100,000-identity file needs about 6 million; bounded by the file size in any case.
const MAX_EVENTS: usize = 64 * 1024 * 1024;
/// Events replayed from aliases across the file: anchors are fine for sharing a
/// binding list, but cannot be used to multiply the file (a "billion laughs").
const MAX_REPLAYED_EVENTS: usize = 1_000_000;

const MINIMAL_EXAMPLE: &str = "write a configuration such as:

    providers:
      - name: demo
        type: local
        settings: {state: estate.json}
    identities:
      - name: ci-deployer
        provider: demo
        owner: platform@example.com";

pub(crate) fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_events = MAX_EVENTS;
    budget.max_nodes = MAX_EVENTS;
    budget.max_total_scalar_bytes = usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX);
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    // Locations are enough: reports show the file through miette, not saphyr's snippets.
    options.with_snippet = false;
    // `prune: yes` or `prune: off` are YAML 1.1 spellings that surprise people.
    options.strict_booleans = true;
    options
}

/// Parse `source` into the raw configuration, or every problem of the typed parse:
/// each entry's type errors and every unknown field.
pub(crate) fn parse(source: &Source<'_>, text: &str) -> Result<RawConfig, Vec<Problem>> {
    let parsed = parse_all(source, text);
    match parsed.raw {
        Some(raw) if parsed.problems.is_empty() => Ok(raw),
        _ => Err(parsed.problems),
    }
}

/// The most problems the typed parse reports (one parse of the file each).
pub(super) const MAX_PARSE_PROBLEMS: usize = 100;

/// What [`parse_all`] read.
pub(crate) struct Parsed {
    /// The configuration without the entries and fields that failed, unless the
    /// file's shape is wrong.
    pub raw: Option<RawConfig>,
    /// The problems of the typed parse, in file order; none when `raw` is whole.
    pub problems: Vec<Problem>,
    /// Where each entry that lost a field starts, and whether a provider block
    /// was among them: the checks that a field is there do not hold for them.
    pub partial: Vec<usize>,
    pub provider_failed: bool,
    /// Whether reading stopped at [`MAX_PARSE_PROBLEMS`] before the end.
    pub stopped: bool,
}

/// Parse `source`, collecting every problem the typed parse finds: it is tried
/// again without each entry's failed field until it succeeds (`lenient`).
pub(crate) fn parse_all(source: &Source<'_>, text: &str) -> Parsed {
    let failed = |problems| Parsed {
        raw: None,
        problems,
        partial: Vec::new(),
        provider_failed: false,
        stopped: false,
    };
    if is_blank(text) {
        let problem = source
            .problem(
                ProblemKind::Empty,
                format!("{} is empty", quote(source.name())),
            )
            .label(
                miette::SourceSpan::from(0..0),
                "nothing but blank lines and comments",
            )
            .with_help(MINIMAL_EXAMPLE);
        return failed(vec![problem]);
    }
    let read = || serde_saphyr::from_str_with_options::<RawConfig>(text, options());
    if let Ok(raw) = read() {
        return Parsed {
            raw: Some(raw),
            problems: Vec::new(),
            partial: Vec::new(),
            provider_failed: false,
            stopped: false,
        };
    }
    let collected = super::lenient::collect(MAX_PARSE_PROBLEMS, about_a_value, read);
    let stopped = collected.value.is_none() && collected.errors.len() == MAX_PARSE_PROBLEMS;
    let mut problems: Vec<Problem> = collected
        .errors
        .iter()
        .map(|err| problem(source, err))
        .collect();
    let unknown = super::fields::unknown_fields(source, text);
    if !unknown.is_empty() {
        // Found all, each where it is written.
        problems.retain(|p| p.kind() != ProblemKind::UnknownField);
    }
    for field in unknown {
        if !problems.iter().any(|p| p.offset() == field.offset()) {
            problems.push(field);
        }
    }
    problems.sort_by_key(Problem::offset);
    problems.dedup_by(|a, b| a.offset() == b.offset() && a.to_string() == b.to_string());
    let provider_failed = collected
        .partial
        .iter()
        .any(|(list, _)| *list == "providers");
    let partial = collected
        .partial
        .iter()
        .filter(|(_, location)| location.line() != 0)
        .map(|(_, location)| source.span(location).offset())
        .collect();
    Parsed {
        raw: collected.value,
        problems,
        partial,
        provider_failed,
        stopped,
    }
}

/// Whether `err` is about one value in well-formed YAML, so that the parse can go
/// on without it.
fn about_a_value(err: &Error) -> bool {
    match err {
        Error::AliasError { error, .. } => about_a_value(error),
        Error::SerdeUnknownField { .. }
        | Error::SerdeMissingField { .. }
        | Error::SerdeInvalidType { .. }
        | Error::Unexpected { .. }
        | Error::InvalidScalar { .. }
        | Error::InvalidBooleanStrict { .. }
        | Error::NullIntoString { .. }
        | Error::NonFiniteFloat { .. }
        | Error::SerdeInvalidValue { .. }
        | Error::SerdeInvalidLength { .. }
        | Error::SerdeUnknownVariant { .. } => true,
        _ => false,
    }
}

/// Whether the text holds no YAML content: only blanks, comments and document markers.
pub(super) fn is_blank(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

fn problem(source: &Source<'_>, err: &Error) -> Problem {
    let explained = explain(source, err);
    source
        .problem(explained.kind, explained.message)
        .label(explained.span, explained.label)
        .with_help(explained.help)
}

/// A YAML error as nhi reports it, for any file it reads (the trust policy too):
/// what is wrong, where, and what to do.
pub(crate) struct Explained {
    pub kind: ProblemKind,
    pub message: String,
    pub span: miette::SourceSpan,
    pub label: String,
    pub help: String,
}

pub(crate) fn explain(source: &Source<'_>, err: &Error) -> Explained {
    let err = err.without_snippet();
    // An error inside an aliased value is reported where the alias is used.
    let (err, location) = match err {
        Error::AliasError {
            error, locations, ..
        } => (error.without_snippet(), Some(locations.reference_location)),
        _ => (err, err.location()),
    };
    let location = location.unwrap_or(Location::UNKNOWN);
    let span = source.span(&location);
    let (kind, message, label, help) = describe(source, err);
    Explained {
        kind,
        message,
        span,
        label,
        help,
    }
}

/// Kind, message, label and help for one parse error.
fn describe(source: &Source<'_>, err: &Error) -> (ProblemKind, String, String, String) {
    match err {
        Error::SerdeUnknownField {
            field, expected, ..
        } => (
            ProblemKind::UnknownField,
            format!("unknown field {}", quote(field)),
            "not a field here".into(),
            super::fields::unknown_field_help(field, expected),
        ),
        Error::SerdeMissingField { field, .. } => (
            ProblemKind::MissingField,
            format!("missing field {}", quote(field)),
            "in this entry".into(),
            format!("add {}", quote(field)),
        ),
        Error::DuplicateMappingKey { key, .. } => {
            let key = key.as_deref().map_or_else(|| "a key".to_owned(), quote);
            (
                ProblemKind::DuplicateKey,
                format!("duplicate key {key}"),
                "already given above".into(),
                "keep one of the two entries".into(),
            )
        }
        Error::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            ProblemKind::WrongType,
            format!("expected {}, found {}", expected_text(expected), unexpected),
            format!("expected {}", expected_text(expected)),
            "change the value to the expected type".into(),
        ),
        Error::Unexpected { expected, .. } => {
            let expected = expected_text(expected);
            let help = if expected == "a mapping" {
                "write `key: value` entries here (the file itself is a mapping with `providers` and `identities`)"
            } else {
                "change the value to the expected type"
            };
            (
                ProblemKind::WrongType,
                format!("expected {expected}"),
                format!("expected {expected}"),
                help.into(),
            )
        }
        Error::InvalidScalar { ty, .. } => {
            let expected = expected_text(ty);
            (
                ProblemKind::WrongType,
                format!("expected {expected}"),
                format!("not {expected}"),
                "change the value to the expected type".into(),
            )
        }
        Error::InvalidBooleanStrict { .. } => (
            ProblemKind::WrongType,
            "expected `true` or `false`".into(),
            "not `true` or `false`".into(),
            "write `true` or `false`".into(),
        ),
        Error::NullIntoString { .. } => (
            ProblemKind::WrongType,
            "expected a string, found nothing".into(),
            "empty value".into(),
            "write a value after the colon, or remove the key".into(),
        ),
        Error::NonFiniteFloat { value, .. } => (
            ProblemKind::InvalidValue,
            format!("{} is not a finite number", quote(value)),
            "not a finite number".into(),
            "quote the value to keep it as a string".into(),
        ),
        Error::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            ProblemKind::InvalidValue,
            format!("invalid value {unexpected}, expected {expected}"),
            "invalid value".into(),
            format!("write {expected}"),
        ),
        Error::SerdeInvalidLength { len, expected, .. } => (
            ProblemKind::InvalidValue,
            format!("expected {expected}, found {len} elements"),
            "wrong number of elements".into(),
            format!("write {expected}"),
        ),
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            ProblemKind::InvalidValue,
            format!("unknown value {}", quote(variant)),
            "not allowed here".into(),
            format!("use one of {}", list(expected.iter().copied())),
        ),
        Error::MultipleDocuments { .. } => (
            ProblemKind::Syntax,
            format!("{} holds more than one YAML document", quote(source.name())),
            "a second document starts here".into(),
            "keep one document: remove this `---` and merge what follows into the first".into(),
        ),
        Error::Budget { breach, .. } => (
            ProblemKind::TooComplex,
            format!(
                "{} is too complex to read safely: {}",
                quote(source.name()),
                breach_text(breach)
            ),
            "limit reached here".into(),
            "simplify the file: reduce nesting and aliases".into(),
        ),
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => (
            ProblemKind::TooComplex,
            format!(
                "{} is too complex to read safely: aliases expand to too much",
                quote(source.name())
            ),
            "limit reached here".into(),
            format!(
                "aliases may replay at most {MAX_REPLAYED_EVENTS} values in total; write the repeated parts out, or use fewer aliases"
            ),
        ),
        Error::Eof { .. } => (
            ProblemKind::Syntax,
            "unexpected end of file".into(),
            "the file ends here".into(),
            "complete the last entry".into(),
        ),
        other => {
            let message = serde_saphyr::UserMessageFormatter.format_message(other);
            let message = lowercase_first(message.trim_end_matches('.'));
            let message = message.replace("tabs disallowed", "tabs are not allowed");
            let help = if message.contains("tab") {
                "indent with spaces, not tabs"
            } else {
                "fix the YAML syntax here"
            };
            (
                ProblemKind::Syntax,
                format!("invalid YAML: {message}"),
                "here".into(),
                help.into(),
            )
        }
    }
}

/// How an expected type reads in a message.
fn expected_text(expected: &str) -> String {
    match expected {
        "mapping start" | "a map" | "map" | "struct" => "a mapping".into(),
        "sequence start" | "a sequence" | "sequence" => "a list".into(),
        "string scalar" | "a string" | "string" | "str" => "a string".into(),
        "bool" | "a boolean" => "`true` or `false`".into(),
        "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "usize" | "isize"
        | "i64 value" | "u32 value" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        other if other.starts_with("a ") || other.starts_with("an ") => other.into(),
        other => format!("a {other}"),
    }
}

fn breach_text(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!("nesting goes deeper than {MAX_DEPTH} levels"),
        BudgetBreach::Events { .. } | BudgetBreach::Nodes { .. } => {
            format!("more than {MAX_EVENTS} values")
        }
        BudgetBreach::Aliases { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => "aliases expand to too much".into(),
        BudgetBreach::Anchors { .. } => "too many anchors".into(),
        BudgetBreach::ScalarBytes { .. } => "too much text".into(),
        BudgetBreach::Documents { .. } => "more than one document".into(),
        _ => "a safety limit was exceeded".into(),
    }
}
