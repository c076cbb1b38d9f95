//! `schemas/plugin/`: the JSON Schema of every `nhi-provider/1` message,
//! generated from the SDK's wire types and checked by a test.

use nhi_provider_sdk::plugin::wire;
use schemars::schema_for;

/// Every message schema, by file name.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    fn v(s: schemars::Schema) -> serde_json::Value {
        serde_json::to_value(s).expect("invariant: schemas serialise")
    }
    vec![
        (
            "request.schema.json",
            v(schema_for!(wire::Request<serde_json::Value>)),
        ),
        (
            "response.schema.json",
            v(schema_for!(wire::Response<serde_json::Value>)),
        ),
        (
            "initialize.params.schema.json",
            v(schema_for!(wire::InitializeParams)),
        ),
        (
            "initialize.result.schema.json",
            v(schema_for!(wire::InitializeResult)),
        ),
        (
            "settings.params.schema.json",
            v(schema_for!(wire::SettingsParams)),
        ),
        (
            "check.result.schema.json",
            v(schema_for!(wire::CheckResult)),
        ),
        (
            "validate.params.schema.json",
            v(schema_for!(wire::ValidateParams)),
        ),
        (
            "validate.result.schema.json",
            v(schema_for!(wire::ValidateResult)),
        ),
        (
            "normalize_policy.schema.json",
            v(schema_for!(wire::PolicyMessage)),
        ),
        (
            "normalize_attributes.schema.json",
            v(schema_for!(wire::AttributesMessage)),
        ),
        (
            "operation.params.schema.json",
            v(schema_for!(wire::OperationParams)),
        ),
        (
            "advice.params.schema.json",
            v(schema_for!(wire::AdviceParams)),
        ),
        (
            "advice.result.schema.json",
            v(schema_for!(wire::AdviceResult)),
        ),
        (
            "retire_first.result.schema.json",
            v(schema_for!(wire::RetireResult)),
        ),
        (
            "check_sink.params.schema.json",
            v(schema_for!(wire::CheckSinkParams)),
        ),
        (
            "scopes_overlap.params.schema.json",
            v(schema_for!(wire::OverlapParams)),
        ),
        (
            "scopes_overlap.result.schema.json",
            v(schema_for!(wire::OverlapResult)),
        ),
        (
            "connect.params.schema.json",
            v(schema_for!(wire::ConnectParams)),
        ),
        (
            "connect.result.schema.json",
            v(schema_for!(wire::ConnectResult)),
        ),
        (
            "provider.params.schema.json",
            v(schema_for!(wire::ProviderParams)),
        ),
        (
            "describe.result.schema.json",
            v(schema_for!(wire::DescribeResult)),
        ),
        ("read.params.schema.json", v(schema_for!(wire::ReadParams))),
        ("read.result.schema.json", v(schema_for!(wire::ReadResult))),
        ("lock.params.schema.json", v(schema_for!(wire::LockParams))),
        ("lock.result.schema.json", v(schema_for!(wire::LockHandle))),
        (
            "apply.params.schema.json",
            v(schema_for!(wire::ApplyParams)),
        ),
        (
            "apply.result.schema.json",
            v(schema_for!(wire::ApplyResult)),
        ),
        (
            "record_key.params.schema.json",
            v(schema_for!(wire::RecordKeyParams)),
        ),
        (
            "preflight.params.schema.json",
            v(schema_for!(wire::PreflightParams)),
        ),
        (
            "preflight.result.schema.json",
            v(schema_for!(wire::PreflightResult)),
        ),
        ("empty.schema.json", v(schema_for!(wire::Empty))),
    ]
}

#[cfg(test)]
mod tests {
    /// `schemas/plugin/*.schema.json` are generated from the SDK's wire types;
    /// `NHI_UPDATE_SCHEMAS=1` rewrites them. Every file there is one of them.
    #[test]
    fn plugin_message_schemas_are_up_to_date() {
        let all = super::all();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plugin");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, schema) in &all {
            crate::check_schema_file(&format!("plugin/{name}"), schema);
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                all.iter().any(|(n, _)| *n == name),
                "schemas/plugin/{name} is no message of nhi-provider/1"
            );
        }
    }

    /// The protocol document names every schema file.
    #[test]
    fn the_protocol_document_names_the_schema_directory() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/plugin-protocol.md"),
        )
        .unwrap();
        assert!(doc.contains("schemas/plugin/"));
        assert!(doc.contains(nhi_provider_sdk::plugin::PROTOCOL));
    }
}
