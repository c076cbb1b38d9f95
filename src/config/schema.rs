//! The JSON Schema of the configuration file, generated from the raw serde types so
//! editors can complete and check `nhi.yaml`.

use super::raw::RawConfig;

/// The JSON Schema (draft 2020-12) of the configuration file, with the sinks the
/// built-in provider types deliver spelt out for editors.
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawConfig))
        .expect("invariant: a schema is JSON");
    // A provider's sink also matches the generic `{<kind>: <settings>}`: any of
    // the choices, not exactly one.
    if let Some(sink) = schema
        .pointer_mut("/$defs/Sink")
        .and_then(|s| s.as_object_mut())
        && let Some(choices) = sink.remove("oneOf")
    {
        sink.insert("anyOf".to_owned(), choices);
    }
    if let Some(serde_json::Value::Array(choices)) = schema.pointer_mut("/$defs/Sink/anyOf") {
        for provider_type in crate::registry::Registry::builtin().types() {
            for kind in provider_type.sink_kinds() {
                choices.push(serde_json::json!({
                    "description": format!(
                        "{} (delivered by the `{}` provider).",
                        kind.description,
                        provider_type.type_name()
                    ),
                    "type": "object",
                    "properties": { kind.name: (kind.settings_schema)() },
                    "required": [kind.name],
                    "additionalProperties": false
                }));
            }
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_is_up_to_date() {
        crate::check_schema_file("nhi.schema.json", &super::json_schema());
    }
}
