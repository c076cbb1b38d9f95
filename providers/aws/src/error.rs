//! SDK errors as provider errors: the call (service and operation), the error
//! code and message AWS sent, or the causes of a call that never reached AWS, and
//! for a credential failure what to configure. Never the SDK's `Debug` output.

use std::error::Error;
use std::fmt::Debug;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use nhi_provider_sdk::ProviderError;

/// What to configure when AWS has no usable credentials for nhi.
const CREDENTIALS_HELP: &str = "configure AWS credentials: set `AWS_PROFILE` (or the block's \
    `profile`) to a profile in `~/.aws/config`, or `AWS_ACCESS_KEY_ID` and \
    `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN` for temporary keys); for moto, \
    `AWS_ENDPOINT_URL` (or the block's `endpoint_url`) and any test keys";

/// Error codes with which AWS refuses the credentials themselves.
const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "IncompleteSignature",
];

/// Maps a failed call of `action` (e.g. `iam:CreateUser`) on `object` (e.g.
/// ``user `ci` ``). Messages come from AWS and never carry request bodies, so no
/// secret material reaches them.
pub(crate) fn api_error<E, R>(action: &str, object: &str, err: &SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug + 'static,
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
        Some(code) if CREDENTIAL_CODES.contains(&code) => ProviderError::Other(format!(
            "`{action}` on {object} failed: AWS refused the credentials: {code}: {message}; {CREDENTIALS_HELP}"
        )),
        Some(code) => {
            ProviderError::Other(format!("`{action}` on {object} failed: {code}: {message}"))
        }
        None if causes_of(err).any(<dyn Error>::is::<CredentialsError>) => {
            ProviderError::Other(format!(
                "`{action}` on {object} failed: no usable AWS credentials: {}; {CREDENTIALS_HELP}",
                chain(err)
            ))
        }
        None => ProviderError::Other(format!("`{action}` on {object} failed: {}", chain(err))),
    }
}

/// `err` and its causes, outermost first.
fn causes_of<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The messages of `err` and its causes, joined by `: `, each once (the SDK's
/// outer errors often repeat their cause).
fn chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes_of(err) {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::error::{ConnectorError, ErrorMetadata};
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
                "`iam:CreateUser` on user `ci` failed: request has timed out: slow",
            ),
        ];
        for (err, want) in cases {
            let got = api_error("iam:CreateUser", "user `ci`", &err).to_string();
            assert_eq!(got, want);
        }
    }

    /// Regression: without credentials the message was the SDK's `Debug` dump.
    #[test]
    fn a_credential_failure_says_what_to_configure_without_debug_output() {
        // As the SDK fails a call when its credential chain finds nothing.
        let missing: Err = SdkError::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::not_loaded(
                "no providers in chain provided credentials",
            )),
            None,
        ));
        let refused = generic(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
        for (err, cause) in [
            (
                missing,
                "no usable AWS credentials: dispatch failure: other: the credential provider was not enabled: no providers in chain provided credentials",
            ),
            (
                refused,
                "AWS refused the credentials: InvalidClientTokenId: The security token included in the request is invalid.",
            ),
        ] {
            let got = api_error("iam:ListUsers", "path `/nhi/`", &err).to_string();
            assert_eq!(
                got,
                format!("`iam:ListUsers` on path `/nhi/` failed: {cause}; {CREDENTIALS_HELP}")
            );
            for debug in ["CredentialsNotLoaded", "DispatchFailure", "{", "Some("] {
                assert!(!got.contains(debug), "{got}");
            }
        }
        for hint in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL"] {
            assert!(CREDENTIALS_HELP.contains(hint));
        }
    }
}
