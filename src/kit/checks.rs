//! The checks of `nhi-provider-kit/1`, in order; each later one builds on the
//! estate the earlier ones left.

use std::collections::HashSet;
use std::fmt::Write as _;

use nhi_provider_plugin::{PluginHost, PluginType, RemoteProvider};
use nhi_provider_sdk::{
    ApplyRequest, Operation, Provider as _, ProviderContext, ProviderType as _, ReadRequest,
    RecordKeyRequest,
};
use serde_json::json;

use super::{KitOptions, KitOutcome, KitReport, SUITE, Verdict, digest_of};

use crate::config::Config;
use crate::registry::Registry;

pub(super) const BLOCK: &str = "kit";

pub(super) struct Kit<'a> {
    pub(super) options: &'a KitOptions,
    /// The block's settings, with the `plugin` entry that pins the plugin.
    pub(super) settings: serde_json::Value,
    /// The two identities' names.
    names: [&'a str; 2],
    pub(super) plugin: &'static PluginType,
    provider: RemoteProvider,
    runtime: tokio::runtime::Runtime,
    /// Secrets the plugin minted, for the canary check.
    secrets: Vec<zeroize::Zeroizing<String>>,
    /// Every state the plugin reported, as JSON, for the canary check.
    seen: Vec<String>,
    /// The name the plugin gave, for the robustness checks' messages.
    pub(super) name: String,
}

pub(super) fn run(options: &KitOptions) -> KitReport {
    let mut report = KitReport {
        suite: SUITE,
        plugin: None,
        verdicts: Vec::new(),
    };
    let verdicts = &mut report.verdicts;
    let mut kit = match Kit::start(options) {
        Ok(kit) => kit,
        Err(e) => {
            verdict(verdicts, "handshake", Err(e));
            return report;
        }
    };
    let record = kit
        .plugin
        .plugin()
        .expect("invariant: a plugin type records its plugin");
    let caps = kit.plugin.capabilities().clone();
    verdict(
        verdicts,
        "handshake",
        Ok(format!(
            "`{} {}` speaks `{}`, kinds {}",
            record.name,
            record.version,
            record.protocol,
            caps.kinds.join(", ")
        )),
    );
    kit.name.clone_from(&record.name);
    let name = format!("{} {}", record.name, record.version);
    let mutates = caps.calls.iter().any(|c| c == "test_mutate");
    verdict(
        verdicts,
        "create from nothing, then no changes",
        kit.create(),
    );
    let skip = || Err("skip: the plugin offers no `test_mutate`".into());
    let drift = if mutates { kit.drift() } else { skip() };
    verdict(verdicts, "out-of-band change is drift", drift);
    let stale = if mutates { kit.stale() } else { skip() };
    verdict(verdicts, "change between plan and apply is stale", stale);
    verdict(verdicts, "deletes converge", kit.delete());
    verdict(
        verdicts,
        "unknown method is an error, not a crash",
        kit.unknown_method(),
    );
    verdict(
        verdicts,
        "malformed line is an error, not a crash",
        kit.malformed(),
    );
    verdict(verdicts, "oversized line is answered", kit.oversized());
    verdict(
        verdicts,
        "a hung call fails at its deadline",
        kit.deadline(),
    );
    verdict(verdicts, "a crash mid-call fails the call", kit.crash());
    let canary = kit.canary(verdicts);
    verdict(verdicts, "secret canary never leaks", canary);
    kit.plugin.stop_plugin();
    drop(kit);
    report.plugin = Some(name);
    report
}

fn verdict(verdicts: &mut Vec<Verdict>, check: &'static str, result: Result<String, String>) {
    verdicts.push(match result {
        Ok(detail) => Verdict {
            check,
            outcome: KitOutcome::Pass,
            detail,
        },
        Err(detail) if detail.starts_with("skip: ") => Verdict {
            check,
            outcome: KitOutcome::Skip,
            detail: detail["skip: ".len()..].to_owned(),
        },
        Err(detail) => Verdict {
            check,
            outcome: KitOutcome::Fail,
            detail,
        },
    });
}

