//! SDK errors as provider errors, and the bounded retry that rides out IAM's
//! eventual consistency right after a create.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use nhi_provider_sdk::ProviderError;

/// Tries of a call that may see an object created a moment ago as missing.
const SETTLE_TRIES: u32 = 5;
/// First wait between those tries; it doubles each time (1.5 s in all).
const SETTLE_FIRST_WAIT: Duration = Duration::from_millis(100);

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

/// Runs `call` again while it reports `NotFound`, a bounded number of times: IAM
/// may not show a user or role to every call right after creating it.
pub(crate) async fn settle<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut wait = SETTLE_FIRST_WAIT;
    let mut tries = 1;
    loop {
        match call().await {
            Err(ProviderError::NotFound(_)) if tries < SETTLE_TRIES => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// `Ok` for a delete of something already gone.
pub(crate) fn gone_is_ok(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(ProviderError::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::create_user::CreateUserError;
    use std::cell::Cell;

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

    #[tokio::test(start_paused = true)]
    async fn settle_retries_not_found_a_bounded_number_of_times() {
        let calls = Cell::new(0);
        let got: Result<(), _> = settle(|| {
            calls.set(calls.get() + 1);
            async { Err(ProviderError::NotFound("user `ci`".into())) }
        })
        .await;
        assert!(matches!(got, Err(ProviderError::NotFound(_))));
        assert_eq!(calls.get(), SETTLE_TRIES);

        let calls = Cell::new(0);
        let got = settle(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(ProviderError::NotFound("user `ci`".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got.unwrap(), 3);

        let calls = Cell::new(0);
        let got: Result<(), _> = settle(|| {
            calls.set(calls.get() + 1);
            async { Err(ProviderError::Other("no".into())) }
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.get(), 1);
        assert!(gone_is_ok(Err(ProviderError::NotFound("x".into()))).is_ok());
        assert!(gone_is_ok(Err(ProviderError::Other("x".into()))).is_err());
    }
}
