//! Configuration errors: one [`Problem`] per thing wrong in the file, each with a
//! stable code, the file as source, an underlined span and a `help` line, and the
//! [`ConfigError`] that carries one problem or all of them.

use std::fmt;
use std::sync::{Arc, OnceLock};

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use serde_saphyr::Location;

/// The largest configuration file `nhi` reads, in bytes.
pub(crate) use super::words::{did_you_mean, list, lowercase_first, quote};

pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The class of a [`Problem`]; its code is `nhi::config::<class>` and never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    NotUtf8,
    Empty,
    Syntax,
    TooComplex,
    UnknownField,
    DuplicateKey,
    WrongType,
    InvalidValue,
    MissingField,
    UnsupportedVersion,
    InvalidName,
    DuplicateName,
    DuplicateSink,
    DuplicateBinding,
    DuplicateAdopt,
    UnknownType,
    InvalidSettings,
    UndefinedProvider,
    UnknownKind,
    EmptyValue,
    InvalidDuration,
    InvalidDate,
    InvalidSink,
    InvalidPolicy,
    InvalidAttributes,
    InvalidBinding,
    InvalidTags,
    OverlappingScope,
    ControlCharacter,
    UnknownRule,
    /// An `include:` entry that is not a relative path of plain names or globs
    /// beneath the configuration's directory.
    IncludePath,
    /// An `include:` entry that names no file.
    IncludeMissing,
    /// An included file that cannot be read safely: a link, not a regular file,
    /// unreadable, or past the bounds on size and count.
    IncludeUnreadable,
    /// An included file holding more than identities.
    IncludeContent,
}

impl ProblemKind {
    /// The stable diagnostic code, e.g. `nhi::config::unknown_field`.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotUtf8 => "nhi::config::not_utf8",
            Self::Empty => "nhi::config::empty",
            Self::Syntax => "nhi::config::syntax",
            Self::TooComplex => "nhi::config::too_complex",
            Self::UnknownField => "nhi::config::unknown_field",
            Self::DuplicateKey => "nhi::config::duplicate_key",
            Self::WrongType => "nhi::config::wrong_type",
            Self::InvalidValue => "nhi::config::invalid_value",
            Self::MissingField => "nhi::config::missing_field",
            Self::UnsupportedVersion => "nhi::config::unsupported_version",
            Self::InvalidName => "nhi::config::invalid_name",
            Self::DuplicateName => "nhi::config::duplicate_name",
            Self::DuplicateSink => "nhi::config::duplicate_sink",
            Self::DuplicateBinding => "nhi::config::duplicate_binding",
            Self::DuplicateAdopt => "nhi::config::duplicate_adopt",
            Self::UnknownType => "nhi::config::unknown_type",
            Self::InvalidSettings => "nhi::config::invalid_settings",
            Self::UndefinedProvider => "nhi::config::undefined_provider",
            Self::UnknownKind => "nhi::config::unknown_kind",
            Self::EmptyValue => "nhi::config::empty_value",
            Self::InvalidDuration => "nhi::config::invalid_duration",
            Self::InvalidDate => "nhi::config::invalid_date",
            Self::InvalidSink => "nhi::config::invalid_sink",
            Self::InvalidPolicy => "nhi::config::invalid_policy",
            Self::InvalidAttributes => "nhi::config::invalid_attributes",
            Self::InvalidBinding => "nhi::config::invalid_binding",
            Self::InvalidTags => "nhi::config::invalid_tags",
            Self::OverlappingScope => "nhi::config::overlapping_scope",
            Self::ControlCharacter => "nhi::config::control_character",
            Self::UnknownRule => "nhi::config::unknown_rule",
            Self::IncludePath => "nhi::config::include_path",
            Self::IncludeMissing => "nhi::config::include_missing",
            Self::IncludeUnreadable => "nhi::config::include_unreadable",
            Self::IncludeContent => "nhi::config::include_content",
        }
    }
}

/// One thing wrong in a configuration file, pointing at where it is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    kind: ProblemKind,
    message: String,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
    src: NamedSource<Arc<str>>,
    /// The position of its file among the configuration's files (0: the main
    /// one), to report problems in file order.
    file: u32,
    /// What is shown when a line near a label is too long to show whole: made
    /// on first render, `None` when every such line is short.
    excerpt: OnceLock<Option<super::excerpt::Excerpt>>,
}

