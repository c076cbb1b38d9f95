//! The conformance kit's pass/fail table (`nhi provider test`).

use crate::kit::{KitOutcome, KitReport};

/// One line per check: outcome, check, detail; then the tally.
pub fn table(report: &KitReport) -> String {
    let mut out = format!(
        "{} against {}\n\n",
        report.suite,
        report
            .plugin
            .as_deref()
            .map_or_else(|| "the plugin".to_owned(), |p| format!("`{p}`"))
    );
    let width = report
        .verdicts
        .iter()
        .map(|v| v.check.len())
        .max()
        .unwrap_or(0);
    for v in &report.verdicts {
        let outcome = match v.outcome {
            KitOutcome::Pass => "pass",
            KitOutcome::Fail => "FAIL",
            KitOutcome::Skip => "skip",
        };
        let detail = v.detail.replace('\n', "\n        ");
        out.push_str(&format!("{outcome}  {:<width$}  {detail}\n", v.check));
    }
    let count = |o| report.verdicts.iter().filter(|v| v.outcome == o).count();
    out.push_str(&format!(
        "\n{} passed, {} failed, {} skipped\n",
        count(KitOutcome::Pass),
        count(KitOutcome::Fail),
        count(KitOutcome::Skip)
    ));
    out
}
