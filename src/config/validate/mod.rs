//! [`RawConfig`] → validated providers and identities. Every check runs, and every
//! problem is collected, so one run shows the user everything to fix. Provider
//! blocks and identities are checked here, their keys and bindings in `values`.

mod batch;
mod identity;
mod policy;
mod provider;
mod values;

use std::collections::HashMap;
use std::fmt;

use miette::SourceSpan;
use nhi_provider_sdk::ProviderType;
use serde_saphyr::Spanned;

use crate::registry::Registry;

use super::error::{Problem, ProblemKind, Source, quote};
use super::model::{DesiredIdentity, ProviderBlock};
use super::raw::{RawConfig, RawIdentity, RawProvider};

/// Text written only when it is displayed: messages that name an entry are needed
/// only when there is a problem, and formatting them for every valid entry of a
/// large file costs more than checking it.
pub(super) struct OnDisplay<F>(pub(super) F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for OnDisplay<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

const NAME_HELP: &str = "a name starts with a lowercase letter and has at most 63 lowercase letters, digits, `-` or `_`";

/// What validation produces when nothing is wrong.
pub(crate) struct Valid {
    pub providers: Vec<ProviderBlock>,
    pub identities: Vec<DesiredIdentity>,
    pub policy: crate::policy::record::PolicyRecord,
    pub rego: Vec<String>,
}

/// Check everything; on failure, every problem found, in file order.
/// Moves values out of `raw` into the model instead of copying them.
pub(crate) fn validate(
    source: &Source<'_>,
    registry: &Registry,
    raw: &mut RawConfig,
) -> Result<Valid, Vec<Problem>> {
    validate_files(source, registry, raw, &mut [])
}

/// [`validate`] of a configuration and its included files, each with its own
/// source: the identities of the included files come after the main file's,
/// in the order given. Included files hold identities only (checked by the
/// caller); a problem in one points into it.
pub(crate) fn validate_files<'a>(
    source: &'a Source<'a>,
    registry: &'a Registry,
    raw: &mut RawConfig,
    included: &mut [(&'a Source<'a>, RawConfig)],
) -> Result<Valid, Vec<Problem>> {
    let mut v = Incremental::new(source, registry);
    if let Some(version) = &raw.version {
        v.version(version);
    }
    for provider in &raw.providers {
        v.provider(provider);
    }
    for identity in &mut raw.identities {
        v.identity(identity);
    }
    for (file, raw) in included.iter_mut() {
        v.v.enter(file);
        if let Some(version) = &raw.version {
            v.version(version);
        }
        for identity in &mut raw.identities {
            v.identity(identity);
        }
    }
    v.v.enter(source);
    if let Some(policy) = &raw.policy {
        v.policy(policy);
    }
    v.finish()
}

/// Where an entry is written: the position of its file among the
/// configuration's files, and the span in it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Written {
    pub file: u32,
    pub span: SourceSpan,
}

/// Validation one entry at a time, so that a reader can check each identity as it
/// is read instead of holding the whole raw configuration. Provider blocks must all
/// be given before the first identity.
pub(crate) struct Incremental<'a> {
    v: Validator<'a>,
    /// Identities so far by `(provider, name)`, to report one declared twice;
    /// `None` when the caller checks with [`Self::has_duplicates`] at the end.
    seen: Option<HashMap<(String, String), Written>>,
    providers: Vec<ProviderBlock>,
    identities: Vec<DesiredIdentity>,
    policy: Option<(crate::policy::record::PolicyRecord, Vec<String>)>,
}

impl<'a> Incremental<'a> {
    pub(crate) fn new(source: &'a Source<'a>, registry: &'a Registry) -> Self {
        Self {
            v: Validator {
                source,
                files: vec![source],
                registry,
                problems: Vec::new(),
                types: HashMap::new(),
                sinks: Some(HashMap::new()),
                scopes: Vec::new(),
                pending: Vec::new(),
            },
            seen: Some(HashMap::new()),
            providers: Vec::new(),
            identities: Vec::new(),
            policy: None,
        }
    }

    /// [`Self::new`] without the per-identity duplicate check, for a reader that
    /// declines on any problem: it calls [`Self::has_duplicates`] once every
    /// identity is in, which costs a sort instead of a map of every name.
    pub(crate) fn deferring_duplicates(source: &'a Source<'a>, registry: &'a Registry) -> Self {
        let mut v = Self {
            seen: None,
            ..Self::new(source, registry)
        };
        v.v.sinks = None;
        v
    }

