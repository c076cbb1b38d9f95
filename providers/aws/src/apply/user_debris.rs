//! What IAM refuses to delete a user with and nhi does not model as changes: a
//! console password, MFA devices, SSH public keys, signing certificates,
//! service-specific credentials. Group memberships are bindings, deleted by the
//! plan first, and removed here again in case one was added since.
//!
//! IAM's `DeleteUser` API reference lists these as what "you must delete …
//! before you delete the user", and answers `DeleteConflict` (HTTP 409) while
//! any remain (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteUser.html>;
//! the order of removal follows the User Guide's "Deleting an IAM user (AWS
//! API)", <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html>).
//! Access keys, inline and attached policies are changes of their own in the plan.

use nhi_provider_sdk::ProviderError;
use nhi_provider_sdk::settle::gone_is_ok;

use aws_sdk_iam::Client;
use aws_sdk_iam::operation::{
    list_groups_for_user, list_mfa_devices, list_service_specific_credentials,
    list_signing_certificates, list_ssh_public_keys,
};

use super::Target;
use crate::error::api_error;
use crate::paginate::{all_pages, next_marker};

/// Removes everything of `user` that keeps IAM from deleting it, in the order
/// IAM documents. Nothing here stops at the first failure: the failures come
/// back, and `DeleteUser` (which refuses while anything remains) decides.
pub(super) async fn remove(target: &Target<'_>, user: &str) -> Vec<ProviderError> {
    let mut failures = Vec::new();
    let iam = target.iam;
    let object = format!("user `{user}`");
    let object = object.as_str();
    note(
        &mut failures,
        iam.delete_login_profile()
            .user_name(user)
            .send()
            .await
            .map(drop)
            .map_err(|err| api_error("iam:DeleteLoginProfile", object, &err)),
    );
    mfa_devices(iam, user, object, &mut failures).await;
    ssh_public_keys(iam, user, object, &mut failures).await;
    signing_certificates(iam, user, object, &mut failures).await;
    service_specific_credentials(iam, user, object, &mut failures).await;
    groups(iam, user, object, &mut failures).await;
    failures
}

/// Keeps the failure of one removal; what is gone already is no failure.
fn note(failures: &mut Vec<ProviderError>, result: Result<(), ProviderError>) {
    if let Err(err) = gone_is_ok(result) {
        failures.push(err);
    }
}

