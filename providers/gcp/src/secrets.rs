//! The Secret Manager sink: a new key file becomes a new version of a secret in
//! the block's project (the secret is created, with automatic replication, if it
//! does not exist). The payload carries its CRC32C so Google can verify it.

use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_secretmanager_v1::model::{Replication, Secret, SecretPayload, replication};
use nhi_provider_sdk::ProviderError;

use crate::error::api_error;
use crate::target::Target;

/// Writes `data` as a new version of secret `secret_id`.
pub(crate) async fn deliver(
    target: &Target<'_>,
    secret_id: &str,
    data: &[u8],
) -> Result<(), ProviderError> {
    let parent = target.settings.project_resource();
    let name = format!("{parent}/secrets/{secret_id}");
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
        Ok(_) => {}
        Err(e) => match api_error("secrets.get", &object, &e) {
            ProviderError::NotFound(_) => {
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
                            .set_labels([("managed-by", "nhi")]),
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("secrets.create", &object, &e))?;
            }
            other => return Err(other),
        },
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
    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The check value of CRC-32C for "123456789" (RFC 3720, appendix B.4).
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c(b""), 0);
    }
}