    /// Whether two identities share a provider and a name, or two keys a file sink.
    pub(crate) fn has_duplicates(&self) -> bool {
        let mut keys: Vec<(&str, &str)> = self
            .identities
            .iter()
            .map(|d| (d.provider.as_str(), d.identity.name.as_str()))
            .collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return true;
        }
        let mut sinks = std::collections::HashSet::with_capacity(self.identities.len());
        !self
            .identities
            .iter()
            .flat_map(|d| &d.keys)
            .filter_map(|k| match &k.sink {
                nhi_provider_sdk::Sink::File(path) => Some(path.as_str()),
                _ => None,
            })
            .all(|path| sinks.insert(path))
    }

    pub(crate) fn version(&mut self, version: &Spanned<i64>) {
        let v = &mut self.v;
        if version.value != 1 {
            let problem = v
                .problem(ProblemKind::UnsupportedVersion, format!("unsupported configuration version `{}`", version.value))
                .label(v.span(version), "this version")
                .with_help("this nhi reads `version: 1`; write that, or use the nhi release that wrote this file");
            v.problems.push(problem);
        }
    }

    pub(crate) fn provider(&mut self, provider: &Spanned<RawProvider>) {
        if let Some(block) = self.v.provider(provider) {
            self.providers.push(block);
        }
    }

    /// Moves the description, tags and policies out of `identity`.
    pub(crate) fn identity(&mut self, identity: &mut Spanned<RawIdentity>) {
        if let Some(identity) = self.v.identity(identity, self.seen.as_mut()) {
            self.identities.push(identity);
        }
    }

    /// The `policy:` section; after the provider blocks, whose names its
    /// exceptions' addresses use.
    pub(crate) fn policy(&mut self, policy: &Spanned<super::raw::RawPolicy>) {
        self.policy = self.v.policy_section(policy);
    }

    /// The valid provider blocks so far.
    pub(crate) fn providers(&self) -> &[ProviderBlock] {
        &self.providers
    }

    /// Whether any problem was found so far: what plugins find about the
    /// identities held back for them is known after [`Self::merge`] or
    /// [`Self::finish`].
    pub(crate) fn has_problems(&self) -> bool {
        !self.v.problems.is_empty()
    }

    /// Asks plugins now about the identities held back for them so far, on
    /// this thread: a part of the configuration read in parallel is judged
    /// while the others are read.
    pub(crate) fn judge_pending(&mut self) {
        self.v.flush();
    }

    pub(crate) fn reserve_identities(&mut self, additional: usize) {
        self.identities.reserve_exact(additional);
        if let Some(seen) = &mut self.seen {
            seen.reserve(additional);
        }
    }

    /// Takes over the identities `other` validated after those of `self`, when
    /// neither has problems and no identity is declared in both.
    pub(crate) fn merge(&mut self, mut other: Self) -> Result<(), ()> {
        self.v.flush();
        other.v.flush();
        if self.has_problems() || other.has_problems() {
            return Err(());
        }
        if self.identities.is_empty() {
            self.seen = other.seen;
            self.v.sinks = other.v.sinks;
            self.identities = other.identities;
            return Ok(());
        }
        match (&mut self.seen, other.seen) {
            (Some(seen), Some(other_seen)) => {
                seen.reserve(other_seen.len());
                for (key, span) in other_seen {
                    if seen.insert(key, span).is_some() {
                        return Err(());
                    }
                }
            }
            (None, None) => {}
            _ => return Err(()),
        }
        match (&mut self.v.sinks, other.v.sinks) {
            (Some(sinks), Some(other_sinks)) => {
                for (path, span) in other_sinks {
                    if sinks.insert(path, span).is_some() {
                        return Err(());
                    }
                }
            }
            (None, None) => {}
            _ => return Err(()),
        }
        self.identities.reserve_exact(other.identities.len());
        self.identities.extend(other.identities);
        Ok(())
    }

    /// The valid configuration, or every problem found, in file order.
    pub(crate) fn finish(mut self) -> Result<Valid, Vec<Problem>> {
        self.v.flush();
        if self.v.problems.is_empty() {
            let (policy, rego) = self.policy.unwrap_or_default();
            Ok(Valid {
                providers: self.providers,
                identities: self.identities,
                policy,
                rego,
            })
        } else {
            let mut problems = self.v.problems;
            problems.sort_by_key(Problem::position);
            Err(problems)
        }
    }
}