impl<'a> Kit<'a> {
    fn start(options: &'a KitOptions) -> Result<Self, String> {
        let digest = digest_of(&options.plugin)?;
        let path = std::path::absolute(&options.plugin)
            .map_err(|e| format!("cannot resolve `{}`: {e}", options.plugin.display()))?;
        let mut settings = options
            .settings
            .clone()
            .unwrap_or_else(|| json!({"state": "estate.json"}));
        let map = settings
            .as_object_mut()
            .ok_or("the plugin's settings are a mapping")?;
        map.insert(
            "plugin".into(),
            json!({"path": path, "sha256": digest.to_string(), "timeout_ms": options.timeout_ms}),
        );
        let plugin = PluginHost::plugin(&settings, &options.scratch)?;
        plugin.check_settings(&settings)?;
        let provider = plugin
            .connect_remote(ProviderContext {
                name: BLOCK.into(),
                settings: settings.clone(),
                base_dir: options.scratch.clone(),
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            options,
            settings,
            plugin,
            provider,
            names: [&options.sample.names[0], &options.sample.names[1]],
            runtime: crate::refresh::runtime().map_err(|e| e.to_string())?,
            secrets: Vec::new(),
            seen: Vec::new(),
            name: String::new(),
        })
    }

    /// Writes the kit's configuration: `identities` (name, description) under
    /// the plugin's block, with the sample's key and bindings each.
    fn config(&self, identities: &[(&str, &str)]) -> Result<Config, String> {
        let sample = &self.options.sample;
        let kind = &self.plugin.capabilities().kinds[0];
        let mut text = format!(
            "version: 1\nproviders:\n  - name: {BLOCK}\n    type: plugin\n    prune: true\n    settings: {}\nidentities:",
            serde_json::to_string(&self.settings).map_err(|e| e.to_string())?
        );
        if identities.is_empty() {
            text.push_str(" []");
        }
        let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
        for (name, description) in identities {
            let _ = write!(
                text,
                "\n  - name: {}\n    provider: {BLOCK}\n    kind: {kind}\n    owner: kit@example.invalid\n    description: {description}\n    keys:\n      - name: {}\n        sink: {{file: {}}}\n    bindings:",
                quoted(name),
                quoted(&sample.key),
                quoted(&format!("{name}.key")),
            );
            if sample.bindings.is_empty() {
                text.push_str(" []");
            }
            for binding in &sample.bindings {
                let _ = write!(
                    text,
                    "\n      - role: {}\n        resource: {}",
                    quoted(&binding.role),
                    quoted(&binding.resource.replace("{name}", name)),
                );
            }
            text.push('\n');
        }
        let path = self.options.scratch.join("nhi.yaml");
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        crate::config::load_with(&path, Registry::builtin(), &mut |_, _| {})
            .map_err(|e| format!("{:?}", miette::Report::new(e)))
    }

    fn read(&mut self) -> Result<nhi_provider_sdk::ObservedState, String> {
        let state = self
            .runtime
            .block_on(self.provider.read(ReadRequest::default()))
            .map_err(|e| e.to_string())?
            .state;
        self.seen
            .push(serde_json::to_string(&state).unwrap_or_default());
        Ok(state)
    }

    fn diff(
        &mut self,
        config: &Config,
    ) -> Result<(crate::diff::Diff, nhi_provider_sdk::ObservedState), String> {
        let observed = self.read()?;
        let block = &config.providers[0];
        let scopes = [crate::diff::Scope {
            block,
            observed: &observed,
            key_slots: self.plugin.key_slots(),
            retire: self.plugin.retire_first(&block.settings),
            planted: &crate::diff::NO_PLANTED,
        }];
        let diff = crate::diff::diff(config, &scopes, jiff::Timestamp::now());
        Ok((diff, observed))
    }

