//! The document org policies read as `input`: the plan body as it is signed,
//! and the desired state the configuration declares (README "Org policies in
//! Rego"). No secret material exists in either; of a sink only its kind is given.

use nhi_provider_sdk::{Address, Sink};
use serde_json::{Value, json};

use crate::config::Config;
use crate::plan::PlanBody;

/// `{"plan": <PlanBody>, "desired": {"providers": [...], "identities": [...]}}`.
pub fn input(body: &PlanBody, config: &Config) -> Value {
    json!({
        "plan": serde_json::to_value(body).expect("invariant: a plan body serialises"),
        "desired": desired(config),
    })
}

/// The `desired` half of [`input`].
pub fn desired(config: &Config) -> Value {
    let providers: Vec<Value> = config
        .providers
        .iter()
        .map(|b| {
            json!({
                "address": Address::provider(&b.type_name, &b.name).to_string(),
                "type": b.type_name,
                "name": b.name,
                "prune": b.prune,
            })
        })
        .collect();
    let identities: Vec<Value> = config
        .identities
        .iter()
        .map(|d| {
            let address = config
                .providers
                .iter()
                .find(|b| b.name == d.provider)
                .map(|b| {
                    Address::provider(&b.type_name, &b.name)
                        .identity(&d.identity.name)
                        .to_string()
                });
            let keys: Vec<Value> = d
                .keys
                .iter()
                .map(|k| {
                    json!({
                        "name": k.name,
                        "rotate_after": k.rotate_after,
                        "expires": k.expires,
                        "sink": sink_kind(&k.sink),
                    })
                })
                .collect();
            let bindings: Vec<Value> = d
                .bindings
                .iter()
                .map(|b| {
                    json!({
                        "role": b.role,
                        "resource": b.resource,
                        "policy": b.policy,
                    })
                })
                .collect();
            let i = &d.identity;
            json!({
                "address": address,
                "provider": d.provider,
                "name": i.name,
                "kind": i.kind,
                "owner": i.owner,
                "description": i.description,
                "tags": i.tags,
                "attributes": i.attributes,
                "expires": d.expires,
                "keys": keys,
                "bindings": bindings,
            })
        })
        .collect();
    json!({ "providers": providers, "identities": identities })
}

fn sink_kind(sink: &Sink) -> &str {
    match sink {
        Sink::File(_) => "file",
        Sink::Stdout => "stdout",
        Sink::Provider { kind, .. } => kind,
    }
}
