//! Checks of the values inside an identity: keys, sinks, bindings, policies, and
//! dates.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use miette::SourceSpan;
use nhi_provider_sdk::{Age, AgeError, Binding, KeyStatus, Policy, ProviderType, Sink};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{OnDisplay, Validator};
use crate::config::error::{ProblemKind, did_you_mean, quote};
use crate::config::model::DesiredKey;
use crate::config::raw::{RawBinding, RawKey};

impl<'a> Validator<'a> {
    fn key_age(&mut self, value: &Spanned<String>) -> Option<Age> {
        match value.value.parse::<Age>() {
            Ok(age) => Some(age),
            Err(err) => {
                let label = match err {
                    AgeError::Zero => "must be greater than zero",
                    AgeError::Invalid(_) => "not a duration",
                };
                let problem = self
                    .problem(
                        ProblemKind::InvalidDuration,
                        format!("{} is not a valid duration", quote(&value.value)),
                    )
                    .label(self.span(value), label)
                    .with_help(
                        "write a whole number and a unit (`s`, `m`, `h`, `d` or `w`), e.g. `90d`",
                    );
                self.push(problem);
                None
            }
        }
    }

    /// A key's declared `status`: `active` or `inactive`.
    fn key_status(&mut self, value: &Spanned<String>) -> Option<KeyStatus> {
        const STATUSES: [&str; 2] = ["active", "inactive"];
        match value.value.as_str() {
            "active" => return Some(KeyStatus::Active),
            "inactive" => return Some(KeyStatus::Inactive),
            _ => {}
        }
        let help = match did_you_mean(&value.value, STATUSES) {
            Some(close) => format!("did you mean {}?", quote(close)),
            None => "write `active` or `inactive`".to_owned(),
        };
        let problem = self
            .problem(
                ProblemKind::InvalidValue,
                format!("{} is not a key status", quote(&value.value)),
            )
            .label(self.span(value), "unknown status")
            .with_help(help);
        self.push(problem);
        None
    }

    pub(super) fn date(&mut self, value: &Spanned<String>) -> Option<jiff::civil::Date> {
        let text = value.value.as_str();
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        let parsed = if shaped {
            text.parse::<jiff::civil::Date>().map_err(|e| e.to_string())
        } else {
            Err(String::new())
        };
        match parsed {
            Ok(date) => Some(date),
            Err(reason) => {
                let label = if reason.is_empty() {
                    "not a `YYYY-MM-DD` date".to_owned()
                } else {
                    reason
                };
                let problem = self
                    .problem(
                        ProblemKind::InvalidDate,
                        format!("{} is not a valid date", quote(text)),
                    )
                    .label(self.span(value), label)
                    .with_help("write a calendar day as `YYYY-MM-DD`, e.g. `2027-01-31`");
                self.push(problem);
                None
            }
        }
    }

