//! Keeps calls inside a per-minute quota: a token bucket that holds one minute's
//! worth of calls and refills continuously. A call that finds it empty waits for
//! its token instead of meeting a 429.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Pace {
    per_second: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl Pace {
    pub(crate) fn per_minute(calls: u32) -> Self {
        let capacity = f64::from(calls.max(1));
        Self {
            per_second: capacity / 60.0,
            capacity,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// Waits until one more call fits in the quota, and takes it.
    pub(crate) async fn take(&self) {
        let wait = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let (tokens, last) = *state;
            let refilled = (tokens + now.duration_since(last).as_secs_f64() * self.per_second)
                .min(self.capacity);
            // Reserve the token now (possibly going below zero) so that waiters
            // queue up in order instead of all waking at once.
            *state = (refilled - 1.0, now);
            if refilled >= 1.0 {
                None
            } else {
                Some(Duration::from_secs_f64((1.0 - refilled) / self.per_second))
            }
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_passes_then_paces() {
        let pace = Pace::per_minute(120); // 2 a second
        let start = Instant::now();
        for _ in 0..120 {
            pace.take().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "a minute's worth passes at once"
        );
        pace.take().await;
        pace.take().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(999) && waited <= Duration::from_millis(1001),
            "{waited:?}"
        );
    }
}
