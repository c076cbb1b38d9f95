//! Riding out IAM's propagation delay. Google documents that a service account
//! may take 60 seconds or more to be usable after it is created, and that calls
//! in the meantime can answer that it does not exist
//! (<https://cloud.google.com/iam/docs/service-accounts-create#creating>,
//! <https://cloud.google.com/iam/docs/access-change-propagation>). Calls on an
//! account this provider created in this run wait for it, with backoff, for up
//! to [`NEW_ACCOUNT_WAIT`]; calls on other accounts only briefly, since reads
//! are eventually consistent but such an account was there at plan time.

use std::future::Future;
use std::time::Duration;

use nhi_provider_sdk::ProviderError;
use tokio::time::Instant;

use crate::target::Target;

/// How long an account created in this run may stay invisible: Google's "60
/// seconds or more", with room to spare, and still bounded.
pub(crate) const NEW_ACCOUNT_WAIT: Duration = Duration::from_secs(90);
/// How long any other account may be missing from a read (eventual consistency).
const OTHER_WAIT: Duration = Duration::from_millis(1_500);
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(8);

/// The waits left before an account counts as missing.
#[derive(Debug)]
pub(crate) struct Wait {
    started: Instant,
    deadline: Instant,
    pause: Duration,
    /// The account, when this run created it.
    pub(crate) created: Option<String>,
    /// Where a wait for a created account is reported.
    progress: nhi_provider_sdk::ProgressSink,
}

impl Wait {
    /// The wait for account `name`: long when this run created it.
    pub(crate) fn for_account(target: &Target<'_>, name: &str) -> Self {
        let created = target.session.was_created(name);
        let budget = if created {
            NEW_ACCOUNT_WAIT
        } else {
            OTHER_WAIT
        };
        let now = Instant::now();
        Self {
            started: now,
            deadline: now + budget,
            pause: FIRST_PAUSE,
            created: created.then(|| name.to_owned()),
            progress: target.progress.clone(),
        }
    }

    /// Sleeps before the next try (doubling each time, at most [`MAX_PAUSE`],
    /// never past the deadline); `false`, without sleeping, once time is up.
    pub(crate) async fn pause(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        let pause = self.pause.min(self.deadline - now);
        // The long wait, for an account this run created, is shown; the brief
        // one for eventual consistency is not.
        if let Some(name) = &self.created {
            self.progress.report(&format!(
                "waiting for the new service account `{name}` to propagate ({} s of at most {} s)",
                (now - self.started).as_secs(),
                NEW_ACCOUNT_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        true
    }
}

/// Runs `call` on account `name` again while it answers that the account does
/// not exist, within the account's [`Wait`].
pub(crate) async fn until_visible<T, F, Fut>(
    target: &Target<'_>,
    name: &str,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut wait = Wait::for_account(target, name);
    loop {
        match call().await {
            Err(ProviderError::NotFound(_)) if wait.pause().await => {}
            Err(ProviderError::NotFound(_)) if wait.created.is_some() => {
                return Err(not_visible(name));
            }
            other => return other,
        }
    }
}

/// The error when an account created in this run never became visible.
pub(crate) fn not_visible(name: &str) -> ProviderError {
    ProviderError::Other(format!(
        "service account `{name}` was created, but Google still answers that it does not \
         exist after {} s (IAM propagation); plan and apply again in a few minutes",
        NEW_ACCOUNT_WAIT.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_back_off_and_end_at_the_deadline() {
        let start = Instant::now();
        let mut wait = Wait {
            started: start,
            deadline: start + NEW_ACCOUNT_WAIT,
            pause: FIRST_PAUSE,
            created: None,
            progress: nhi_provider_sdk::ProgressSink::default(),
        };
        let mut pauses = 0;
        while wait.pause().await {
            pauses += 1;
        }
        assert_eq!(start.elapsed(), NEW_ACCOUNT_WAIT, "bounded by the deadline");
        // 0.1 + 0.2 + … + 6.4 s, then 8 s pauses: about 18 tries in 90 s.
        assert!((15..=20).contains(&pauses), "{pauses}");
    }
}
