//! [`RawConfig`] → validated providers and identities. Every check runs, and every
//! problem is collected, so one run shows the user everything to fix. Provider
//! blocks and identities are checked here, their keys and bindings in `values`.

mod values;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use miette::SourceSpan;
use nhi_provider_sdk::{
    DeclaredIdentity, DeclaredPart, Identity, ProviderType, ValidateRequest, ValidationProblem,
};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::error::{Problem, ProblemKind, Source, did_you_mean, list, quote};
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

/// Where the parts of one identity a provider type may object to are written.
struct Spans<'s> {
    name: Option<SourceSpan>,
    attributes: Option<SourceSpan>,
    /// One per binding in the request, in order.
    bindings: &'s [SourceSpan],
    entry: SourceSpan,
}

/// What validation produces when nothing is wrong.
pub(crate) struct Valid {
    pub providers: Vec<ProviderBlock>,
    pub identities: Vec<DesiredIdentity>,
}

/// Check everything; on failure, every problem found, in file order.
/// Moves values out of `raw` into the model instead of copying them.
pub(crate) fn validate(source: &Source<'_>, raw: &mut RawConfig) -> Result<Valid, Vec<Problem>> {
    let mut v = Incremental::new(source);
    if let Some(version) = &raw.version {
        v.version(version);
    }
    for provider in &raw.providers {
        v.provider(provider);
    }
    for identity in &mut raw.identities {
        v.identity(identity);
    }
    v.finish()
}

/// Validation one entry at a time, so that a reader can check each identity as it
/// is read instead of holding the whole raw configuration. Provider blocks must all
/// be given before the first identity.
pub(crate) struct Incremental<'a> {
    v: Validator<'a>,
    /// Identities so far by `(provider, name)`, to report one declared twice;
    /// `None` when the caller checks with [`Self::has_duplicates`] at the end.
    seen: Option<HashMap<(String, String), SourceSpan>>,
    providers: Vec<ProviderBlock>,
    identities: Vec<DesiredIdentity>,
}

impl<'a> Incremental<'a> {
    pub(crate) fn new(source: &'a Source<'a>) -> Self {
        Self {
            v: Validator {
                source,
                problems: Vec::new(),
                types: HashMap::new(),
            },
            seen: Some(HashMap::new()),
            providers: Vec::new(),
            identities: Vec::new(),
        }
    }

    /// [`Self::new`] without the per-identity duplicate check, for a reader that
    /// declines on any problem: it calls [`Self::has_duplicates`] once every
    /// identity is in, which costs a sort instead of a map of every name.
    pub(crate) fn deferring_duplicates(source: &'a Source<'a>) -> Self {
        Self {
            seen: None,
            ..Self::new(source)
        }
    }

    /// Whether two identities share a provider and a name.
    pub(crate) fn has_duplicates(&self) -> bool {
        let mut keys: Vec<(&str, &str)> = self
            .identities
            .iter()
            .map(|d| (d.provider.as_str(), d.identity.name.as_str()))
            .collect();
        keys.sort_unstable();
        keys.windows(2).any(|w| w[0] == w[1])
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

    /// The valid provider blocks so far.
    pub(crate) fn providers(&self) -> &[ProviderBlock] {
        &self.providers
    }

    /// Whether any problem was found so far.
    pub(crate) fn has_problems(&self) -> bool {
        !self.v.problems.is_empty()
    }

    pub(crate) fn reserve_identities(&mut self, additional: usize) {
        self.identities.reserve_exact(additional);
        if let Some(seen) = &mut self.seen {
            seen.reserve(additional);
        }
    }

    /// Takes over the identities `other` validated after those of `self`, when
    /// neither has problems and no identity is declared in both.
    pub(crate) fn merge(&mut self, other: Self) -> Result<(), ()> {
        if self.has_problems() || other.has_problems() {
            return Err(());
        }
        if self.identities.is_empty() {
            self.seen = other.seen;
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
        self.identities.reserve_exact(other.identities.len());
        self.identities.extend(other.identities);
        Ok(())
    }

    /// The valid configuration, or every problem found, in file order.
    pub(crate) fn finish(self) -> Result<Valid, Vec<Problem>> {
        if self.v.problems.is_empty() {
            Ok(Valid {
                providers: self.providers,
                identities: self.identities,
            })
        } else {
            let mut problems = self.v.problems;
            problems.sort_by_key(Problem::offset);
            Err(problems)
        }
    }
}

struct Validator<'a> {
    source: &'a Source<'a>,
    problems: Vec<Problem>,
    /// Provider block name → its type (when known) and where the name is.
    types: HashMap<String, (Option<&'static dyn ProviderType>, SourceSpan)>,
}

impl Validator<'_> {
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

    fn non_empty<'s>(
        &mut self,
        value: &'s Spanned<String>,
        what: &dyn fmt::Display,
        help: &str,
    ) -> Option<&'s str> {
        if !value.value.trim().is_empty() {
            return Some(&value.value);
        }
        let problem = self
            .problem(ProblemKind::EmptyValue, format!("{what} is empty"))
            .label(self.span(value), "empty")
            .with_help(help);
        self.push(problem);
        None
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

