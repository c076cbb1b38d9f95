//! Operations on the in-memory estate, with the idempotent semantics of a cloud
//! API: re-running a change that already happened succeeds without effect. Pure:
//! no I/O, and a failed operation leaves the estate untouched.

use nhi_provider_sdk::{
    Binding, Identity, KeyStatus, ObservedIdentity, ObservedKey, Operation, ProviderError,
    SecretMaterial,
};

use crate::keygen::NewKey;

/// The most keys one identity may hold, as AWS allows for access keys.
pub(crate) const MAX_KEYS: usize = 2;

/// What an operation did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Whether the estate changed and must be written.
    pub changed: bool,
    pub secret: Option<SecretMaterial>,
}

impl Outcome {
    fn changed() -> Self {
        Self {
            changed: true,
            secret: None,
        }
    }

    fn unchanged() -> Self {
        Self::default()
    }
}

/// Carries out `operation` on `identities` (sorted by name, names unique).
pub(crate) fn execute(
    identities: &mut Vec<ObservedIdentity>,
    operation: Operation,
    new_key: &mut dyn FnMut() -> Result<NewKey, ProviderError>,
) -> Result<Outcome, ProviderError> {
    match operation {
        Operation::CreateIdentity { identity } => match find(identities, &identity.name) {
            Ok(i) if identities[i].identity == identity => Ok(Outcome::unchanged()),
            Ok(_) => Err(ProviderError::AlreadyExists(format!(
                "identity `{}`",
                identity.name
            ))),
            Err(at) => {
                identities.insert(
                    at,
                    ObservedIdentity {
                        identity,
                        keys: Vec::new(),
                        bindings: Vec::new(),
                    },
                );
                Ok(Outcome::changed())
            }
        },
        Operation::UpdateIdentity { before, after } => {
            check_same_name(&before, &after)?;
            let i = find(identities, &after.name).map_err(|_| not_found(&after.name))?;
            if identities[i].identity == after {
                return Ok(Outcome::unchanged());
            }
            identities[i].identity = after;
            Ok(Outcome::changed())
        }
        Operation::ReplaceIdentity { before, after } => {
            check_same_name(&before, &after)?;
            match find(identities, &after.name) {
                Ok(i) if identities[i].identity == after => Ok(Outcome::unchanged()),
                Ok(i) => {
                    check_empty(&identities[i])?;
                    identities[i].identity = after;
                    Ok(Outcome::changed())
                }
                Err(at) => {
                    identities.insert(
                        at,
                        ObservedIdentity {
                            identity: after,
                            keys: Vec::new(),
                            bindings: Vec::new(),
                        },
                    );
                    Ok(Outcome::changed())
                }
            }
        }
        Operation::DeleteIdentity { identity } => match find(identities, &identity.name) {
            Err(_) => Ok(Outcome::unchanged()),
            Ok(i) => {
                check_empty(&identities[i])?;
                identities.remove(i);
                Ok(Outcome::changed())
            }
        },
        Operation::CreateKey { identity, .. } => {
            let target = get(identities, &identity)?;
            create_key(target, new_key)
        }
        Operation::RotateKey { .. } => Err(ProviderError::Other(
            "a rotation is applied as a new key, then the deletion of the old one".to_owned(),
        )),
        Operation::DeleteKey { identity, key } => {
            let target = get(identities, &identity)?;
            let before = target.keys.len();
            target.keys.retain(|k| k.id != key.id);
            Ok(Outcome {
                changed: target.keys.len() != before,
                secret: None,
            })
        }
        Operation::CreateBinding { identity, binding } => {
            let target = get(identities, &identity)?;
            match target.bindings.iter().find(|b| b.same_object(&binding)) {
                Some(existing) if *existing == binding => Ok(Outcome::unchanged()),
                Some(_) => Err(ProviderError::AlreadyExists(describe_binding(
                    &identity, &binding,
                ))),
                None => {
                    target.bindings.push(binding);
                    Ok(Outcome::changed())
                }
            }
        }
        Operation::UpdateBinding {
            identity,
            before,
            after,
        } => {
            let target = get(identities, &identity)?;
            let at = target
                .bindings
                .iter()
                .position(|b| b.same_object(&before))
                .ok_or_else(|| ProviderError::NotFound(describe_binding(&identity, &before)))?;
            if target.bindings[at] == after {
                return Ok(Outcome::unchanged());
            }
            if !after.same_object(&before) && target.bindings.iter().any(|b| b.same_object(&after))
            {
                return Err(ProviderError::AlreadyExists(describe_binding(
                    &identity, &after,
                )));
            }
            target.bindings[at] = after;
            Ok(Outcome::changed())
        }
        Operation::DeleteBinding { identity, binding } => {
            let target = get(identities, &identity)?;
            let before = target.bindings.len();
            target.bindings.retain(|b| !b.same_object(&binding));
            Ok(Outcome {
                changed: target.bindings.len() != before,
                secret: None,
            })
        }
        Operation::DeactivateKey { identity, key } => {
            let target = get(identities, &identity)?;
            let Some(live) = target.keys.iter_mut().find(|k| k.id == key.id) else {
                return Err(ProviderError::NotFound(format!(
                    "key `{}` of identity `{identity}`",
                    key.id
                )));
            };
            let changed = live.status != KeyStatus::Inactive;
            live.status = KeyStatus::Inactive;
            Ok(Outcome {
                changed,
                secret: None,
            })
        }
        Operation::RevokeSessions { identity, .. } => Err(ProviderError::Unsupported(format!(
            "identity `{identity}` has no sessions: local keys mint none"
        ))),
    }
}

