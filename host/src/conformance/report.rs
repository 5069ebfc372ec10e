//! Text rendering of a conformance report.

use super::{Outcome, Report};

/// Renders the report: a header, then one line per rule (`PASS`, `FAIL` or
/// `SKIP`, the rule name, what was observed), then the totals.
pub fn render(report: &Report) -> String {
    let unknown = "unknown";
    let mut text = format!(
        "adapter:      {} (version {}, WIT {})\n",
        report.adapter,
        report.version.as_deref().unwrap_or(unknown),
        report.wit_version.as_deref().unwrap_or(unknown),
    );
    let capabilities = if report.capabilities.is_empty() {
        "none optional".to_owned()
    } else {
        report.capabilities.join(", ")
    };
    text += &format!("capabilities: {capabilities}\n");
    match &report.docker {
        Ok(()) => text += "docker:       connected\n",
        Err(reason) => {
            text +=
                &format!("docker:       not used, container calls fail as unavailable ({reason})\n")
        }
    }
    if let Some(load_time) = report.load_time {
        text += &format!("load time:    {load_time:.1?}\n");
    }
    text += "\n";

    let width = report
        .results
        .iter()
        .map(|result| result.rule.len())
        .max()
        .unwrap_or(0);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for result in &report.results {
        let (label, detail) = match &result.outcome {
            Outcome::Pass(detail) => {
                passed += 1;
                ("PASS", detail)
            }
            Outcome::Fail(detail) => {
                failed += 1;
                ("FAIL", detail)
            }
            Outcome::Skip(detail) => {
                skipped += 1;
                ("SKIP", detail)
            }
        };
        text += &format!("{label}  {:width$}  {detail}\n", result.rule);
    }
    text += &format!("\n{passed} passed, {failed} failed, {skipped} skipped\n");
    text
}