    fn provider(&mut self, entry: &Spanned<RawProvider>) -> Option<ProviderBlock> {
        let raw = &entry.value;
        let name = self.required(raw.name.as_ref(), entry, &"provider block", "name", "demo");
        let type_name = self.required(
            raw.type_name.as_ref(),
            entry,
            &"provider block",
            "type",
            "local",
        );
        let who = name.map_or_else(
            || "this provider block".to_owned(),
            |n| format!("provider {}", quote(&n.value)),
        );

        let provider_type = type_name.and_then(|t| {
            let found = crate::registry::Registry::builtin().find(&t.value);
            if found.is_none() {
                let known = crate::registry::Registry::builtin().names();
                let help = match did_you_mean(&t.value, known.iter().copied()) {
                    Some(close) => format!("did you mean {}?", quote(close)),
                    None => format!("known provider types: {}", list(known.iter().copied())),
                };
                let problem = self
                    .problem(
                        ProblemKind::UnknownType,
                        format!("unknown provider type {}", quote(&t.value)),
                    )
                    .label(self.span(t), "not a provider type this nhi knows")
                    .with_help(help);
                self.push(problem);
            }
            found
        });

        // A badly spelt name is still registered, so identities that use it do not
        // also report an undefined provider.
        let mut name_ok = false;
        if let Some(name) = name {
            let syntax_ok = self.name_syntax(name, "provider");
            if let Some(&(_, first)) = self.types.get(&name.value) {
                self.duplicate(
                    ProblemKind::DuplicateName,
                    format!("provider {} is defined twice", quote(&name.value)),
                    self.span(name),
                    first,
                    "rename or remove one of the two provider blocks",
                );
            } else {
                self.types
                    .insert(name.value.clone(), (provider_type, self.span(name)));
                name_ok = syntax_ok;
            }
        }

        let settings = Value::Object(
            raw.settings
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
        );
        let mut settings_ok = true;
        if let Some(provider_type) = provider_type
            && let Err(reason) = provider_type.check_settings(&settings)
        {
            settings_ok = false;
            let span = raw
                .settings
                .as_ref()
                .map_or_else(|| self.span(entry), |s| self.span(s));
            let problem = self
                .problem(
                    ProblemKind::InvalidSettings,
                    format!("invalid settings for {who}"),
                )
                .label(span, reason)
                .with_help(format!(
                    "change `settings` to what the `{}` provider type accepts",
                    provider_type.type_name()
                ));
            self.push(problem);
        }

        let (name, provider_type) = (name?, provider_type?);
        (name_ok && settings_ok).then(|| ProviderBlock {
            name: name.value.clone(),
            type_name: provider_type.type_name().to_owned(),
            prune: raw.prune.as_ref().is_some_and(|p| p.value),
            settings,
        })
    }

    fn identity(
        &mut self,
        entry: &mut Spanned<RawIdentity>,
        seen: Option<&mut HashMap<(String, String), SourceSpan>>,
    ) -> Option<DesiredIdentity> {
        // Policies are the largest values: moved, not copied, into the model.
        let mut policies: Vec<Option<Spanned<Value>>> = entry
            .value
            .bindings
            .iter_mut()
            .map(|b| b.value.policy.take())
            .collect();
        let raw = &entry.value;
        let before = self.problems.len();
        let name = self.required(raw.name.as_ref(), entry, &"identity", "name", "ci-deployer");
        // Messages name the identity only when there is a problem to report.
        let who = OnDisplay(|f: &mut fmt::Formatter<'_>| match name {
            Some(n) => write!(f, "identity {}", quote(&n.value)),
            None => f.write_str("this identity"),
        });
        let who = &who as &dyn fmt::Display;
        let provider = self.required(raw.provider.as_ref(), entry, who, "provider", "demo");
        let owner = self.required(raw.owner.as_ref(), entry, who, "owner", "team@example.com");
        let owner = owner.and_then(|o| {
            self.non_empty(
                o,
                &format_args!("the owner of {who}"),
                "name who answers for this identity: a person, team or mailbox",
            )
        });

