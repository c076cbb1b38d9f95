//! The JSON Schema of the configuration file, generated from the raw serde types so
//! editors can complete and check `nhi.yaml`.

use super::raw::RawConfig;

/// The JSON Schema (draft 2020-12) of the configuration file.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawConfig)).expect("invariant: a schema is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/nhi.schema.json");
        let mut generated = serde_json::to_string_pretty(&json_schema()).unwrap();
        generated.push('\n');
        if std::env::var_os("NHI_UPDATE_SCHEMAS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{} is out of date; run `NHI_UPDATE_SCHEMAS=1 cargo test -p nhi --lib schema_is_up_to_date`",
            path.display()
        );
    }
}
