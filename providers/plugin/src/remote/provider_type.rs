//! A started plugin as a provider type: validation, normalisation, advice and
//! the other questions about configuration, each one protocol call (or an
//! answer remembered, or the SDK default for a call the plugin did not announce).

use super::{
    AdviceParams, AdviceResult, AttributesMessage, Call, CheckResult, CheckSinkParams,
    DeclaredPart, Operation, OverlapParams, OverlapResult, Path, PluginRecord, PluginSettings,
    PluginType, PolicyMessage, Provider, ProviderContext, ProviderError, ProviderType,
    RetireResult, SettingsParams, SinkKind, ValidateRequest, ValidateResponse, ValidateResult,
    leak, plugin_own,
};

/// `validate` params for a plugin that lists the fields it reads.
#[derive(serde::Serialize)]
struct SparseRequest<'a> {
    identities: &'a [Sparse<'a>],
}

/// A declared identity without the fields its plugin does not read, nor empty
/// ones (the protocol's `Declared`, whose left-out fields read as empty).
#[derive(serde::Serialize)]
struct Sparse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a nhi_provider_sdk::Tags>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a std::collections::BTreeMap<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_names: Option<&'a [&'a str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bindings: Option<&'a [nhi_provider_sdk::Binding]>,
}

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
        // The request serialises as `ValidateParams`, borrowed. To a plugin
        // that lists the fields it reads, without the others or empty ones.
        let sparse: Option<Vec<Sparse<'_>>> = self.capabilities.validates.as_ref().map(|fields| {
            let reads = |field: &str| fields.iter().any(|f| f == field);
            let (kind, name, owner) = (reads("kind"), reads("name"), reads("owner"));
            let (description, tags) = (reads("description"), reads("tags"));
            let (attributes, key_names, bindings) =
                (reads("attributes"), reads("key_names"), reads("bindings"));
            request
                .identities
                .iter()
                .map(|d| Sparse {
                    kind: d.kind.filter(|_| kind),
                    name: d.name.filter(|_| name),
                    owner: d.owner.filter(|_| owner),
                    description: Some(d.description).filter(|s| description && !s.is_empty()),
                    tags: Some(d.tags).filter(|t| tags && !t.is_empty()),
                    attributes: d.attributes.filter(|a| attributes && !a.is_empty()),
                    key_names: Some(d.key_names).filter(|k| key_names && !k.is_empty()),
                    bindings: Some(d.bindings).filter(|b| bindings && !b.is_empty()),
                })
                .collect()
        });
        let object = request
            .identities
            .first()
            .and_then(|d| d.name)
            .unwrap_or("identities");
        let answer = match &sparse {
            Some(identities) => {
                self.ask::<_, ValidateResult>("validate", object, &SparseRequest { identities })
            }
            None => self.ask::<_, ValidateResult>("validate", object, request),
        };
        match answer {
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
