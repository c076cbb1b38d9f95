//! Identities a plugin judges, held back and sent in one `validate` request
//! when a batch of the configuration is done: asking a plugin about each
//! identity as it is read would cost one round trip over its pipe per identity.
//! Built-in types answer in process, one identity at a time.

use miette::SourceSpan;
use nhi_provider_sdk::{Binding, DeclaredIdentity, ProviderType, Tags, ValidateRequest};

use super::super::error::{Source, quote};
use super::{OnDisplay, Validator};

/// Where the parts of one identity a provider type may object to are written.
pub(super) struct Spans {
    pub name: Option<SourceSpan>,
    pub attributes: Option<SourceSpan>,
    /// One per binding in the request, in order.
    pub bindings: Vec<SourceSpan>,
    pub entry: SourceSpan,
}

/// One identity as a provider type judges it, owned, with where it is written.
pub(super) struct Pending<'a> {
    pub provider_type: &'a dyn ProviderType,
    pub source: &'a Source<'a>,
    pub provider: Option<String>,
    pub kind: Option<&'static str>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub description: String,
    pub tags: Tags,
    pub attributes: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    pub key_names: Vec<String>,
    pub bindings: Vec<Binding>,
    pub spans: Spans,
}

impl Pending<'_> {
    fn declared<'d>(&'d self, key_names: &'d [&'d str]) -> DeclaredIdentity<'d> {
        DeclaredIdentity {
            kind: self.kind,
            name: self.name.as_deref(),
            owner: self.owner.as_deref(),
            description: &self.description,
            tags: &self.tags,
            attributes: self.attributes.as_ref(),
            key_names,
            bindings: &self.bindings,
        }
    }
}

impl<'a> Validator<'a> {
    /// Whether identities of `provider_type` are held back for one request:
    /// those a plugin serves, whose every call crosses a pipe.
    pub(super) fn batches(provider_type: &dyn ProviderType) -> bool {
        provider_type.plugin().is_some()
    }

    /// Asks each provider type about the identities held back for it, once per
    /// type, and reports what it finds where each identity is written.
    pub(super) fn flush(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        let reading = self.source;
        while !pending.is_empty() {
            let provider_type = pending[0].provider_type;
            let (batch, rest): (Vec<Pending<'a>>, Vec<Pending<'a>>) = pending
                .into_iter()
                .partition(|p| std::ptr::addr_eq(p.provider_type, provider_type));
            pending = rest;
            let key_names: Vec<Vec<&str>> = batch
                .iter()
                .map(|p| p.key_names.iter().map(String::as_str).collect())
                .collect();
            let declared: Vec<DeclaredIdentity<'_>> = batch
                .iter()
                .zip(&key_names)
                .map(|(p, names)| p.declared(names))
                .collect();
            let response = provider_type.validate(&ValidateRequest {
                identities: &declared,
            });
            let mut problems = response.problems;
            problems.sort_by_key(|p| p.identity);
            for problem in problems {
                // The plugin host reports an index it did not ask about at the
                // first identity; a built-in type never names one.
                let Some(p) = batch.get(problem.identity) else {
                    continue;
                };
                self.source = p.source;
                let who = OnDisplay(|f: &mut std::fmt::Formatter<'_>| match &p.name {
                    Some(n) => write!(f, "identity {}", quote(n)),
                    None => f.write_str("this identity"),
                });
                self.provider_problem(
                    provider_type,
                    p.name.as_deref(),
                    p.kind,
                    p.provider.as_deref(),
                    &p.spans,
                    &who,
                    problem,
                );
            }
        }
        self.source = reading;
    }
}
