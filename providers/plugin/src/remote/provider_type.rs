//! A started plugin as a provider type: validation, normalisation, advice and
//! the other questions about configuration, each one protocol call (or an
//! answer remembered, or the SDK default for a call the plugin did not announce).

use super::{
    AdviceParams, AdviceResult, AttributesMessage, Call, CheckResult, CheckSinkParams,
    DeclaredIdentity, DeclaredPart, Operation, OverlapParams, OverlapResult, Path, PluginRecord,
    PluginSettings, PluginType, PolicyMessage, Provider, ProviderContext, ProviderError,
    ProviderType, RetireResult, SettingsParams, SinkKind, ValidateRequest, ValidateResponse,
    ValidateResult, leak, plugin_own,
};

/// The tags sent for an identity whose tags the plugin does not read.
static NO_TAGS: std::sync::LazyLock<nhi_provider_sdk::Tags> =
    std::sync::LazyLock::new(nhi_provider_sdk::Tags::new);

impl ProviderType for PluginType {
    fn type_name(&self) -> &'static str {
        "plugin"
    }

    fn kinds(&self) -> &'static [&'static str] {
        self.kinds
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        PluginSettings::parse(settings)?;
        self.ask_once::<_, CheckResult>(
            "check_settings",
            "settings",
            &SettingsParams {
                settings: plugin_own(settings),
            },
        )?
        .into_result()
    }

    fn validate(&self, request: &ValidateRequest<'_>) -> ValidateResponse {
        let mut response = ValidateResponse::default();
        if !self.answers(Call::VALIDATE) {
            for (i, identity) in request.identities.iter().enumerate() {
                if let Some(name) = identity.attributes.and_then(|a| a.keys().next()) {
                    response.check(
                        i,
                        DeclaredPart::Attributes,
                        Err(format!(
                            "`{}` identities have no attribute `{name}`",
                            self.record.name
                        )),
                    );
                }
            }
            return response;
        }
        // The request serialises as `ValidateParams`, borrowed; without the
        // fields the plugin said it does not read.
        let trimmed: Option<Vec<DeclaredIdentity<'_>>> =
            self.capabilities.validates.as_ref().map(|fields| {
                let reads = |field: &str| fields.iter().any(|f| f == field);
                request
                    .identities
                    .iter()
                    .map(|d| DeclaredIdentity {
                        kind: d.kind.filter(|_| reads("kind")),
                        name: d.name.filter(|_| reads("name")),
                        owner: d.owner.filter(|_| reads("owner")),
                        description: if reads("description") {
                            d.description
                        } else {
                            ""
                        },
                        tags: if reads("tags") { d.tags } else { &NO_TAGS },
                        attributes: d.attributes.filter(|_| reads("attributes")),
                        key_names: if reads("key_names") { d.key_names } else { &[] },
                        bindings: if reads("bindings") { d.bindings } else { &[] },
                    })
                    .collect()
            });
        let sent = trimmed
            .as_deref()
            .map_or(*request, |identities| ValidateRequest { identities });
        let object = request
            .identities
            .first()
            .and_then(|d| d.name)
            .unwrap_or("identities");
        match self.ask::<_, ValidateResult>("validate", object, &sent) {
            Ok(result) => {
                for problem in result.problems {
                    let part: DeclaredPart = problem.part.into();
                    let in_range = request.identities.get(problem.identity).is_some_and(
                        |d| !matches!(part, DeclaredPart::Binding(b) if b >= d.bindings.len()),
                    );
                    let (identity, part, reason) = if in_range {
                        (problem.identity, part, problem.reason)
                    } else {
                        (
                            0,
                            DeclaredPart::Name,
                            format!(
                                "plugin `{}` reported a problem about an identity or binding it was not asked about",
                                self.record.name
                            ),
                        )
                    };
                    response.check(identity, part, Err(reason));
                }
            }
            Err(reason) => {
                for i in 0..request.identities.len() {
                    response.check(i, DeclaredPart::Name, Err(reason.clone()));
                }
            }
        }
        response
    }

    fn normalize_attributes(
        &self,
        kind: &str,
        attributes: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        if !self.answers(Call::NORMALIZE_ATTRIBUTES) || attributes.is_empty() {
            return attributes;
        }
        let params = AttributesMessage {
            kind: Some(kind.to_owned()),
            attributes,
        };
        match self.ask_once::<_, AttributesMessage>("normalize_attributes", kind, &params) {
            Ok(answer) => answer.attributes,
            // The plugin is stopped; connecting fails with why.
            Err(_) => params.attributes,
        }
    }

    fn key_slots(&self) -> Option<usize> {
        self.capabilities.key_slots
    }

    fn replaces_identities(&self) -> bool {
        self.capabilities.replaces_identities
    }

    fn reports_key_use(&self) -> bool {
        self.capabilities.reports_key_use
    }

    fn normalize_policy(&self, policy: serde_json::Value) -> serde_json::Value {
        if !self.answers(Call::NORMALIZE_POLICY) {
            return policy;
        }
        let params = PolicyMessage { policy };
        match self.ask_once::<_, PolicyMessage>("normalize_policy", "policy", &params) {
            Ok(answer) => answer.policy,
            Err(_) => params.policy,
        }
    }

    fn retire_first(&self, settings: &serde_json::Value) -> Option<(String, serde_json::Value)> {
        if !self.answers(Call::RETIRE_FIRST) {
            return None;
        }
        self.ask_once::<_, RetireResult>(
            "retire_first",
            "settings",
            &SettingsParams {
                settings: plugin_own(settings),
            },
        )
        .ok()?
        .attribute
    }

    fn advice(&self, operation: &Operation) -> Option<&'static str> {
        self.advise(&[operation]).pop().flatten()
    }

    fn advise(&self, operations: &[&Operation]) -> Vec<Option<&'static str>> {
        if !self.answers(Call::ADVICE) || operations.is_empty() {
            return vec![None; operations.len()];
        }
        let params = AdviceParams {
            operations: operations.iter().map(|o| (*o).clone()).collect(),
        };
        let texts = match self.ask::<_, AdviceResult>("advice", "plan", &params) {
            // An answer of another length is not about these operations.
            Ok(answer) if answer.advice.len() == operations.len() => answer.advice,
            _ => return vec![None; operations.len()],
        };
        let mut seen = self
            .advice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        texts
            .into_iter()
            .map(|text| {
                let text = text?;
                if let Some(known) = seen.get(text.as_str()) {
                    return Some(*known);
                }
                let kept = leak(&text);
                seen.insert(kept);
                Some(kept)
            })
            .collect()
    }

    fn sink_kinds(&self) -> &'static [SinkKind] {
        self.sinks
    }

    fn check_sink(&self, kind: &str, settings: &serde_json::Value) -> Result<(), String> {
        if !self.answers(Call::CHECK_SINK) || !self.sinks.iter().any(|s| s.name == kind) {
            return Err(format!(
                "plugin `{}` delivers no `{kind}` sink",
                self.record.name
            ));
        }
        self.ask_once::<_, CheckResult>(
            "check_sink",
            kind,
            &CheckSinkParams {
                kind: kind.to_owned(),
                settings: settings.clone(),
            },
        )?
        .into_result()
    }

    fn read_beside_config(&self) -> bool {
        self.capabilities.read_beside_config
    }

    fn scopes_overlap(
        &self,
        settings: &serde_json::Value,
        other: &serde_json::Value,
        base_dir: &Path,
    ) -> Option<String> {
        if !self.answers(Call::SCOPES_OVERLAP) {
            return None;
        }
        self.ask_once::<_, OverlapResult>(
            "scopes_overlap",
            "settings",
            &OverlapParams {
                settings: plugin_own(settings),
                other: plugin_own(other),
                base_dir: base_dir.to_string_lossy().into_owned(),
            },
        )
        .ok()?
        .overlap
    }

    fn plugin(&self) -> Option<PluginRecord> {
        Some(self.record.clone())
    }

    fn connect(&self, context: ProviderContext) -> Result<Box<dyn Provider>, ProviderError> {
        Ok(Box::new(self.connect_remote(context)?))
    }
}