impl Problem {
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// Underline `span`; the first label is the primary one.
    pub(crate) fn label(mut self, span: SourceSpan, text: impl Into<String>) -> Self {
        let text = Some(text.into());
        let label = if self.labels.is_empty() {
            LabeledSpan::new_primary_with_span(text, span)
        } else {
            LabeledSpan::new_with_span(text, span)
        };
        self.labels.push(label);
        self
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Where the primary label starts, to report problems in file order.
    pub(crate) fn offset(&self) -> usize {
        self.labels.first().map_or(0, LabeledSpan::offset)
    }

    /// The problem as one of the `file`th file of the configuration.
    pub(crate) fn in_file(mut self, file: u32) -> Self {
        self.file = file;
        self
    }

    /// The file's position and the offset in it, to report the problems of
    /// several files in order.
    pub(crate) fn position(&self) -> (u32, usize) {
        (self.file, self.offset())
    }

    fn excerpt(&self) -> Option<&super::excerpt::Excerpt> {
        self.excerpt
            .get_or_init(|| super::excerpt::Excerpt::of(&self.src, &self.labels))
            .as_ref()
    }
}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self.excerpt() {
            Some(excerpt) => Some(excerpt),
            None => Some(&self.src),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self.excerpt() {
            Some(excerpt) => Some(Box::new(excerpt.labels().iter().cloned())),
            None => Some(Box::new(self.labels.iter().cloned())),
        }
    }
}

/// Why a configuration could not be loaded.
///
/// Implements [`Diagnostic`] by hand because a [`Problem`]'s code depends on its class.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read (`nhi::config::read`).
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than nhi reads (`nhi::config::too_large`).
    #[error("`{path}` is too large ({size} bytes)")]
    TooLarge { path: String, size: u64 },
    /// The one problem that stopped reading the file: not UTF-8, empty, not YAML, or
    /// not the shape of a configuration.
    #[error(transparent)]
    Problem(Box<Problem>),
    /// Every problem found in a well-formed file (`nhi::config::invalid`).
    #[error("`{path}` has {} errors", problems.len())]
    Invalid {
        path: String,
        src: NamedSource<Arc<str>>,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem this error reports, in file order.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Read { .. } | Self::TooLarge { .. } => &[],
            Self::Problem(problem) => std::slice::from_ref(problem),
            Self::Invalid { problems, .. } => problems,
        }
    }
}

impl Diagnostic for ConfigError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            Self::Read { .. } => "nhi::config::read",
            Self::TooLarge { .. } => "nhi::config::too_large",
            Self::Problem(problem) => return Diagnostic::code(problem.as_ref()),
            Self::Invalid { .. } => "nhi::config::invalid",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help: Box<dyn fmt::Display> = match self {
            Self::Read { source, .. } => Box::new(format!(
                "check the path and its permissions ({})",
                lowercase_first(&source.to_string())
            )),
            Self::TooLarge { .. } => Box::new(format!(
                "nhi reads configuration files up to {} MiB; check that this is the right file",
                MAX_FILE_BYTES / 1024 / 1024
            )),
            Self::Problem(problem) => return Diagnostic::help(problem.as_ref()),
            Self::Invalid { .. } => Box::new("fix each error below; nothing was changed"),
        };
        Some(help)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self {
            Self::Read { .. } | Self::TooLarge { .. } => None,
            Self::Problem(problem) => Diagnostic::source_code(problem.as_ref()),
            Self::Invalid { src, .. } => Some(src),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self {
            Self::Problem(problem) => Diagnostic::labels(problem.as_ref()),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            Self::Invalid { problems, .. } => {
                Some(Box::new(problems.iter().map(|p| p as &dyn Diagnostic)))
            }
            _ => None,
        }
    }
}

