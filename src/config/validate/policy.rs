//! The `policy:` section: thresholds, enforcement by rule, exceptions and Rego
//! paths, checked into the record a plan is judged by.

use std::collections::BTreeMap;

use nhi_provider_sdk::{Address, Age};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::super::error::{ProblemKind, did_you_mean, list, quote};
use super::super::raw::{RawException, RawPolicy};
use super::Validator;
use crate::policy::catalogue::{RULES, find};
use crate::policy::finding::Enforcement;
use crate::policy::record::{Exception, PolicyRecord};

const ENFORCEMENT_HELP: &str = "write `advisory`, `soft` or `hard`";

impl Validator<'_> {
    /// The record of a `policy:` section, and its Rego paths; `None` after a problem.
    pub(super) fn policy_section(
        &mut self,
        raw: &Spanned<RawPolicy>,
    ) -> Option<(PolicyRecord, Vec<String>)> {
        let before = self.problems.len();
        let raw_policy = &raw.value;
        let mut record = PolicyRecord::default();
        if let Some(age) = &raw_policy.key_max_age {
            record.key_max_age = self.age(age).unwrap_or(record.key_max_age);
        }
        if let Some(age) = &raw_policy.unused_after {
            record.unused_after = self.age(age).unwrap_or(record.unused_after);
        }
        if let Some(map) = &raw_policy.enforcement {
            record.enforcement = self.enforcement(map);
        }
        for exception in &raw_policy.exceptions {
            if let Some(e) = self.exception(exception) {
                record.exceptions.push(e);
            }
        }
        let mut rego = Vec::new();
        for path in &raw_policy.rego {
            // A directory may be written with its trailing `/`.
            let plain = path.value.strip_suffix('/').unwrap_or(&path.value);
            if let Err(why) = crate::sink::check_relative(plain) {
                let problem = self
                    .problem(ProblemKind::InvalidValue, format!("Rego path {} is not usable: {why}", quote(&path.value)))
                    .label(self.span(path), "this path")
                    .with_help("name a file or directory of `.rego` policies inside the configuration's directory, e.g. `policies/`");
                self.push(problem);
            } else {
                rego.push(path.value.clone());
            }
        }
        (self.problems.len() == before).then_some((record, rego))
    }

    fn age(&mut self, value: &Spanned<String>) -> Option<Age> {
        if let Ok(age) = value.value.parse::<Age>() {
            return Some(age);
        }
        let problem = self
            .problem(
                ProblemKind::InvalidDuration,
                format!("{} is not a valid duration", quote(&value.value)),
            )
            .label(self.span(value), "not a duration")
            .with_help("write a whole number and a unit (`s`, `m`, `h`, `d` or `w`), e.g. `90d`");
        self.push(problem);
        None
    }

    /// A rule id a policy may name: a built-in one, `rego:<id>`, or (for
    /// enforcement) `default`.
    fn rule_id(&mut self, id: &str, span: &Spanned<impl Sized>, allow_default: bool) -> bool {
        let known = find(id).is_some()
            || (allow_default && id == "default")
            || id
                .strip_prefix("rego:")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_control));
        if !known {
            let ids = RULES.iter().map(|r| r.id);
            let help = match did_you_mean(id, ids.clone()) {
                Some(close) => format!("did you mean {}?", quote(close)),
                None => format!(
                    "built-in rules: {}; an org policy's rule is `rego:<id>`",
                    list(ids)
                ),
            };
            let problem = self
                .problem(
                    ProblemKind::UnknownRule,
                    format!("unknown rule {}", quote(id)),
                )
                .label(self.span(span), "not a rule")
                .with_help(help);
            self.push(problem);
        }
        known
    }

    fn enforcement(
        &mut self,
        map: &Spanned<serde_json::Map<String, Value>>,
    ) -> BTreeMap<String, Enforcement> {
        let mut out = BTreeMap::new();
        for (rule, level) in &map.value {
            if !self.rule_id(rule, map, true) {
                continue;
            }
            if let Some(level) = level.as_str().and_then(Enforcement::parse) {
                out.insert(rule.clone(), level);
                continue;
            }
            let problem = self
                .problem(
                    ProblemKind::InvalidValue,
                    format!("the enforcement of {} is not a level", quote(rule)),
                )
                .label(self.span(map), "in this mapping")
                .with_help(ENFORCEMENT_HELP);
            self.push(problem);
        }
        out
    }

    fn exception(&mut self, raw: &Spanned<RawException>) -> Option<Exception> {
        let what = &"an exception";
        let e = &raw.value;
        let rule = self.required(e.rule.as_ref(), raw, what, "rule", "admin-privilege");
        let address = self.required(
            e.address.as_ref(),
            raw,
            what,
            "address",
            "local.demo/identity/ci",
        );
        let justification = self.required(
            e.justification.as_ref(),
            raw,
            what,
            "justification",
            "\"why it is accepted\"",
        );
        let expires = self.required(e.expires.as_ref(), raw, what, "expires", "2027-01-31");
        let (rule, address, justification, expires) = (rule?, address?, justification?, expires?);
        let rule_ok = self.rule_id(&rule.value, rule, false);
        if justification.value.trim().is_empty() {
            let problem = self
                .problem(
                    ProblemKind::EmptyValue,
                    "an exception's `justification` is empty",
                )
                .label(self.span(justification), "empty")
                .with_help(
                    "say why the finding is accepted: reviewers read it in every plan that uses it",
                );
            self.push(problem);
            return None;
        }
        let prefix_ok = address
            .value
            .split_once('/')
            .map_or(address.value.as_str(), |(prefix, _)| prefix)
            .split_once('.')
            .is_some_and(|(type_name, name)| {
                self.types
                    .get(name)
                    .and_then(|(t, _)| *t)
                    .is_some_and(|t| t.type_name() == type_name)
            });
        if !prefix_ok || address.value.contains(char::is_control) {
            let problem = self
                .problem(ProblemKind::InvalidValue, format!("{} is not the address of an object of a provider block here", quote(&address.value)))
                .label(self.span(address), "this address")
                .with_help("write an address as plans print it, e.g. `local.demo/identity/ci-deployer/binding/admin`");
            self.push(problem);
            return None;
        }
        let expires = self.date(expires)?;
        rule_ok.then(|| Exception {
            rule: rule.value.clone(),
            address: Address::raw(&address.value),
            justification: justification.value.clone(),
            expires,
        })
    }
}
