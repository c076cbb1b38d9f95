//! How a provider tells the person running nhi what a long call waits for (a
//! cloud's propagation delay, a quota window): providers never print, the
//! engine renders what they report, on standard error.

use std::fmt;
use std::sync::Arc;

/// Where a provider reports progress during one call; reports go nowhere by
/// default. Cheap to clone; safe to call from any task or thread.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<Report>>);

/// What receives each reported line.
type Report = dyn Fn(&str) + Send + Sync;

impl ProgressSink {
    /// A sink that hands each report to `report`.
    pub fn new(report: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(report)))
    }

    /// Reports one line, e.g. "waiting for the new service account `ci-bot` to
    /// propagate (4 s of at most 90 s)": what is waited for, and for how long at
    /// most. Never a secret.
    pub fn report(&self, line: &str) {
        if let Some(report) = &self.0 {
            report(line);
        }
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressSink"
        } else {
            "ProgressSink(silent)"
        })
    }
}
