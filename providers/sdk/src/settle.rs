//! Helpers for clouds whose reads are eventually consistent: a bounded retry of a
//! call that does not see an object created a moment ago, and deletes that
//! converge when the object is already gone.

use std::future::Future;
use std::time::Duration;

use crate::ProviderError;

/// Tries of a call that may see an object created a moment ago as missing.
pub const SETTLE_TRIES: u32 = 5;
/// First wait between those tries; it doubles each time (1.5 s in all).
const SETTLE_FIRST_WAIT: Duration = Duration::from_millis(100);

/// Runs `call` again while it reports [`ProviderError::NotFound`], at most
/// [`SETTLE_TRIES`] times in all.
pub async fn settle<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
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

/// `Ok` for a delete of something already gone: a re-run after a partial failure
/// converges.
pub fn gone_is_ok(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(ProviderError::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn settle_retries_not_found_a_bounded_number_of_times() {
        let calls = Cell::new(0);
        let got: Result<(), _> = super::settle(|| {
            calls.set(calls.get() + 1);
            async { Err(crate::ProviderError::NotFound("user `ci`".into())) }
        })
        .await;
        assert!(matches!(got, Err(crate::ProviderError::NotFound(_))));
        assert_eq!(calls.get(), super::SETTLE_TRIES);

        let calls = Cell::new(0);
        let got = super::settle(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(crate::ProviderError::NotFound("user `ci`".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got.unwrap(), 3);

        let calls = Cell::new(0);
        let got: Result<(), _> = super::settle(|| {
            calls.set(calls.get() + 1);
            async { Err(crate::ProviderError::Other("no".into())) }
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.get(), 1);
        assert!(super::gone_is_ok(Err(crate::ProviderError::NotFound("x".into()))).is_ok());
        assert!(super::gone_is_ok(Err(crate::ProviderError::Other("x".into()))).is_err());
    }
}
