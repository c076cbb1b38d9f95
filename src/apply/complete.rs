//! A plan that does not say it is partial must be whole: where every scope
//! still reads exactly as it did at planning, apply derives the changes again
//! from the configuration at the plan's clock and refuses a plan that lacks
//! one. This catches a partial plan whose record of its targets was edited
//! out and re-signed, which no offline check can tell from a full plan.

use std::collections::{BTreeSet, HashSet};

use nhi_provider_sdk::{Address, ObservedState};

use super::{ApplyError, Connected};
use crate::config::Config;
use crate::plan::PlanBody;
use crate::registry::Registry;

pub(super) fn check(
    body: &PlanBody,
    config: &Config,
    registry: &Registry,
    providers: &Connected<'_>,
    states: &[(String, ObservedState)],
) -> Result<(), ApplyError> {
    if body.is_partial() {
        return Ok(());
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for record in &body.scopes {
        let state = states.iter().find(|(p, _)| *p == record.provider);
        let block = providers
            .iter()
            .find(|(scope, _, _)| scope.provider == record.provider);
        let (Some((_, state)), Some((_, block, _))) = (state, block) else {
            return Ok(());
        };
        // Live state changed since planning: the stale check judged what the
        // plan touches, and the rest cannot be compared.
        if state.digest() != record.observed_digest {
            return Ok(());
        }
        let provider_type = registry
            .for_block(block, std::path::Path::new(&body.config.dir))
            .ok();
        scopes.push(crate::diff::Scope {
            block,
            observed: state,
            key_slots: provider_type.and_then(nhi_provider_sdk::ProviderType::key_slots),
            retire: provider_type.and_then(|t| t.retire_first(&block.settings)),
        });
    }
    if config.providers.len() != scopes.len() {
        return Ok(());
    }
    let replace: BTreeSet<Address> = body
        .selection
        .iter()
        .flat_map(|s| s.replace.iter().cloned())
        .collect();
    let derived = crate::diff::diff_replacing(config, &scopes, body.created_at, &replace);
    let planned: HashSet<(&Address, crate::diff::Action)> = body
        .changes
        .iter()
        .map(|c| (&c.address, c.action))
        .collect();
    let missing: Vec<&Address> = derived
        .changes
        .iter()
        .filter(|c| !planned.contains(&(&c.address, c.action)))
        .map(|c| &c.address)
        .collect();
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(ApplyError::Incomplete {
            count: missing.len(),
            first: first.as_str().escape_debug().to_string(),
        }),
    }
}