struct Validator<'a> {
    /// The file being read.
    source: &'a Source<'a>,
    /// Every file read so far, by position, to name where a duplicate was
    /// first written.
    files: Vec<&'a Source<'a>>,
    problems: Vec<Problem>,
    /// Provider block name → its type (when known) and where the name is.
    /// The provider types block types are looked up in.
    registry: &'a Registry,
    types: HashMap<String, (Option<&'a dyn ProviderType>, SourceSpan)>,
    /// File sinks so far and where each is written, to report one named twice;
    /// `None` when the caller checks with [`Incremental::has_duplicates`].
    sinks: Option<HashMap<String, Written>>,
    /// Valid provider blocks so far: name, type, settings and where the block
    /// is, to refuse a block whose scope overlaps an earlier one's.
    scopes: Vec<(String, &'a dyn ProviderType, serde_json::Value, SourceSpan)>,
    /// Identities held back for one `validate` request to their plugin.
    pending: Vec<batch::Pending<'a>>,
}

impl<'a> Validator<'a> {
    /// Read the entries that follow from `source`.
    fn enter(&mut self, source: &'a Source<'a>) {
        self.source = source;
        if !self.files.iter().any(|f| f.position() == source.position()) {
            self.files.push(source);
        }
    }

    /// Where `span` of the current file is written.
    fn written(&self, span: SourceSpan) -> Written {
        Written {
            file: self.source.position(),
            span,
        }
    }

    fn problem(&self, kind: ProblemKind, message: impl Into<String>) -> Problem {
        self.source.problem(kind, message)
    }

    fn span<T>(&self, value: &Spanned<T>) -> SourceSpan {
        self.source.span(&value.referenced)
    }

    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The value of a required field, or a `missing_field` problem at its entry.
    fn required<'v, T>(
        &mut self,
        field: Option<&'v Spanned<T>>,
        entry: &Spanned<impl Sized>,
        what: &dyn fmt::Display,
        name: &str,
        example: &str,
    ) -> Option<&'v Spanned<T>> {
        if field.is_none() {
            let problem = self
                .problem(ProblemKind::MissingField, format!("{what} has no `{name}`"))
                .label(self.span(entry), format!("`{name}` is missing here"))
                .with_help(format!("add `{name}: {example}`"));
            self.push(problem);
        }
        field
    }

    fn name_syntax(&mut self, name: &Spanned<String>, what: &str) -> bool {
        if is_name(&name.value) {
            return true;
        }
        let problem = self
            .problem(
                ProblemKind::InvalidName,
                format!("{} is not a valid {what} name", quote(&name.value)),
            )
            .label(self.span(name), "not a valid name")
            .with_help(NAME_HELP);
        self.push(problem);
        false
    }

    /// The value, when it is neither blank nor holds a character that could
    /// drive a terminal or reorder what a reviewer reads.
    fn non_empty<'s>(
        &mut self,
        value: &'s Spanned<String>,
        what: &dyn fmt::Display,
        help: &str,
    ) -> Option<&'s str> {
        if !value.value.trim().is_empty() {
            return self.printable(value, what).then_some(&value.value);
        }
        let problem = self
            .problem(ProblemKind::EmptyValue, format!("{what} is empty"))
            .label(self.span(value), "empty")
            .with_help(help);
        self.push(problem);
        None
    }

    /// Whether `value` is free of control characters (C0, DEL, C1), bidirectional
    /// formatting characters and line or paragraph separators; reports the first.
    fn printable(&mut self, value: &Spanned<String>, what: &dyn fmt::Display) -> bool {
        let Some((at, c)) = nhi_provider_sdk::text::first_unsafe(&value.value) else {
            return true;
        };
        let span = self.span(value);
        self.push_control_character(span, what, at, c);
        false
    }

    fn push_control_character(
        &mut self,
        span: SourceSpan,
        what: &dyn fmt::Display,
        at: usize,
        c: char,
    ) {
        let problem = self
            .problem(
                ProblemKind::ControlCharacter,
                format!("{what} holds the character U+{:04X}", u32::from(c)),
            )
            .label(
                span,
                format!("U+{:04X} at byte {at} of the value", u32::from(c)),
            )
            .with_help(
                "remove it: control characters, bidirectional formatting characters and line \
                 separators can hide or rewrite what reviewers read, so nhi refuses them in \
                 names, owners, roles, resources and tags",
            );
        self.push(problem);
    }

    fn duplicate(
        &mut self,
        kind: ProblemKind,
        message: String,
        again: SourceSpan,
        first: SourceSpan,
        help: &str,
    ) {
        let problem = self
            .problem(kind, message)
            .label(again, "defined again here")
            .label(first, "first defined here")
            .with_help(help);
        self.push(problem);
    }

    /// [`Self::duplicate`] of an entry first written in any of the files: one
    /// in another file is named, with its line, since a report shows one file.
    fn duplicate_written(
        &mut self,
        kind: ProblemKind,
        message: String,
        again: SourceSpan,
        first: Written,
        help: &str,
    ) {
        if first.file == self.source.position() {
            return self.duplicate(kind, message, again, first.span, help);
        }
        let Some(earlier) = self.files.iter().find(|f| f.position() == first.file) else {
            return self.duplicate(kind, message, again, first.span, help);
        };
        let (earlier_name, earlier_line) = (earlier.name(), earlier.line_of(first.span.offset()));
        let line = self.source.line_of(again.offset());
        let problem = self
            .problem(
                kind,
                format!(
                    "{message}: in `{earlier_name}` line {earlier_line} and in `{}` line {line}",
                    self.source.name()
                ),
            )
            .label(
                again,
                format!("defined again here, first in `{earlier_name}` line {earlier_line}"),
            )
            .with_help(help);
        self.push(problem);
    }
}

/// `^[a-z][a-z0-9_-]{0,62}$`: names of provider blocks and keys.
fn is_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        let long = format!("a{}", "b".repeat(62));
        let too_long = format!("a{}", "b".repeat(63));
        for (name, want) in [
            ("demo", true),
            ("a", true),
            ("prod_eu-1", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("1abc", false),
            ("Demo", false),
            ("-x", false),
            ("dé", false),
            ("a b", false),
        ] {
            assert_eq!(is_name(name), want, "{name}");
        }
    }
}
