//! Retrying calls that met a quota (429 `RESOURCE_EXHAUSTED`) for as long as a
//! per-minute quota window lasts, waiting as long as Google says. Google's quota
//! errors may carry a `google.rpc.RetryInfo` detail whose `retryDelay` is how
//! long to wait before trying again
//! (<https://cloud.google.com/apis/design/errors#retry_info>), and IAM's quotas are
//! per minute (<https://cloud.google.com/iam/quotas>), so a few seconds of
//! backoff cannot outlast one. Other transient errors keep the block's
//! `max_attempts`.
//!
//! The client's retry loop asks its retry policy about an error (or a retry it
//! held back) and, at once, its backoff policy for the delay, on the same thread
//! with nothing in between;
//! [`QuotaRetry`] leaves the delay it chose where [`QuotaBackoff`] picks it up.

use std::cell::Cell;
use std::time::Duration;

use google_cloud_gax::backoff_policy::BackoffPolicy;
use google_cloud_gax::error::Error;
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use google_cloud_gax::exponential_backoff::ExponentialBackoff;
use google_cloud_gax::retry_policy::RetryPolicy;
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;
use google_cloud_gax::retry_throttler::RetryThrottler;
use google_cloud_gax::throttle_result::ThrottleResult;

/// How long quota errors are retried, from the first attempt: a one-minute
/// window, with room for the refill.
pub(crate) const QUOTA_WINDOW: Duration = Duration::from_secs(75);
/// The most nhi waits for one `retryDelay`, however long Google asks for.
const MAX_RETRY_DELAY: Duration = Duration::from_mins(1);

thread_local! {
    /// The delay [`QuotaRetry`] chose for the error just seen on this thread.
    static CHOSEN: Cell<Option<Duration>> = const { Cell::new(None) };
}

tokio::task_local! {
    /// Where the running provider call reports its waits for quota: the
    /// clients are built once, the sink is each call's.
    static PROGRESS: nhi_provider_sdk::ProgressSink;
}

/// Runs `call` with its quota waits reported to `progress`.
pub(crate) async fn reporting<F: std::future::Future>(
    progress: nhi_provider_sdk::ProgressSink,
    call: F,
) -> F::Output {
    PROGRESS.scope(progress, call).await
}

/// The running call's sink, for work it spawns (which task-locals do not reach).
pub(crate) fn current() -> nhi_provider_sdk::ProgressSink {
    PROGRESS.try_with(Clone::clone).unwrap_or_default()
}

/// Retries quota errors within [`QUOTA_WINDOW`]; anything else as `inner` says.
#[derive(Debug)]
pub(crate) struct QuotaRetry<P> {
    inner: P,
    backoff: ExponentialBackoff,
}

impl<P> QuotaRetry<P> {
    pub(crate) fn new(inner: P, backoff: ExponentialBackoff) -> Self {
        Self { inner, backoff }
    }
}

/// The wait Google asks for in a quota error, if it says.
pub(crate) fn retry_delay(error: &Error) -> Option<Duration> {
    error
        .status()?
        .details
        .iter()
        .find_map(|detail| match detail {
            StatusDetails::RetryInfo(info) => {
                info.retry_delay.and_then(|d| Duration::try_from(d).ok())
            }
            _ => None,
        })
}

fn is_quota(error: &Error) -> bool {
    error
        .status()
        .is_some_and(|s| s.code == Code::ResourceExhausted)
        || error.http_status_code() == Some(429)
}

impl<P> QuotaRetry<P> {
    /// The wait before the next try after quota error `error`, or `None` when
    /// it would end past the window.
    fn next_wait(&self, state: &RetryState, error: &Error) -> Option<Duration> {
        let delay = retry_delay(error).map_or_else(
            || self.backoff.on_failure(state),
            |d| d.min(MAX_RETRY_DELAY),
        );
        (state.start.elapsed() + delay <= QUOTA_WINDOW).then_some(delay)
    }
}

impl<P: RetryPolicy> RetryPolicy for QuotaRetry<P> {
    fn on_error(&self, state: &RetryState, error: Error) -> RetryResult {
        CHOSEN.set(None);
        if !is_quota(&error) {
            return self.inner.on_error(state, error);
        }
        match self.next_wait(state, &error) {
            Some(delay) => {
                CHOSEN.set(Some(delay));
                RetryResult::Continue(error)
            }
            None => RetryResult::Exhausted(error),
        }
    }

