//! The Secret Manager sink: a new key file becomes a new version of a secret in
//! the block's project. nhi writes only into secrets that are this identity's:
//! one it creates (with automatic replication, labelled with the identity), or
//! an existing one that carries the label `nhi-identity=<account id>`. Any other
//! secret, such as another team's `db-password`, is refused before a key is
//! minted. The payload carries its CRC32C so Google can verify it.

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_secretmanager_v1::model::{Replication, Secret, SecretPayload, replication};
use nhi_provider_sdk::ProviderError;

use crate::error::api_error;
use crate::target::Target;

/// The label naming the identity whose keys a secret holds. Label values may
/// hold lowercase letters, digits, `-` and `_`, so an account id fits as it is
/// (<https://cloud.google.com/secret-manager/docs/labels>).
const IDENTITY_LABEL: &str = "nhi-identity";

/// Whether secret `secret_id` exists: `Ok(false)` when it does not (nhi will
/// create it), `Ok(true)` when it is `identity`'s, and `Err` when it belongs to
/// someone else.
pub(crate) async fn check(
    target: &Target<'_>,
    secret_id: &str,
    identity: &str,
) -> Result<bool, ProviderError> {
    let name = format!("{}/secrets/{secret_id}", target.settings.project_resource());
    let object = format!("secret `{secret_id}`");
    target.reads.take().await;
    target.calls.add();
    let found = target
        .clients
        .secrets
        .get_secret()
        .set_name(&name)
        .send()
        .await;
    match found {
        Ok(secret) => owned(&secret, secret_id, identity).map(|()| true),
        Err(e) => match api_error("secrets.get", &object, &e) {
            ProviderError::NotFound(_) => Ok(false),
            other => Err(other),
        },
    }
}

/// `Ok` when `secret` carries the label naming `identity`.
fn owned(secret: &Secret, secret_id: &str, identity: &str) -> Result<(), ProviderError> {
    if secret.labels.get(IDENTITY_LABEL).map(String::as_str) == Some(identity) {
        return Ok(());
    }
    Err(ProviderError::Other(format!(
        "secret `{secret_id}` exists and is not kept for service account `{identity}`: nhi \
         writes key files only into secrets it created or that carry the label \
         `{IDENTITY_LABEL}={identity}`. Choose another `secret_id`, or, if this secret is \
         meant to hold this key, label it (`gcloud secrets update {secret_id} \
         --update-labels={IDENTITY_LABEL}={identity}`)"
    )))
}

/// Writes `data`, a key file of `identity`, as a new version of secret
/// `secret_id`, creating the secret if it does not exist.
pub(crate) async fn deliver(
    target: &Target<'_>,
    secret_id: &str,
    identity: &str,
    data: &[u8],
) -> Result<(), ProviderError> {
    let parent = target.settings.project_resource();
    let name = format!("{parent}/secrets/{secret_id}");
    let object = format!("secret `{secret_id}`");
    // Asked again: the secret may have appeared, or lost its label, since the
    // check before the key was minted.
    if !check(target, secret_id, identity).await? {
        target.writes.take().await;
        target.calls.add();
        target
            .clients
            .secrets
            .create_secret()
            .set_parent(&parent)
            .set_secret_id(secret_id)
            .set_secret(
                Secret::new()
                    .set_replication(
                        Replication::new().set_automatic(replication::Automatic::new()),
                    )
                    .set_labels([("managed-by", "nhi"), (IDENTITY_LABEL, identity)]),
            )
            .send()
            .await
            .map_err(|e| api_error("secrets.create", &object, &e))?;
    }
    target.writes.take().await;
    target.calls.add();
    target
        .clients
        .secrets
        .add_secret_version()
        .set_parent(&name)
        .set_payload(
            SecretPayload::new()
                .set_data(data.to_vec())
                .set_data_crc32c(i64::from(crc32c(data))),
        )
        // Never retried: a repeat would add a second version.
        .with_idempotency(false)
        .send()
        .await
        .map_err(|e| api_error("secrets.addVersion", &object, &e))?;
    Ok(())
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Secret Manager
/// checks payloads with.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use google_cloud_secretmanager_v1::model::Secret;

    #[test]
    fn only_secrets_labelled_with_the_identity_are_written() {
        let mine = Secret::new().set_labels([("nhi-identity", "ci-deployer")]);
        assert!(super::owned(&mine, "ci-key", "ci-deployer").is_ok());
        for other in [
            Secret::new(),
            Secret::new().set_labels([("managed-by", "nhi")]),
            Secret::new().set_labels([("nhi-identity", "app-runtime")]),
        ] {
            let err = super::owned(&other, "db-password", "ci-deployer").unwrap_err();
            assert!(
                err.to_string()
                    .contains("is not kept for service account `ci-deployer`"),
                "{err}"
            );
        }
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The check value of CRC-32C for "123456789" (RFC 3720, appendix B.4).
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c(b""), 0);
    }
}
