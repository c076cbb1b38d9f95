//! What `nhi policy test` prints: one line per `test_` rule, grouped by file,
//! then a summary, as `opa test -v` does (without timings, so the output is the
//! same on every run). `--json` prints the [`TestReport`] itself.

use std::fmt::Write as _;

use crate::policy::rego::{TestOutcome, TestReport};

use super::Painter;
use super::escape;

/// The report as text.
pub fn text(report: &TestReport, p: Painter) -> String {
    let mut out = String::new();
    let mut file = None;
    for t in &report.tests {
        if file != Some(&t.file) {
            if file.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}:", escape::text(&t.file));
            file = Some(&t.file);
        }
        let verdict = match &t.outcome {
            TestOutcome::Pass => p.paint("32", "PASS"),
            TestOutcome::Fail => p.paint("31", "FAIL"),
            TestOutcome::Error(_) => p.paint("31", "ERROR"),
        };
        let _ = writeln!(out, "{}: {verdict}", escape::text(&t.name));
        if let TestOutcome::Error(detail) = &t.outcome {
            for line in detail.lines() {
                let _ = writeln!(out, "  {}", escape::text(line));
            }
        }
    }
    if !report.tests.is_empty() {
        out.push_str(&"-".repeat(80));
        out.push('\n');
    }
    let total = report.tests.len();
    let passed = report.passed();
    let failed = report
        .tests
        .iter()
        .filter(|t| t.outcome == TestOutcome::Fail)
        .count();
    let errors = total - passed - failed;
    if total == 0 {
        out.push_str("no tests found\n");
    }
    if passed > 0 {
        let _ = writeln!(out, "PASS: {passed}/{total}");
    }
    if failed > 0 {
        let _ = writeln!(out, "FAIL: {failed}/{total}");
    }
    if errors > 0 {
        let _ = writeln!(out, "ERROR: {errors}/{total}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rego::TestResult;

    #[test]
    fn lists_tests_by_file_then_a_summary() {
        let t = |file: &str, name: &str, outcome| TestResult {
            file: file.into(),
            line: 1,
            name: name.into(),
            outcome,
        };
        let report = TestReport {
            tests: vec![
                t(
                    "p/a_test.rego",
                    "data.nhi.a_test.test_one",
                    TestOutcome::Pass,
                ),
                t(
                    "p/a_test.rego",
                    "data.nhi.a_test.test_two",
                    TestOutcome::Fail,
                ),
                t(
                    "p/b_test.rego",
                    "data.nhi.b_test.test_three",
                    TestOutcome::Error("line one\nline\u{1b}two".into()),
                ),
            ],
        };
        let want = "p/a_test.rego:\n\
                    data.nhi.a_test.test_one: PASS\n\
                    data.nhi.a_test.test_two: FAIL\n\
                    \n\
                    p/b_test.rego:\n\
                    data.nhi.b_test.test_three: ERROR\n  line one\n  line\\u{1b}two\n"
            .to_owned()
            + &"-".repeat(80)
            + "\nPASS: 1/3\nFAIL: 1/3\nERROR: 1/3\n";
        assert_eq!(text(&report, Painter::PLAIN), want);
        assert_eq!(
            text(&TestReport { tests: vec![] }, Painter::PLAIN),
            "no tests found\n"
        );
    }
}