    /// The client may hold back a retry itself (its adaptive throttler, after
    /// many failures); the wait before the try after that is Google's too.
    fn on_throttle(&self, state: &RetryState, error: Error) -> ThrottleResult {
        CHOSEN.set(None);
        if !is_quota(&error) {
            return self.inner.on_throttle(state, error);
        }
        match self.next_wait(state, &error) {
            Some(delay) => {
                CHOSEN.set(Some(delay));
                ThrottleResult::Continue(error)
            }
            None => ThrottleResult::Exhausted(error),
        }
    }

    fn remaining_time(&self, state: &RetryState) -> Option<Duration> {
        self.inner.remaining_time(state)
    }
}

/// The delay [`QuotaRetry`] chose, else exponential backoff.
#[derive(Debug)]
pub(crate) struct QuotaBackoff(pub(crate) ExponentialBackoff);

impl BackoffPolicy for QuotaBackoff {
    fn on_failure(&self, state: &RetryState) -> Duration {
        match CHOSEN.take() {
            Some(delay) => {
                let _ = PROGRESS.try_with(|progress| {
                    progress.report(&format!(
                        "Google's quota is used up; trying again in {:.1} s ({} s of at most {} s)",
                        delay.as_secs_f64(),
                        state.start.elapsed().as_secs(),
                        QUOTA_WINDOW.as_secs()
                    ));
                });
                delay
            }
            None => self.0.on_failure(state),
        }
    }
}

/// Lets every retry the policies allow go out. The clients' default adaptive
/// throttler holds back retries after a run of failures and waits again before
/// the next, which would stretch each of Google's `retryDelay`s into several;
/// nhi already paces its calls within the quotas (`pace`) and bounds its
/// retries (`max_attempts`, [`QUOTA_WINDOW`]).
#[derive(Debug)]
pub(crate) struct Unthrottled;

impl RetryThrottler for Unthrottled {
    fn throttle_retry_attempt(&self) -> bool {
        false
    }

    fn on_retry_failure(&mut self, _flow: &RetryResult) {}

    fn on_success(&mut self) {}
}

#[cfg(test)]
mod tests {
    use google_cloud_gax::error::rpc::Status;
    use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
    use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt as _};

    use super::*;

    fn backoff() -> ExponentialBackoff {
        ExponentialBackoffBuilder::new()
            .with_initial_delay(Duration::from_millis(200))
            .with_maximum_delay(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    fn quota_error(delay: Option<&str>) -> Error {
        let mut details = Vec::new();
        if let Some(delay) = delay {
            let detail: StatusDetails = serde_json::from_value(serde_json::json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": delay
            }))
            .unwrap();
            details.push(detail);
        }
        Error::service(
            Status::default()
                .set_code(Code::ResourceExhausted)
                .set_message("Quota exceeded")
                .set_details(details),
        )
    }

    #[test]
    fn quota_errors_wait_as_google_says_across_the_window() {
        let policy = QuotaRetry::new(Aip194Strict.with_attempt_limit(5), backoff());
        let pick = QuotaBackoff(backoff());
        let state = RetryState::new(false).set_attempt_count(9_u32);
        // Past the attempt limit, a quota error is still retried, after the
        // delay Google asked for.
        let flow = policy.on_error(&state, quota_error(Some("12.5s")));
        assert!(matches!(flow, RetryResult::Continue(_)), "{flow:?}");
        assert_eq!(pick.on_failure(&state), Duration::from_millis(12_500));
        // Without RetryInfo: exponential backoff, capped.
        let flow = policy.on_error(&state, quota_error(None));
        assert!(matches!(flow, RetryResult::Continue(_)), "{flow:?}");
        assert!(pick.on_failure(&state) <= Duration::from_secs(10));
        // A delay beyond the window ends the retries.
        let flow = policy.on_error(&state, quota_error(Some("3600s")));
        assert!(matches!(flow, RetryResult::Continue(_)), "capped at 60 s");
        assert_eq!(pick.on_failure(&state), MAX_RETRY_DELAY);
        let late = RetryState::new(false).set_attempt_count(2_u32).set_start(
            std::time::Instant::now()
                .checked_sub(Duration::from_secs(70))
                .unwrap(),
        );
        let flow = policy.on_error(&late, quota_error(Some("10s")));
        assert!(matches!(flow, RetryResult::Exhausted(_)), "{flow:?}");
        // Other errors keep the attempt limit.
        let unavailable = Error::service(Status::default().set_code(Code::Unavailable));
        let flow = policy.on_error(&RetryState::new(true).set_attempt_count(5_u32), unavailable);
        assert!(matches!(flow, RetryResult::Exhausted(_)), "{flow:?}");
    }
}
