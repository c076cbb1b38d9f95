//! The governance gate at apply: the plan's findings judged again from the live
//! state apply re-read and the configuration, at the plan's clock. A finding the
//! plan lacks (removed, altered, or new in the estate since planning) refuses
//! the plan before anything changes; findings the estate no longer gives only
//! ever raised the plan's bar, and are kept.

use std::path::Path;

use nhi_provider_sdk::ObservedState;

use super::{ApplyError, ApplyOptions, Connected};
use crate::plan::PlanBody;

pub(super) fn check(
    body: &PlanBody,
    base: &Path,
    options: &ApplyOptions<'_>,
    providers: &Connected<'_>,
    states: &[(String, ObservedState)],
) -> Result<(), ApplyError> {
    let config = if options.check_config {
        let name = Path::new(&body.config.path).file_name().unwrap_or_default();
        let config = crate::config::load_with(&base.join(name), options.registry, &mut |_, _| {})
            .map_err(|source| ApplyError::ConfigInvalid {
            path: body.config.path.clone(),
            source: Box::new(source),
        })?;
        super::complete::check(body, &config, options.registry, providers, states)?;
        Some(config)
    } else {
        None
    };
    let blocks: Vec<_> = states
        .iter()
        .filter_map(|(prefix, state)| {
            providers
                .iter()
                .find(|(scope, _, _)| scope.provider == *prefix)
                .map(|(_, block, _)| (block, state))
        })
        .collect();
    let scopes = crate::plan::scope_inputs(options.registry, base, blocks.into_iter());
    let mut derived = crate::policy::judge_body(body, &scopes, config.as_ref(), true);
    if let Some(record) = &body.policy.rego {
        // The bundle on disk must be the one the plan was judged with; then its
        // findings are derived again like the built-in ones.
        let Some(config) = &config else {
            return Err(ApplyError::RegoUnchecked);
        };
        let bundle = crate::policy::rego::Bundle::load(base, &record.paths)?;
        let actual = bundle.record().digest;
        if actual != record.digest {
            return Err(ApplyError::RegoChanged {
                planned: record.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        crate::policy::merge(
            &mut derived,
            crate::policy::judge_rego(&bundle, body, config)?,
        );
    }
    let missing: Vec<String> = derived
        .iter()
        .filter(|d| {
            body.findings
                .binary_search_by(|f| f.key().cmp(&d.key()))
                .map_or(true, |i| body.findings[i] != **d)
        })
        .map(|d| {
            format!(
                "  `{}`: {} ({}): {}",
                d.address, d.rule, d.severity, d.message
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Unjudged { findings: missing })
    }
}