    pub(super) fn key<'r>(
        &mut self,
        entry: &'r Spanned<RawKey>,
        who: &dyn fmt::Display,
        names: &mut HashMap<&'r str, SourceSpan>,
        adopted: &mut HashMap<&'r str, SourceSpan>,
        provider_type: Option<&'a dyn nhi_provider_sdk::ProviderType>,
    ) -> Option<DesiredKey> {
        let raw = &entry.value;
        let before = self.problems.len();
        let name = self.required(
            raw.name.as_ref(),
            entry,
            &format_args!("a key of {who}"),
            "name",
            "primary",
        );
        if let Some(name) = name
            && self.name_syntax(name, "key")
        {
            let span = self.span(name);
            match names.entry(&name.value) {
                Entry::Occupied(first) => self.duplicate(
                    ProblemKind::DuplicateName,
                    format!("key {} is defined twice in {who}", quote(&name.value)),
                    span,
                    *first.get(),
                    "rename or remove one of the two keys",
                ),
                Entry::Vacant(slot) => {
                    slot.insert(span);
                }
            }
        }
        let rotate_after = raw.rotate_after.as_ref().and_then(|r| self.key_age(r));
        let retire_after = raw.retire_after.as_ref().and_then(|r| self.key_age(r));
        let status = raw
            .status
            .as_ref()
            .map_or(Some(KeyStatus::Active), |s| self.key_status(s));
        let expires = raw.expires.as_ref().and_then(|e| self.date(e));
        let adopt = raw.adopt.as_ref().and_then(|a| self.adopt(a, who, adopted));
        let key_who = OnDisplay(|f: &mut fmt::Formatter<'_>| match name {
            Some(n) => write!(f, "key {} of {who}", quote(&n.value)),
            None => write!(f, "a key of {who}"),
        });
        let sink = self
            .required(raw.sink.as_ref(), entry, &key_who, "sink", "stdout")
            .and_then(|s| self.sink(s, &key_who, provider_type));
        if self.problems.len() > before {
            return None;
        }
        Some(DesiredKey {
            name: name?.value.clone(),
            adopt: adopt.map(str::to_owned),
            rotate_after,
            retire_after,
            status: status?,
            expires,
            sink: sink?,
        })
    }

    /// The id of a live key a declared key adopts: one declared key per live
    /// key, or the two would fight over it.
    fn adopt<'r>(
        &mut self,
        value: &'r Spanned<String>,
        who: &dyn fmt::Display,
        adopted: &mut HashMap<&'r str, SourceSpan>,
    ) -> Option<&'r str> {
        let id = self.non_empty(
            value,
            &format_args!("the key id a key of {who} adopts"),
            "write the provider's id of the live key (e.g. an access key id), or remove `adopt`",
        )?;
        let span = self.span(value);
        match adopted.entry(id) {
            Entry::Occupied(first) => {
                self.duplicate(
                    ProblemKind::DuplicateAdopt,
                    format!("two keys of {who} adopt the live key {}", quote(id)),
                    span,
                    *first.get(),
                    "a live key is one declared key: remove one of the two `adopt` lines",
                );
                None
            }
            Entry::Vacant(slot) => {
                slot.insert(span);
                Some(id)
            }
        }
    }

    fn sink(
        &mut self,
        value: &Spanned<Value>,
        who: &dyn fmt::Display,
        provider_type: Option<&'a dyn nhi_provider_sdk::ProviderType>,
    ) -> Option<Sink> {
        const NOT_A_SINK: &str = "not `stdout` or `{file: <path>}`";
        let sink = match &value.value {
            Value::String(s) if s == "stdout" => Ok(Sink::Stdout),
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((kind, Value::String(path))) if kind == "file" && !path.trim().is_empty() => {
                    crate::sink::check_relative(path).map(|()| Sink::File(path.clone()))
                }
                Some((kind, Value::String(_))) if kind == "file" => {
                    Err("the file path is empty".to_owned())
                }
                Some((kind, _)) if kind == "file" => Err("`file` must be a path".to_owned()),
                Some((kind, settings)) => self.provider_sink(kind, settings, provider_type),
                None => Err(NOT_A_SINK.to_owned()),
            },
            _ => Err(NOT_A_SINK.to_owned()),
        };
        let sink = sink
            .map_err(|label| {
                let problem = self
                    .problem(ProblemKind::InvalidSink, format!("invalid sink for {who}"))
                    .label(self.span(value), label)
                    .with_help("write `sink: stdout` or `sink: {file: <path relative to this file>}`, a path of plain names beneath the configuration's directory");
                self.push(problem);
            })
            .ok()?;
        if let (Sink::File(path), true) = (&sink, self.sinks.is_some()) {
            let span = self.source.span(&value.referenced);
            let here = self.written(span);
            let sinks = self.sinks.as_mut().expect("invariant: checked above");
            match sinks.entry(path.clone()) {
                Entry::Occupied(first) => {
                    let first = *first.get();
                    self.duplicate_written(
                        ProblemKind::DuplicateSink,
                        format!("{who} delivers to {}, as another key does", quote(path)),
                        span,
                        first,
                        "each key needs a file of its own: one secret would overwrite the other",
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(here);
                }
            }
        }
        Some(sink)
    }

    /// A sink the provider delivers: the provider type that lists its kind
    /// checks the settings. A kind another type delivers is named as such.
    fn provider_sink(
        &self,
        kind: &str,
        settings: &Value,
        provider_type: Option<&'a dyn nhi_provider_sdk::ProviderType>,
    ) -> Result<Sink, String> {
        let delivers =
            |t: &dyn nhi_provider_sdk::ProviderType| t.sink_kinds().iter().any(|k| k.name == kind);
        match provider_type {
            Some(t) if delivers(t) => t.check_sink(kind, settings).map(|()| Sink::Provider {
                kind: kind.to_owned(),
                settings: settings.clone(),
            }),
            // The block's type is unknown: that is reported at the block.
            None => Ok(Sink::Provider {
                kind: kind.to_owned(),
                settings: settings.clone(),
            }),
            Some(_) if self.registry.types().any(delivers) => {
                Err("this provider type cannot deliver to this sink".to_owned())
            }
            Some(_) => Err("not `stdout` or `{file: <path>}`".to_owned()),
        }
    }

    pub(super) fn binding<'r>(
        &mut self,
        entry: &'r Spanned<RawBinding>,
        policy: Option<Spanned<Value>>,
        who: &dyn fmt::Display,
        ids: &mut HashMap<(&'r str, &'r str), SourceSpan>,
        provider_type: Option<&dyn ProviderType>,
    ) -> Option<Binding> {
        let raw = &entry.value;
        let before = self.problems.len();
        let what = OnDisplay(|f: &mut fmt::Formatter<'_>| write!(f, "a binding of {who}"));
        let role = self.required(raw.role.as_ref(), entry, &what, "role", "viewer");
        let role = role.and_then(|r| {
            self.non_empty(
                r,
                &format_args!("the role of {what}"),
                "name the role or policy to grant",
            )
        });
        let resource = match &raw.resource {
            Some(r) => self.non_empty(
                r,
                &format_args!("the resource of {what}"),
                "write `*` for a grant not tied to one resource, or remove `resource`",
            ),
            None => Some("*"),
        };
        if let (Some(role), Some(resource)) = (role, resource) {
            let span = raw
                .role
                .as_ref()
                .map_or_else(|| self.span(entry), |r| self.span(r));
            match ids.entry((role, resource)) {
                Entry::Occupied(first) => self.duplicate(
                    ProblemKind::DuplicateBinding,
                    format!(
                        "{who} has role {} on {} twice",
                        quote(role),
                        quote(resource)
                    ),
                    span,
                    *first.get(),
                    "remove one of the two bindings, or merge their policies",
                ),
                Entry::Vacant(slot) => {
                    slot.insert(span);
                }
            }
        }
        // In the form the provider reports it, then as canonical text.
        let policy = policy.and_then(|p| self.policy(p, &what)).map(|p| {
            Policy::new(&match provider_type {
                Some(t) => t.normalize_policy(p),
                None => p,
            })
        });
        if self.problems.len() > before {
            return None;
        }
        Some(Binding {
            role: role?.to_owned(),
            resource: resource?.to_owned(),
            policy,
        })
    }

    fn policy(&mut self, value: Spanned<Value>, what: &dyn fmt::Display) -> Option<Value> {
        // `Ok(None)`: the value itself is the policy.
        let result = match &value.value {
            Value::Object(_) => Ok(None),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(parsed @ Value::Object(_)) => Ok(Some(parsed)),
                Ok(_) => Err("this JSON is not an object".to_owned()),
                Err(err) => Err(format!("not JSON: {err}")),
            },
            _ => Err("neither a mapping nor a string".to_owned()),
        };
        match result {
            Ok(None) => Some(value.value),
            Ok(Some(parsed)) => Some(parsed),
            Err(label) => {
                let problem = self
                    .problem(
                        ProblemKind::InvalidPolicy,
                        format!("the policy of {what} is not a JSON object"),
                    )
                    .label(self.span(&value), label)
                    .with_help(
                        "write the policy as a YAML mapping, or as a string holding a JSON object",
                    );
                self.push(problem);
                None
            }
        }
    }
}