        let provider_type = provider.and_then(|p| self.provider_type(p, who));
        let kind = provider_type.and_then(|t| self.kind(t, raw.kind.as_ref(), who));

        if let (Some(name), Some(provider), Some(_), Some(_)) =
            (name, provider, provider_type, kind)
        {
            match seen.map(|seen| seen.entry((provider.value.clone(), name.value.clone()))) {
                None => {}
                Some(Entry::Occupied(first)) => self.duplicate(
                    ProblemKind::DuplicateName,
                    format!(
                        "{who} is defined twice for provider {}",
                        quote(&provider.value)
                    ),
                    self.source.span(&name.referenced),
                    *first.get(),
                    "rename or remove one of the two identities",
                ),
                Some(Entry::Vacant(slot)) => {
                    slot.insert(self.source.span(&name.referenced));
                }
            }
        }

        let expires = raw.expires.as_ref().and_then(|e| self.date(e));
        let attributes = self.attributes(raw.attributes.as_ref(), who, self.span(entry));
        let mut keys = Vec::with_capacity(raw.keys.len());
        let mut key_names: HashMap<&str, SourceSpan> = HashMap::new();
        for key in &raw.keys {
            if let Some(key) = self.key(key, who, &mut key_names, provider_type) {
                keys.push(key);
            }
        }
        let mut bindings = Vec::with_capacity(raw.bindings.len());
        let mut binding_spans = Vec::with_capacity(raw.bindings.len());
        let mut binding_ids: HashMap<(&str, &str), SourceSpan> = HashMap::new();
        for (entry, policy) in raw.bindings.iter().zip(policies.iter_mut()) {
            if let Some(binding) =
                self.binding(entry, policy.take(), who, &mut binding_ids, provider_type)
            {
                bindings.push(binding);
                binding_spans.push(self.span(entry));
            }
        }
        if let Some(provider_type) = provider_type {
            let key_names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            let declared = DeclaredIdentity {
                kind,
                name: name.map(|n| n.value.as_str()),
                owner,
                description: &raw.description,
                tags: &raw.tags,
                attributes: attributes.as_ref().map(|(map, _)| map),
                key_names: &key_names,
                bindings: &bindings,
            };
            let response = provider_type.validate(&ValidateRequest {
                identities: std::slice::from_ref(&declared),
            });
            let spans = Spans {
                name: name.map(|n| self.span(n)),
                attributes: attributes.as_ref().map(|(_, span)| *span),
                bindings: &binding_spans,
                entry: self.span(entry),
            };
            for problem in response.problems {
                self.provider_problem(provider_type, &declared, &spans, provider, who, problem);
            }
        }

