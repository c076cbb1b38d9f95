//! A bundle's `test_` rules, run as `opa test` runs them.

use serde::Serialize;

use super::{Bundle, RegoError};

/// What `test_` rules said, in file then line order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestReport {
    pub tests: Vec<TestResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestResult {
    /// The file that defines it, relative to the configuration's directory.
    pub file: String,
    pub line: u32,
    /// `data.<package>.test_<name>`.
    pub name: String,
    #[serde(flatten)]
    pub outcome: TestOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "error", rename_all = "snake_case")]
pub enum TestOutcome {
    /// The rule evaluated to `true`.
    Pass,
    /// Undefined or anything but `true`.
    Fail,
    /// Evaluation failed.
    Error(String),
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.tests
            .iter()
            .filter(|t| t.outcome == TestOutcome::Pass)
            .count()
    }

    pub fn all_passed(&self) -> bool {
        self.passed() == self.tests.len()
    }
}

impl Bundle {
    /// Runs every `test_*` rule, as `opa test` does: a test passes when it
    /// evaluates to `true`. `now` is what `time.now_ns()` returns.
    pub fn test(&self, now: jiff::Timestamp) -> Result<TestReport, RegoError> {
        let mut engine = self.deterministic(now)?;
        let tests = self
            .tests
            .iter()
            .map(|t| {
                let outcome = match engine.eval_rule(t.query.clone()) {
                    Ok(regorus::Value::Bool(true)) => TestOutcome::Pass,
                    Ok(_) => TestOutcome::Fail,
                    Err(e) => TestOutcome::Error(e.to_string().trim().to_owned()),
                };
                TestResult {
                    file: t.file.clone(),
                    line: t.line,
                    name: t.query.clone(),
                    outcome,
                }
            })
            .collect();
        Ok(TestReport { tests })
    }
}
