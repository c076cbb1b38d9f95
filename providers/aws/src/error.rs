//! SDK errors as provider errors.

use std::fmt::Debug;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use nhi_provider_sdk::ProviderError;

/// Maps a failed call of `action` (e.g. `iam:CreateUser`) on `object` (e.g.
/// ``user `ci` ``). Messages come from AWS and never carry request bodies, so no
/// secret material reaches them.
pub(crate) fn api_error<E, R>(action: &str, object: &str, err: &SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let message = err.message().unwrap_or("no message").to_owned();
    match err.code() {
        Some("NoSuchEntity" | "ResourceNotFoundException") => {
            ProviderError::NotFound(object.to_owned())
        }
        Some("EntityAlreadyExists" | "ResourceExistsException") => {
            ProviderError::AlreadyExists(object.to_owned())
        }
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => {
            ProviderError::AccessDenied(format!("`{action}` on {object} was refused: {message}"))
        }
        Some(code) => {
            ProviderError::Other(format!("`{action}` on {object} failed: {code}: {message}"))
        }
        None => ProviderError::Other(format!(
            "`{action}` on {object} failed: {}",
            DisplayErrorContext(err)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::create_user::CreateUserError;

    type Err = SdkError<CreateUserError, ()>;

    fn generic(code: &str, message: &str) -> Err {
        SdkError::service_error(
            CreateUserError::generic(ErrorMetadata::builder().code(code).message(message).build()),
            (),
        )
    }

    #[test]
    fn maps_codes() {
        // As parsed from a response: the code is in the error's metadata.
        let not_found = generic("NoSuchEntity", "gone");
        let exists = generic("EntityAlreadyExists", "dup");
        let denied = generic(
            "AccessDenied",
            "User: arn:aws:iam::1:user/bob is not authorized to perform: iam:CreateUser",
        );
        let cases = [
            (not_found, "user `ci` does not exist"),
            (exists, "user `ci` already exists"),
            (
                denied,
                "access denied: `iam:CreateUser` on user `ci` was refused: User: arn:aws:iam::1:user/bob is not authorized to perform: iam:CreateUser",
            ),
            (
                generic("LimitExceeded", "too many"),
                "`iam:CreateUser` on user `ci` failed: LimitExceeded: too many",
            ),
            (
                SdkError::timeout_error("slow"),
                "`iam:CreateUser` on user `ci` failed: ",
            ),
        ];
        for (err, want) in cases {
            let got = api_error("iam:CreateUser", "user `ci`", &err).to_string();
            assert!(got.starts_with(want), "{got}");
        }
    }
}
