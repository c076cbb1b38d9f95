//! Provider blocks: name, type, prune flag and settings, checked by the provider
//! type the block names.

use serde_json::Value;
use serde_saphyr::Spanned;

use super::super::error::{ProblemKind, did_you_mean, list, quote};
use super::super::model::ProviderBlock;
use super::super::raw::RawProvider;
use super::Validator;

impl<'a> Validator<'a> {
    pub(super) fn provider(&mut self, entry: &Spanned<RawProvider>) -> Option<ProviderBlock> {
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
            let found = self.registry.find(&t.value);
            if found.is_none() {
                let known = self.registry.names();
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

        // A type that resolves blocks (the plugin host) answers through the
        // type it resolves this one to, from here on.
        let resolved = match provider_type {
            Some(t) if settings_ok => match t.for_block(&settings, self.source.dir()) {
                Ok(found) => found.map(|r| {
                    if let Err(reason) = r.check_settings(&settings) {
                        settings_ok = false;
                        self.invalid_settings(raw, entry, &who, t.type_name(), reason);
                    }
                    r
                }),
                Err(reason) => {
                    settings_ok = false;
                    self.invalid_settings(raw, entry, &who, t.type_name(), reason);
                    None
                }
            },
            _ => None,
        };
        if let (Some(resolved), Some(name)) = (resolved, name)
            && let Some(slot) = self.types.get_mut(&name.value)
            && name_ok
        {
            slot.0 = Some(resolved);
        }
        let (name, provider_type, type_name) = (name?, provider_type?, type_name?);
        let provider_type = resolved.unwrap_or(provider_type);
        if name_ok && settings_ok {
            let span = raw
                .settings
                .as_ref()
                .map_or_else(|| self.span(entry), |s| self.span(s));
            self.overlap(&name.value, provider_type, &settings, span);
        }
        (name_ok && settings_ok).then(|| ProviderBlock {
            name: name.value.clone(),
            type_name: type_name.value.clone(),
            prune: raw.prune.as_ref().is_some_and(|p| p.value),
            settings,
        })
    }

    fn invalid_settings(
        &mut self,
        raw: &RawProvider,
        entry: &Spanned<RawProvider>,
        who: &str,
        type_name: &str,
        reason: String,
    ) {
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
                "change `settings` to what the `{type_name}` provider type accepts"
            ));
        self.push(problem);
    }

    /// Refuses a block whose scope overlaps an earlier block's, pointing at its
    /// settings; remembers it for the blocks after it.
    fn overlap(
        &mut self,
        name: &str,
        provider_type: &'a dyn nhi_provider_sdk::ProviderType,
        settings: &Value,
        span: miette::SourceSpan,
    ) {
        let dir = self.source.dir();
        let earlier = self
            .scopes
            .iter()
            .find_map(|(other, t, other_settings, at)| {
                (t.type_name() == provider_type.type_name())
                    .then(|| provider_type.scopes_overlap(settings, other_settings, dir))
                    .flatten()
                    .map(|why| (other.clone(), *at, why))
            });
        if let Some((other, at, why)) = earlier {
            let problem = self
                .problem(
                    ProblemKind::OverlappingScope,
                    format!(
                        "provider {} manages what provider {} manages: {why}",
                        quote(name),
                        quote(&other)
                    ),
                )
                .label(span, "this scope overlaps")
                .label(at, format!("the scope of provider {}", quote(&other)))
                .with_help(
                    "give each provider block its own scope (estate file, path prefix or project), \
                     or manage both sets of identities from one block",
                );
            self.push(problem);
            return;
        }
        self.scopes
            .push((name.to_owned(), provider_type, settings.clone(), span));
    }
}
