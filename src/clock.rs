//! The clock. Plans, signatures and receipts record time to the second; a planning
//! clock can be fixed (the CLI reads `NHI_NOW`) so that the same inputs give
//! byte-identical plan files.

use miette::Diagnostic;

/// The time planning runs at: the system's, or one fixed by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(jiff::Timestamp),
}

/// A fixed time that is not an RFC 3339 timestamp.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("`NHI_NOW` is not a timestamp: {detail}")]
#[diagnostic(code(nhi::cli::clock), help("use RFC 3339, e.g. 2026-11-22T12:00:00Z"))]
pub struct ClockError {
    detail: String,
}

impl Clock {
    /// The clock `NHI_NOW` asks for: fixed when set, the system's otherwise.
    pub fn from_setting(fixed: Option<&str>) -> Result<Self, ClockError> {
        match fixed {
            None => Ok(Self::System),
            Some(text) => text
                .parse()
                .map(Self::Fixed)
                .map_err(|e: jiff::Error| ClockError {
                    detail: e.to_string(),
                }),
        }
    }

    /// Now, to the second on the system clock.
    pub fn now(self) -> jiff::Timestamp {
        match self {
            Self::System => system_now(),
            Self::Fixed(t) => t,
        }
    }
}

/// The system clock, to the second.
pub fn system_now() -> jiff::Timestamp {
    whole_seconds(jiff::Timestamp::now())
}

/// `t` without its fraction of a second.
pub fn whole_seconds(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_fixed_clock_reads_rfc_3339_and_refuses_anything_else() {
        let fixed = Clock::from_setting(Some("2026-11-22T12:00:00Z")).unwrap();
        assert_eq!(fixed.now().to_string(), "2026-11-22T12:00:00Z");
        assert_eq!(Clock::from_setting(None).unwrap(), Clock::System);
        let err = Clock::from_setting(Some("yesterday")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`NHI_NOW` is not a timestamp: "),
            "{err}"
        );
        assert_eq!(Clock::System.now().subsec_nanosecond(), 0);
    }
}