fn find(identities: &[ObservedIdentity], name: &str) -> Result<usize, usize> {
    identities.binary_search_by(|i| i.identity.name.as_str().cmp(name))
}

fn get<'a>(
    identities: &'a mut [ObservedIdentity],
    name: &str,
) -> Result<&'a mut ObservedIdentity, ProviderError> {
    match find(identities, name) {
        Ok(i) => Ok(&mut identities[i]),
        Err(_) => Err(not_found(name)),
    }
}

fn not_found(name: &str) -> ProviderError {
    ProviderError::NotFound(format!("identity `{name}`"))
}

fn describe_binding(identity: &str, binding: &Binding) -> String {
    format!(
        "binding `{}` on `{}` of identity `{identity}`",
        binding.role, binding.resource
    )
}

fn check_same_name(before: &Identity, after: &Identity) -> Result<(), ProviderError> {
    if before.name == after.name {
        Ok(())
    } else {
        Err(ProviderError::Other(format!(
            "the local provider cannot rename identity `{}` to `{}`",
            before.name, after.name
        )))
    }
}

/// Deleting an identity that still holds keys or bindings fails, as AWS's
/// `DeleteConflict` does: the plan deletes them first.
fn check_empty(observed: &ObservedIdentity) -> Result<(), ProviderError> {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let held = match (observed.keys.len(), observed.bindings.len()) {
        (0, 0) => return Ok(()),
        (keys, 0) => plural(keys, "key"),
        (0, bindings) => plural(bindings, "binding"),
        (keys, bindings) => format!(
            "{} and {}",
            plural(keys, "key"),
            plural(bindings, "binding")
        ),
    };
    Err(ProviderError::Other(format!(
        "identity `{}` still has {held}",
        observed.identity.name
    )))
}

/// Names key `key_id` of `identity` `key`, once its secret was delivered.
pub(crate) fn record_key(
    identities: &mut [ObservedIdentity],
    identity: &str,
    key: &str,
    key_id: &str,
) -> Result<Outcome, ProviderError> {
    let target = get(identities, identity)?;
    let Some(live) = target.keys.iter_mut().find(|k| k.id == key_id) else {
        return Err(ProviderError::NotFound(format!(
            "key `{key_id}` of identity `{identity}`"
        )));
    };
    if live.name.as_deref() == Some(key) {
        return Ok(Outcome::unchanged());
    }
    live.name = Some(key.to_owned());
    Ok(Outcome::changed())
}

/// Creates a key without a name: it is named by [`record_key`] once its secret
/// is delivered, so a key whose secret never arrived reads as unmanaged.
fn create_key(
    target: &mut ObservedIdentity,
    new_key: &mut dyn FnMut() -> Result<NewKey, ProviderError>,
) -> Result<Outcome, ProviderError> {
    if target.keys.len() >= MAX_KEYS {
        return Err(ProviderError::Other(format!(
            "identity `{}` already has {MAX_KEYS} keys, the most the local provider allows",
            target.identity.name
        )));
    }
    let NewKey {
        id,
        secret,
        created,
    } = new_key()?;
    target.keys.push(ObservedKey {
        id: id.clone(),
        name: None,
        created,
        status: KeyStatus::Active,
        last_used: None,
        expires: None,
        leaked: None,
    });
    Ok(Outcome {
        changed: true,
        secret: Some(SecretMaterial {
            key_id: id,
            secret,
            form: nhi_provider_sdk::SecretForm::Opaque,
        }),
    })
}

#[cfg(test)]
mod tests;
