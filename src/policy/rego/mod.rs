//! Org policies in Rego, embedded through `regorus`: a bundle of `.rego` files
//! judges a plan's input ([`input`]) with `deny` and `warn` rules whose
//! `# METADATA` give each an id and a severity, and runs its `test_` rules as
//! `opa test` does. Loading ([`Bundle::load`]) is the only I/O; evaluation is
//! deterministic: no network built-ins, `time.now_ns()` is the plan's clock and
//! `rand.intn` is refused.
//!
//! Conventions (README "Org policies in Rego"): findings come from rules
//! `deny contains f if {…}` (hard by default) and `warn contains f if {…}`
//! (advisory) in packages under `nhi` (`package nhi.ci`); `f` is a message or
//! `{"msg": …, "address": …}`; a finding's rule is `rego:<package>.<id>`, the
//! package without its leading `nhi.` (`package nhi.ci`, `id: no-keys` →
//! `rego:ci.no-keys`).
//!
//! The bundle digest ([`Bundle::record`]) is sha256 over netstrings (`<decimal
//! length>:<bytes>,`): first `nhi-rego-bundle/1`, then for each file, sorted by
//! its `/`-separated path relative to the configuration's directory (bytewise),
//! the path and then the file's exact bytes.

mod error;
mod input;
mod load;
mod metadata;
mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use nhi_provider_sdk::{Address, Digest};
use regorus::unstable::{Module, Ref, Rule, RuleHead};

pub use error::{RegoError, SourceError};
use error::{parse_error, source_error};
pub use input::{desired, input};
pub use load::{MAX_FILE_BYTES, MAX_FILES};
pub use testing::{TestOutcome, TestReport, TestResult};

use super::{Enforcement, RegoRecord, Severity};

/// A loaded, parsed bundle, ready to evaluate many times.
#[derive(Debug, Clone)]
pub struct Bundle {
    paths: Vec<String>,
    files: Vec<String>,
    digest: Digest,
    engine: regorus::Engine,
    rules: Vec<PolicyRule>,
    tests: Vec<TestRule>,
}

/// One definition of a `deny` or `warn` rule, with its annotation.
#[derive(Debug, Clone)]
struct PolicyRule {
    module: Ref<Module>,
    rule: Ref<Rule>,
    /// `["nhi", "ci", "deny"]`: where its set lands in `data`.
    path: Vec<String>,
    id: String,
    severity: Severity,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deny,
    Warn,
}

#[derive(Debug, Clone)]
struct TestRule {
    file: String,
    line: u32,
    /// `data.nhi.ci_test.test_x`.
    query: String,
}

/// One finding of an org policy, before the plan's policy record gives it its
/// enforcement and exception ([`super::Finding`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegoFinding {
    pub address: Address,
    /// `rego:<package>.<id>`.
    pub rule: String,
    pub message: String,
    pub severity: Severity,
    /// `deny`: hard; `warn`: advisory; the policy record's `enforcement` may
    /// say otherwise ([`super::PolicyRecord::rego_enforcement`]).
    pub default_enforcement: Enforcement,
}

impl Bundle {
    /// Every `*.rego` file under `paths` (files or directories, recursive,
    /// relative to `config_dir`, never leaving it), parsed and checked against
    /// the conventions: every `deny`/`warn` rule is a partial set in a package
    /// under `nhi` with a `# METADATA` id and severity.
    pub fn load(config_dir: &Path, paths: &[String]) -> Result<Self, RegoError> {
        let files = load::read(config_dir, paths)?;
        Self::from_files(paths.to_vec(), files)
    }