        if self.problems.len() > before {
            return None;
        }
        let attributes = attributes.map(|(map, _)| match provider_type.zip(kind) {
            Some((t, k)) => t.normalize_attributes(k, map),
            None => map,
        });
        let (provider, name) = (provider?.value.clone(), name?.value.clone());
        let (kind, owner, attributes) = (kind?.to_owned(), owner?.to_owned(), attributes?);
        let raw = &mut entry.value;
        Some(DesiredIdentity {
            provider,
            identity: Identity {
                name,
                kind,
                owner,
                description: std::mem::take(&mut raw.description),
                tags: std::mem::take(&mut raw.tags),
                attributes,
            },
            expires,
            keys,
            bindings,
        })
    }

    /// Provider-specific attributes: a mapping (the provider type judges its
    /// contents), and where it is written.
    fn attributes(
        &mut self,
        raw: Option<&Spanned<Value>>,
        who: &dyn fmt::Display,
        fallback: SourceSpan,
    ) -> Option<(std::collections::BTreeMap<String, Value>, SourceSpan)> {
        let (object, span) = match raw {
            // Absent attributes are still checked: a kind may require some.
            None => (&serde_json::Map::new(), fallback),
            Some(raw) => match &raw.value {
                Value::Object(object) => (object, self.span(raw)),
                _ => (&serde_json::Map::new(), self.span(raw)),
            },
        };
        if let Some(raw) = raw.filter(|r| !r.value.is_object()) {
            let problem = self
                .problem(
                    ProblemKind::InvalidAttributes,
                    format!("the attributes of {who} are not a mapping"),
                )
                .label(self.span(raw), "not a mapping")
                .with_help("write `attributes:` as a mapping of names to values");
            self.push(problem);
            return None;
        }
        let map: std::collections::BTreeMap<String, Value> =
            object.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Some((map, span))
    }

    /// Reports one problem a provider type found, at the text it is about.
    fn provider_problem(
        &mut self,
        provider_type: &dyn ProviderType,
        declared: &DeclaredIdentity<'_>,
        spans: &Spans<'_>,
        provider: Option<&Spanned<String>>,
        who: &dyn fmt::Display,
        found: ValidationProblem,
    ) {
        let type_name = provider_type.type_name();
        // A provider's answer is input too: a part it names that is not there
        // is reported at the identity.
        let problem = match found.part {
            DeclaredPart::Name => match (declared.name, declared.kind, spans.name, provider) {
                (Some(name), Some(kind), Some(span), Some(provider)) => self
                    .problem(
                        ProblemKind::InvalidName,
                        format!(
                            "{} is not a valid `{kind}` name for provider {}",
                            quote(name),
                            quote(&provider.value)
                        ),
                    )
                    .label(span, found.reason)
                    .with_help(format!(
                        "choose a name the `{type_name}` provider type accepts"
                    )),
                _ => self
                    .problem(ProblemKind::InvalidName, format!("invalid name for {who}"))
                    .label(spans.entry, found.reason),
            },
            DeclaredPart::Attributes => self
                .problem(
                    ProblemKind::InvalidAttributes,
                    format!("invalid attributes for {who}"),
                )
                .label(spans.attributes.unwrap_or(spans.entry), found.reason)
                .with_help(format!(
                    "use only the attributes the `{type_name}` provider type accepts"
                )),
            DeclaredPart::Binding(i) => self
                .problem(
                    ProblemKind::InvalidBinding,
                    format!("a binding of {who} cannot exist in `{type_name}`"),
                )
                .label(
                    spans.bindings.get(i).copied().unwrap_or(spans.entry),
                    found.reason,
                )
                .with_help("write a binding this provider type can create (see its README)"),
            DeclaredPart::Tags => self
                .problem(ProblemKind::InvalidTags, format!("invalid tags on {who}"))
                .label(spans.entry, found.reason)
                .with_help("rename or remove the tag"),
            DeclaredPart::Description => self
                .problem(
                    ProblemKind::InvalidValue,
                    format!("the owner or description of {who} cannot be stored"),
                )
                .label(spans.entry, found.reason)
                .with_help("shorten the description or the owner"),
        };
        self.push(problem);
    }

    /// The type of the provider block an identity names, if the block exists and its
    /// type is known (an unknown type is reported at the block).
    fn provider_type(
        &mut self,
        provider: &Spanned<String>,
        who: &dyn fmt::Display,
    ) -> Option<&'static dyn ProviderType> {
        if let Some((provider_type, _)) = self.types.get(&provider.value) {
            return *provider_type;
        }
        let help = if self.types.is_empty() {
            format!(
                "add a provider block named {} under `providers:`",
                quote(&provider.value)
            )
        } else if let Some(close) =
            did_you_mean(&provider.value, self.types.keys().map(String::as_str))
        {
            format!("did you mean {}?", quote(close))
        } else {
            let mut names: Vec<&str> = self.types.keys().map(String::as_str).collect();
            names.sort_unstable();
            format!("defined providers: {}", list(names))
        };
        let problem = self
            .problem(
                ProblemKind::UndefinedProvider,
                format!(
                    "{who} refers to undefined provider {}",
                    quote(&provider.value)
                ),
            )
            .label(self.span(provider), "no provider block has this name")
            .with_help(help);
        self.push(problem);
        None
    }

    fn kind(
        &mut self,
        provider_type: &'static dyn ProviderType,
        kind: Option<&Spanned<String>>,
        who: &dyn fmt::Display,
    ) -> Option<&'static str> {
        let kinds = provider_type.kinds();
        let Some(kind) = kind else {
            return kinds.first().copied();
        };
        if let Some(known) = kinds.iter().find(|k| **k == kind.value) {
            return Some(*known);
        }
        let help = match did_you_mean(&kind.value, kinds.iter().copied()) {
            Some(close) => format!("did you mean {}?", quote(close)),
            None => format!(
                "kinds of the `{}` provider type: {}",
                provider_type.type_name(),
                list(kinds.iter().copied())
            ),
        };
        let problem = self
            .problem(
                ProblemKind::UnknownKind,
                format!(
                    "{who} has kind {}, which the `{}` provider type does not have",
                    quote(&kind.value),
                    provider_type.type_name()
                ),
            )
            .label(self.span(kind), "unknown kind")
            .with_help(help);
        self.push(problem);
        None
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
