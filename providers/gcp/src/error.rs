//! Client errors as provider errors.

use google_cloud_gax::error::Error;
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use nhi_provider_sdk::ProviderError;

/// Maps a failed call of `method` (e.g. `serviceAccounts.create`) on `object`
/// (e.g. ``service account `ci-bot` ``). Messages come from Google and never
/// carry request bodies, so no key material reaches them.
pub(crate) fn api_error(method: &str, object: &str, err: &Error) -> ProviderError {
    let Some(status) = err.status() else {
        return ProviderError::Other(format!("`{method}` on {object} failed: {err}"));
    };
    match status.code {
        Code::NotFound => ProviderError::NotFound(object.to_owned()),
        Code::AlreadyExists => ProviderError::AlreadyExists(object.to_owned()),
        Code::PermissionDenied | Code::Unauthenticated => ProviderError::AccessDenied(format!(
            "`{method}` on {object} was refused: {}",
            status.message
        )),
        code => ProviderError::Other(format!(
            "`{method}` on {object} failed: {code:?}: {}",
            status.message
        )),
    }
}

/// Whether a write lost a compare-and-swap race (HTTP 409, `ABORTED`): the policy
/// changed since it was read.
pub(crate) fn is_conflict(err: &Error) -> bool {
    match err.status() {
        Some(status) => status.code == Code::Aborted,
        None => err.http_status_code() == Some(409),
    }
}

/// Whether `setIamPolicy` refused a `serviceAccount:` member that does not exist,
/// which for an account created a moment ago means Google does not see it yet.
pub(crate) fn is_unseen_member(err: &Error) -> bool {
    err.status().is_some_and(|s| {
        s.code == Code::InvalidArgument
            && s.message.starts_with("Service account ")
            && s.message.ends_with(" does not exist.")
    })
}

/// The organization policy constraint a refused call names, when Google refused
/// it for one (`FAILED_PRECONDITION` with a `google.rpc.PreconditionFailure`
/// violation of type `constraints/<name>`, as `keys.create` answers under
/// `iam.disableServiceAccountKeyCreation`).
pub(crate) fn violated_constraint(err: &Error) -> Option<String> {
    let status = err.status()?;
    if status.code != Code::FailedPrecondition {
        return None;
    }
    status.details.iter().find_map(|detail| match detail {
        StatusDetails::PreconditionFailure(failure) => failure
            .violations
            .iter()
            .find_map(|v| v.r#type.strip_prefix("constraints/"))
            .filter(|name| {
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
            })
            .map(str::to_owned),
        _ => None,
    })
}