    /// Applies a diff's changes in order, delivering no secret anywhere but
    /// recording each minted key as delivered.
    fn apply(&mut self, diff: crate::diff::Diff) -> Result<usize, String> {
        let count = diff.changes.len();
        for change in diff.changes {
            let at = change.address.to_string();
            let creates = match &change.operation {
                Operation::CreateKey { identity, key } => Some((identity.clone(), key.clone())),
                Operation::RotateKey { .. } => {
                    return Err(format!("`{at}`: the kit plans no rotations"));
                }
                _ => None,
            };
            let response = self
                .runtime
                .block_on(self.provider.apply(ApplyRequest {
                    operation: change.operation,
                    sink: change.sink,
                    progress: nhi_provider_sdk::ProgressSink::default(),
                }))
                .map_err(|e| format!("`{at}`: {e}"))?;
            if let Some((identity, key)) = creates {
                let secret = response.secret.ok_or_else(|| {
                    format!("`{at}`: a key for a file sink came back without its secret")
                })?;
                let key_id = secret.key_id.clone();
                self.secrets.push(secret.secret.clone());
                self.runtime
                    .block_on(self.provider.record_key(RecordKeyRequest {
                        identity,
                        key,
                        key_id,
                    }))
                    .map_err(|e| format!("`{at}`: {e}"))?;
            }
        }
        Ok(count)
    }