    /// A bundle from files already read (`(path, text)`, any order).
    #[cfg(test)]
    pub(crate) fn from_sources(
        paths: Vec<String>,
        files: &[(&str, &str)],
    ) -> Result<Self, RegoError> {
        let mut files: Vec<load::SourceFile> = files
            .iter()
            .map(|(path, text)| load::SourceFile {
                path: (*path).to_owned(),
                text: (*text).to_owned(),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Self::from_files(paths, files)
    }

    fn from_files(paths: Vec<String>, files: Vec<load::SourceFile>) -> Result<Self, RegoError> {
        let digest = digest(&files);
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(false);
        engine.set_strict_builtin_errors(true);
        engine.set_gather_prints(true);
        for file in &files {
            engine
                .add_policy(file.path.clone(), file.text.clone())
                .map_err(|e| parse_error(file, &e))?;
        }
        let modules = engine.get_modules().clone();
        let mut rules = Vec::new();
        let mut tests = Vec::new();
        let mut ids: BTreeMap<String, (Kind, Severity)> = BTreeMap::new();
        for (module, file) in modules.iter().zip(&files) {
            let package = module.package.refr.span().text().to_owned();
            for rule in &module.policy {
                let Rule::Spec { span, head, .. } = rule.as_ref() else {
                    continue;
                };
                let (name, is_set) = match head {
                    RuleHead::Set { refr, .. } => (refr.span().text(), true),
                    RuleHead::Compr { refr, .. } | RuleHead::Func { refr, .. } => {
                        (refr.span().text(), false)
                    }
                };
                let at = |line: u32, detail: String, help: &str| {
                    source_error(file, line, 1, detail, help.to_owned())
                };
                if name.starts_with("test_") {
                    tests.push(TestRule {
                        file: file.path.clone(),
                        line: span.line,
                        query: format!("data.{package}.{name}"),
                    });
                    continue;
                }
                let kind = match name {
                    "deny" => Kind::Deny,
                    "warn" => Kind::Warn,
                    _ => continue,
                };
                if !is_set {
                    return Err(at(
                        span.line,
                        format!("`{name}` is not a partial set"),
                        &format!("write `{name} contains msg if {{ … }}`"),
                    ));
                }
                let Some(short) = package
                    .strip_prefix("nhi.")
                    .or((package == "nhi").then_some(""))
                else {
                    return Err(at(
                        span.line,
                        format!(
                            "`{name}` is in package `{package}`, outside `nhi`, and would never be evaluated"
                        ),
                        "put org policies in packages under `nhi`, e.g. `package nhi.ci`",
                    ));
                };
                let note = metadata::annotation(&file.text, span.line).map_err(|e| {
                    at(
                        e.line,
                        format!("`{name}`: {}", e.detail),
                        "annotate the rule:\n# METADATA\n# custom:\n#   id: ci-no-keys\n#   severity: high",
                    )
                })?;
                let id = if short.is_empty() {
                    format!("rego:{}", note.id)
                } else {
                    format!("rego:{short}.{}", note.id)
                };
                if let Some(&(k, s)) = ids.get(&id)
                    && (k, s) != (kind, note.severity)
                {
                    return Err(at(
                        span.line,
                        format!("rule id `{id}` is used again with another kind or severity"),
                        "give every rule its own `custom.id`, or the same severity where one id spans several definitions",
                    ));
                }
                ids.insert(id.clone(), (kind, note.severity));
                let mut path: Vec<String> = package.split('.').map(str::to_owned).collect();
                path.push(name.to_owned());
                rules.push(PolicyRule {
                    module: module.clone(),
                    rule: rule.clone(),
                    path,
                    id,
                    severity: note.severity,
                    kind,
                });
            }
        }
        tests.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        tests.dedup_by(|a, b| a.query == b.query);
        Ok(Self {
            paths,
            files: files.into_iter().map(|f| f.path).collect(),
            digest,
            engine,
            rules,
            tests,
        })
    }

    /// The record a plan keeps of this bundle: the configured paths and the
    /// digest of its files (framing in the module documentation).
    pub fn record(&self) -> RegoRecord {
        RegoRecord {
            paths: self.paths.clone(),
            digest: self.digest,
        }
    }

    /// The bundle's files, relative to the configuration's directory, sorted.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The findings of every `deny` and `warn` rule on `input`, at `now`
    /// (`time.now_ns()`), sorted by address, rule, message and unique. A finding
    /// without an address is the first provider block's (`<type>.<name>`);
    /// one with an address names an object under one of the input's
    /// `desired.providers`.
    pub fn evaluate(
        &self,
        input: &serde_json::Value,
        now: jiff::Timestamp,
    ) -> Result<Vec<RegoFinding>, RegoError> {
        let prefixes: Vec<&str> = input
            .pointer("/desired/providers")
            .and_then(serde_json::Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("address").and_then(serde_json::Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let value = <regorus::Value as serde::Deserialize>::deserialize(input).map_err(|e| {
            RegoError::Prepare {
                detail: format!("the input is not a Rego value: {e}"),
            }
        })?;
        let mut engine = self.deterministic(now)?;
        engine.set_input(value);
        let mut out = Vec::new();
        for rule in &self.rules {
            let data = engine
                .eval_rule_in_module(&rule.module, &rule.rule, false)
                .map_err(|e| RegoError::Eval {
                    rule: rule.id.clone(),
                    detail: e.to_string(),
                })?;
            let set = rule.path.iter().fold(&data, |v, part| &v[part.as_str()]);
            let members = match set {
                regorus::Value::Undefined => continue,
                regorus::Value::Set(s) => s,
                other => {
                    return Err(RegoError::Finding {
                        rule: rule.id.clone(),
                        detail: format!("a `{}` where a set was expected", kind_of(other)),
                    });
                }
            };
            for member in members.iter() {
                out.push(finding(rule, member, &prefixes)?);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn finding(
    rule: &PolicyRule,
    member: &regorus::Value,
    prefixes: &[&str],
) -> Result<RegoFinding, RegoError> {
    let bad = |detail: String| RegoError::Finding {
        rule: rule.id.clone(),
        detail,
    };
    let (message, address) = match member {
        regorus::Value::String(s) => (s.to_string(), None),
        regorus::Value::Object(o) => {
            let msg = o.get(&regorus::Value::from("msg"));
            let Some(regorus::Value::String(msg)) = msg else {
                return Err(bad("an object without a string `msg`".into()));
            };
            let address = match o.get(&regorus::Value::from("address")) {
                None => None,
                Some(regorus::Value::String(a)) => Some(a.to_string()),
                Some(other) => {
                    return Err(bad(format!("an `address` that is a {}", kind_of(other))));
                }
            };
            (msg.to_string(), address)
        }
        other => return Err(bad(format!("a finding that is a {}", kind_of(other)))),
    };
    let address = match address {
        Some(a) => {
            let known = prefixes
                .iter()
                .any(|p| a == *p || (a.starts_with(p) && a.as_bytes().get(p.len()) == Some(&b'/')));
            if !known {
                return Err(bad(format!(
                    "a finding on `{a}`, which is under no provider block of the configuration"
                )));
            }
            Address::raw(&a)
        }
        None => Address::raw(prefixes.first().ok_or_else(|| {
            bad("a finding without an address, and the input has no provider block".into())
        })?),
    };
    Ok(RegoFinding {
        address,
        rule: rule.id.clone(),
        message,
        severity: rule.severity,
        default_enforcement: match rule.kind {
            Kind::Deny => Enforcement::Hard,
            Kind::Warn => Enforcement::Advisory,
        },
    })
}

impl Bundle {
    /// An engine whose clock is `now` and which refuses randomness.
    fn deterministic(&self, now: jiff::Timestamp) -> Result<regorus::Engine, RegoError> {
        let nanos = i64::try_from(now.as_nanosecond()).map_err(|_| RegoError::Prepare {
            detail: format!("the clock `{now}` is out of Rego's range"),
        })?;
        let mut engine = self.engine.clone();
        let prepare = |e: anyhow::Error| RegoError::Prepare {
            detail: e.to_string(),
        };
        engine
            .add_extension(
                "time.now_ns".into(),
                0,
                Box::new(move |_| Ok(regorus::Value::from(nanos))),
            )
            .map_err(prepare)?;
        engine
            .add_extension(
                "rand.intn".into(),
                2,
                Box::new(|_| {
                    Err(anyhow::anyhow!(
                        "`rand.intn` is not available: org policies are deterministic"
                    ))
                }),
            )
            .map_err(prepare)?;
        Ok(engine)
    }
}

fn kind_of(value: &regorus::Value) -> &'static str {
    match value {
        regorus::Value::Null => "null",
        regorus::Value::Bool(_) => "boolean",
        regorus::Value::Number(_) => "number",
        regorus::Value::String(_) => "string",
        regorus::Value::Array(_) => "array",
        regorus::Value::Set(_) => "set",
        regorus::Value::Object(_) => "object",
        regorus::Value::Undefined => "undefined value",
    }
}

/// sha256 over netstrings: the framing tag, then each file's path and bytes.
fn digest(files: &[load::SourceFile]) -> Digest {
    let mut framed = Vec::new();
    let mut netstring = |bytes: &[u8]| {
        framed.extend_from_slice(bytes.len().to_string().as_bytes());
        framed.push(b':');
        framed.extend_from_slice(bytes);
        framed.push(b',');
    };
    netstring(b"nhi-rego-bundle/1");
    for file in files {
        netstring(file.path.as_bytes());
        netstring(file.text.as_bytes());
    }
    Digest::of(&framed)
}