/// The file being read, as problems show it, and the way to turn YAML locations
/// into spans of it.
pub(crate) struct Source<'a> {
    name: String,
    text: &'a str,
    /// The configuration's directory, which relative paths in settings are
    /// resolved against.
    dir: std::path::PathBuf,
    /// The position of this file among the configuration's files (0: the main one).
    file: u32,
    /// What problems show: the text with terminal control characters replaced byte
    /// for byte, so spans of `text` are spans of it and a report cannot drive the
    /// terminal. Made on the first problem; a valid file never pays for it.
    shown: OnceLock<Arc<str>>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(name: &str, text: &'a str) -> Self {
        Self {
            name: name.to_owned(),
            text,
            dir: std::path::PathBuf::from("."),
            file: 0,
            shown: OnceLock::new(),
        }
    }

    /// The source of a file in `dir`.
    pub(crate) fn in_dir(mut self, dir: &std::path::Path) -> Self {
        dir.clone_into(&mut self.dir);
        self
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The source of the configuration's `file`th file (0: the main one).
    pub(crate) fn file(mut self, file: u32) -> Self {
        self.file = file;
        self
    }

    pub(crate) fn position(&self) -> u32 {
        self.file
    }

    /// The 1-based line that holds byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = floor_boundary(self.text, offset.min(self.text.len()));
        memchr::memchr_iter(b'\n', &self.text.as_bytes()[..end]).count() + 1
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    pub(crate) fn named(&self) -> NamedSource<Arc<str>> {
        let shown = self.shown.get_or_init(|| sanitize(self.text).into());
        NamedSource::new(&self.name, Arc::clone(shown))
    }

    pub(crate) fn problem(&self, kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: message.into(),
            help: None,
            labels: Vec::new(),
            src: self.named(),
            file: self.file,
            excerpt: OnceLock::new(),
        }
    }

    /// The span of a YAML node. A node that starts a block mapping has no length;
    /// it is widened to the rest of its line so the underline shows the entry.
    pub(crate) fn span(&self, location: &Location) -> SourceSpan {
        let text = self.text();
        let span = location.span();
        let (start, len) = match (span.byte_offset(), span.byte_len()) {
            (Some(start), Some(len)) => (to_usize(start), to_usize(len)),
            _ => match self.offset_of(location) {
                Some(start) => (
                    start,
                    text[start..].chars().next().map_or(0, char::len_utf8),
                ),
                None => return SourceSpan::new(0.into(), 0),
            },
        };
        let start = floor_boundary(text, start.min(text.len()));
        let mut end = floor_boundary(text, start.saturating_add(len).min(text.len()));
        if end == start {
            end = start + line_rest(&text[start..]);
        }
        SourceSpan::new(start.into(), end - start)
    }

    /// Byte offset of a 1-based line and character column.
    fn offset_of(&self, location: &Location) -> Option<usize> {
        let (line, column) = (location.line(), location.column());
        if line == 0 {
            return None;
        }
        let text = self.text();
        let mut start = 0;
        for _ in 1..line {
            start += text[start..].find('\n')? + 1;
        }
        let skip = to_usize(column.saturating_sub(1));
        let line_text = &text[start..];
        let within = line_text
            .char_indices()
            .take_while(|&(_, c)| c != '\n')
            .nth(skip)
            .map_or_else(
                || line_text.find('\n').unwrap_or(line_text.len()),
                |(i, _)| i,
            );
        Some(start + within)
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Length of the rest of the line, without a trailing comment or blanks.
fn line_rest(rest: &str) -> usize {
    let line = rest.split('\n').next().unwrap_or_default();
    let line = line.find(" #").map_or(line, |i| &line[..i]);
    line.trim_end().len()
}

/// Replace control characters other than newline, tab and carriage return with `?`,
/// keeping every byte offset where it was.
fn sanitize(text: &str) -> String {
    let dangerous =
        |c: char| nhi_provider_sdk::text::is_unsafe_char(c) && !matches!(c, '\n' | '\t' | '\r');
    if !text.contains(dangerous) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if dangerous(c) {
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_keeps_offsets() {
        let text = "a\u{0}b\u{85}c\u{202e}d\n\te";
        let clean = sanitize(text);
        assert_eq!(clean.len(), text.len());
        assert_eq!(clean, "a?b??c???d\n\te");
    }
}
