//! Identities: the fields the engine checks itself (name, provider, owner, kind,
//! attributes as a mapping, keys and bindings through `values`), then one
//! request to the provider type for what only it can judge.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use miette::SourceSpan;
use nhi_provider_sdk::{
    DeclaredIdentity, DeclaredPart, Identity, ProviderType, ValidateRequest, ValidationProblem,
};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::super::error::{ProblemKind, did_you_mean, list, quote};
use super::super::model::DesiredIdentity;
use super::super::raw::RawIdentity;
use super::batch::{Pending, Spans};
use super::{OnDisplay, Validator};

impl<'a> Validator<'a> {
    pub(super) fn identity(
        &mut self,
        entry: &mut Spanned<RawIdentity>,
        seen: Option<&mut HashMap<(String, String), super::Written>>,
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
        let name = name.filter(|n| self.printable(n, &"the name of this identity"));
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
                Some(Entry::Occupied(first)) => self.duplicate_written(
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
                    slot.insert(self.written(self.source.span(&name.referenced)));
                }
            }
        }

        let unsafe_tag = raw.tags.iter().find_map(|(key, value)| {
            nhi_provider_sdk::text::first_unsafe(key)
                .map(|found| (key, "key", found))
                .or_else(|| {
                    nhi_provider_sdk::text::first_unsafe(value).map(|found| (key, "value", found))
                })
        });
        if let Some((key, part, (at, c))) = unsafe_tag {
            let span = self.span(entry);
            self.push_control_character(
                span,
                &format_args!("the {part} of tag {} of {who}", quote(key)),
                at,
                c,
            );
        }
        let expires = raw.expires.as_ref().and_then(|e| self.date(e));
        let attributes = self.attributes(raw.attributes.as_ref(), who, self.span(entry));
        let mut keys = Vec::with_capacity(raw.keys.len());
        let mut key_names: HashMap<&str, SourceSpan> = HashMap::new();
        let mut adopted: HashMap<&str, SourceSpan> = HashMap::new();
        for key in &raw.keys {
            if let Some(key) = self.key(key, who, &mut key_names, &mut adopted, provider_type) {
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
        if let Some(provider_type) = provider_type.filter(|t| Self::batches(*t)) {
            self.pending.push(Pending {
                provider_type,
                source: self.source,
                provider: provider.map(|p| p.value.clone()),
                kind,
                name: name.map(|n| n.value.clone()),
                owner: owner.map(str::to_owned),
                description: raw.description.clone(),
                tags: raw.tags.clone(),
                attributes: attributes.as_ref().map(|(map, _)| map.clone()),
                key_names: keys.iter().map(|k| k.name.clone()).collect(),
                bindings: bindings.clone(),
                spans: Spans {
                    name: name.map(|n| self.span(n)),
                    attributes: attributes.as_ref().map(|(_, span)| *span),
                    bindings: binding_spans,
                    entry: self.span(entry),
                },
            });
        } else if let Some(provider_type) = provider_type {
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
                bindings: binding_spans,
                entry: self.span(entry),
            };
            for problem in response.problems {
                self.provider_problem(
                    provider_type,
                    declared.name,
                    declared.kind,
                    provider.map(|p| p.value.as_str()),
                    &spans,
                    who,
                    problem,
                );
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn provider_problem(
        &mut self,
        provider_type: &dyn ProviderType,
        name: Option<&str>,
        kind: Option<&str>,
        provider: Option<&str>,
        spans: &Spans,
        who: &dyn fmt::Display,
        found: ValidationProblem,
    ) {
        let type_name = provider_type.type_name();
        // A provider's answer is input too: a part it names that is not there
        // is reported at the identity.
        let problem = match found.part {
            DeclaredPart::Name => match (name, kind, spans.name, provider) {
                (Some(name), Some(kind), Some(span), Some(provider)) => self
                    .problem(
                        ProblemKind::InvalidName,
                        format!(
                            "{} is not a valid `{kind}` name for provider {}",
                            quote(name),
                            quote(provider)
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
    ) -> Option<&'a dyn ProviderType> {
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
        provider_type: &'a dyn ProviderType,
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