    fn converged(&mut self, config: &Config) -> Result<(), String> {
        let (diff, _) = self.diff(config)?;
        if diff.changes.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the plan after apply still has {} change(s): {}",
                diff.changes.len(),
                list(diff.changes.iter().map(|c| c.address.to_string()))
            ))
        }
    }

    fn create(&mut self) -> Result<String, String> {
        let config = self.config(&[
            (self.names[0], "made by the kit"),
            (self.names[1], "made by the kit"),
        ])?;
        let (diff, observed) = self.diff(&config)?;
        if observed
            .identities
            .iter()
            .any(|i| self.names.contains(&i.identity.name.as_str()))
        {
            return Err(
                "the estate already holds the kit's identities; point the settings at an empty one"
                    .into(),
            );
        }
        let applied = self.apply(diff)?;
        self.converged(&config)?;
        Ok(format!("{applied} changes applied, then none planned"))
    }

    fn mutate_description(&mut self, description: &str) -> Result<(), String> {
        let observed = self.read()?;
        let before = observed
            .identities
            .iter()
            .find(|i| i.identity.name == self.names[0])
            .ok_or_else(|| format!("`{}` is not in the estate", self.names[0]))?
            .identity
            .clone();
        let mut after = before.clone();
        after.description = description.into();
        self.plugin.test_mutate(
            self.provider.handle(),
            Operation::UpdateIdentity { before, after },
        )
    }

    fn drift(&mut self) -> Result<String, String> {
        let config = self.config(&[
            (self.names[0], "made by the kit"),
            (self.names[1], "made by the kit"),
        ])?;
        self.mutate_description("changed out of band")?;
        let (diff, _) = self.diff(&config)?;
        let seen: Vec<String> = diff.changes.iter().map(|c| c.address.to_string()).collect();
        let want = format!("plugin.{BLOCK}/identity/{}", self.names[0]);
        if !seen.contains(&want) {
            return Err(format!(
                "no change at `{want}` after an out-of-band edit; planned: {}",
                list(seen.into_iter())
            ));
        }
        let applied = self.apply(diff)?;
        self.converged(&config)?;
        Ok(format!("seen as {applied} change(s), which converged"))
    }

    fn stale(&mut self) -> Result<String, String> {
        let config = self.config(&[
            (self.names[0], "planned by the kit"),
            (self.names[1], "made by the kit"),
        ])?;
        let (diff, _) = self.diff(&config)?;
        if diff.changes.is_empty() {
            return Err("a changed description planned no change".into());
        }
        self.mutate_description("changed between plan and apply")?;
        let now = self.read()?;
        let names: HashSet<&str> = self.names.into_iter().collect();
        let prefix = nhi_provider_sdk::Address::provider("plugin", BLOCK);
        let live = crate::diff::fingerprints(&prefix, &now, &names);
        let stale: Vec<String> = diff
            .touched
            .iter()
            .filter(|(address, planned)| live.get(*address) != planned.as_ref())
            .map(|(address, _)| address.to_string())
            .collect();
        if stale.is_empty() {
            return Err(
                "the plan's touched objects read the same after an out-of-band change".into(),
            );
        }
        // Put the estate back as configured.
        let config = self.config(&[
            (self.names[0], "made by the kit"),
            (self.names[1], "made by the kit"),
        ])?;
        let (diff, _) = self.diff(&config)?;
        self.apply(diff)?;
        self.converged(&config)?;
        Ok(format!("stale: {}", list(stale.into_iter())))
    }

    fn delete(&mut self) -> Result<String, String> {
        let config = self.config(&[])?;
        let (diff, _) = self.diff(&config)?;
        let applied = self.apply(diff)?;
        self.converged(&config)?;
        let left = self.read()?;
        if let Some(i) = left
            .identities
            .iter()
            .find(|i| self.names.contains(&i.identity.name.as_str()))
        {
            return Err(format!("`{}` is still in the estate", i.identity.name));
        }
        Ok(format!("{applied} deletes applied, then none planned"))
    }

    /// The plugin must still answer after `check` (asked, not from the host's
    /// memory of earlier answers).
    fn alive(&self) -> Result<(), String> {
        let settings = json!({"settings": nhi_provider_plugin::plugin_own(&self.settings)});
        match self
            .plugin
            .raw_call("check_settings", "settings", &settings)
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((code, message))) => Err(format!(
                "the plugin no longer answers `check_settings`: error {code}: {message}"
            )),
            Err(broken) => Err(format!("the plugin no longer answers: {broken}")),
        }
    }

    fn unknown_method(&mut self) -> Result<String, String> {
        match self
            .plugin
            .raw_call("nhi_kit_no_such_method", "test", &json!({}))?
        {
            Ok(_) => Err("the plugin answered an unknown method with a result".into()),
            Err((code, message)) => {
                self.alive()?;
                Ok(format!("error {code}: {message}"))
            }
        }
    }

    fn malformed(&mut self) -> Result<String, String> {
        let line = self.plugin.raw_line(b"{\"jsonrpc\":\"2.0\",\"id\":")?;
        let response: serde_json::Value = serde_json::from_slice(&line)
            .map_err(|_| "the answer to a malformed line is not JSON".to_owned())?;
        let code = response
            .pointer("/error/code")
            .and_then(serde_json::Value::as_i64);
        if code != Some(nhi_provider_sdk::plugin::wire::PARSE_ERROR) {
            return Err(format!("expected error -32700, got `{response}`"));
        }
        self.alive()?;
        Ok("error -32700".into())
    }

    fn oversized(&mut self) -> Result<String, String> {
        let pad = "x".repeat(4 << 20);
        let mut settings = self.settings.clone();
        settings["kit_padding"] = json!(pad);
        let answer =
            self.plugin
                .raw_call("check_settings", "settings", &json!({"settings": settings}))?;
        self.alive()?;
        Ok(match answer {
            Ok(_) => "a 4 MiB request was answered".into(),
            Err((code, _)) => format!("a 4 MiB request was answered with error {code}"),
        })
    }

    /// No secret the plugin minted shows anywhere but where it was delivered:
    /// not on its standard error, in a read, or in what the kit reports
    /// (`verdicts`, which hold every error the host raised).
    fn canary(&mut self, verdicts: &[Verdict]) -> Result<String, String> {
        if self.secrets.is_empty() {
            return Err("no secret was minted, so none could be traced".into());
        }
        for secret in &self.secrets {
            if self.plugin.stderr_contains(secret) {
                return Err("a minted secret appeared on the plugin's standard error".into());
            }
            if self.seen.iter().any(|s| s.contains(secret.as_str())) {
                return Err("a minted secret appeared in a read of live state".into());
            }
            if let Some(v) = verdicts.iter().find(|v| v.detail.contains(secret.as_str())) {
                return Err(format!(
                    "a minted secret appeared in what check `{}` reported",
                    v.check
                ));
            }
        }
        Ok(format!(
            "{} secret(s) traced: never in a read, on standard error or in this report",
            self.secrets.len()
        ))
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}