/// Deactivates the user's MFA devices, and deletes the virtual ones.
async fn mfa_devices(iam: &Client, user: &str, object: &str, failures: &mut Vec<ProviderError>) {
    const MFA: &str = "iam:ListMFADevices";
    match all_pages(MFA, |marker| async move {
        let page = iam
            .list_mfa_devices()
            .user_name(user)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(MFA, object, &err))?;
        let next = next_marker(MFA, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await
    {
        Ok(pages) => {
            for device in pages
                .iter()
                .flat_map(list_mfa_devices::ListMfaDevicesOutput::mfa_devices)
            {
                let serial = device.serial_number();
                let what = format!("MFA device `{serial}` of {object}");
                note(
                    failures,
                    iam.deactivate_mfa_device()
                        .user_name(user)
                        .serial_number(serial)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:DeactivateMFADevice", &what, &err)),
                );
                // A virtual device (its serial is an ARN) is an IAM object of its
                // own, useless once its user is gone; hardware devices are not.
                if serial.starts_with("arn:") {
                    note(
                        failures,
                        iam.delete_virtual_mfa_device()
                            .serial_number(serial)
                            .send()
                            .await
                            .map(drop)
                            .map_err(|err| api_error("iam:DeleteVirtualMFADevice", &what, &err)),
                    );
                }
            }
        }
        Err(err) => note(failures, Err(err)),
    }
}

/// Deletes the user's SSH public keys (for AWS `CodeCommit`).
async fn ssh_public_keys(
    iam: &Client,
    user: &str,
    object: &str,
    failures: &mut Vec<ProviderError>,
) {
    const SSH: &str = "iam:ListSSHPublicKeys";
    match all_pages(SSH, |marker| async move {
        let page = iam
            .list_ssh_public_keys()
            .user_name(user)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(SSH, object, &err))?;
        let next = next_marker(SSH, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await
    {
        Ok(pages) => {
            for key in pages
                .iter()
                .flat_map(list_ssh_public_keys::ListSshPublicKeysOutput::ssh_public_keys)
            {
                let id = key.ssh_public_key_id();
                let what = format!("SSH public key `{id}` of {object}");
                note(
                    failures,
                    iam.delete_ssh_public_key()
                        .user_name(user)
                        .ssh_public_key_id(id)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:DeleteSSHPublicKey", &what, &err)),
                );
            }
        }
        Err(err) => note(failures, Err(err)),
    }
}

/// Deletes the user's X.509 signing certificates.
async fn signing_certificates(
    iam: &Client,
    user: &str,
    object: &str,
    failures: &mut Vec<ProviderError>,
) {
    const CERTS: &str = "iam:ListSigningCertificates";
    match all_pages(CERTS, |marker| async move {
        let page = iam
            .list_signing_certificates()
            .user_name(user)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(CERTS, object, &err))?;
        let next = next_marker(CERTS, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await
    {
        Ok(pages) => {
            for certificate in pages
                .iter()
                .flat_map(list_signing_certificates::ListSigningCertificatesOutput::certificates)
            {
                let id = certificate.certificate_id();
                let what = format!("signing certificate `{id}` of {object}");
                note(
                    failures,
                    iam.delete_signing_certificate()
                        .user_name(user)
                        .certificate_id(id)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:DeleteSigningCertificate", &what, &err)),
                );
            }
        }
        Err(err) => note(failures, Err(err)),
    }
}

/// Deletes the user's service-specific credentials (AWS `CodeCommit`, Keyspaces, Bedrock).
async fn service_specific_credentials(
    iam: &Client,
    user: &str,
    object: &str,
    failures: &mut Vec<ProviderError>,
) {
    const SERVICE: &str = "iam:ListServiceSpecificCredentials";
    match all_pages(SERVICE, |marker| async move {
        let page = iam
            .list_service_specific_credentials()
            .user_name(user)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(SERVICE, object, &err))?;
        let next = next_marker(SERVICE, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await
    {
        Ok(pages) => {
            for credential in pages.iter().flat_map(list_service_specific_credentials::ListServiceSpecificCredentialsOutput::service_specific_credentials) {
                let id = credential.service_specific_credential_id();
                let what = format!("service-specific credential `{id}` of {object}");
                note(
        failures,
                    iam.delete_service_specific_credential()
                        .user_name(user)
                        .service_specific_credential_id(id)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| {
                            api_error("iam:DeleteServiceSpecificCredential", &what, &err)
                        }),
                );
            }
        }
        Err(err) => note(failures, Err(err)),
    }
}

/// Removes the user from its groups.
async fn groups(iam: &Client, user: &str, object: &str, failures: &mut Vec<ProviderError>) {
    const GROUPS: &str = "iam:ListGroupsForUser";
    match all_pages(GROUPS, |marker| async move {
        let page = iam
            .list_groups_for_user()
            .user_name(user)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| api_error(GROUPS, object, &err))?;
        let next = next_marker(GROUPS, page.is_truncated(), page.marker())?;
        Ok((page, next))
    })
    .await
    {
        Ok(pages) => {
            for group in pages
                .iter()
                .flat_map(list_groups_for_user::ListGroupsForUserOutput::groups)
            {
                let name = group.group_name();
                let what = format!("membership of {object} in group `{name}`");
                note(
                    failures,
                    iam.remove_user_from_group()
                        .user_name(user)
                        .group_name(name)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|err| api_error("iam:RemoveUserFromGroup", &what, &err)),
                );
            }
        }
        Err(err) => note(failures, Err(err)),
    }
}
