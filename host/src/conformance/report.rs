//! Text rendering of a conformance report.

use super::{Outcome, Report};
use crate::adapters::CompileSource;

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
        let source = match report.compile_source {
            Some(CompileSource::Cache) => " (from the cache)",
            Some(CompileSource::Compiled) => " (compiled)",
            None => "",
        };
        text += &format!("load time:    {load_time:.1?}{source}\n");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::RuleResult;

    fn report(results: Vec<RuleResult>) -> Report {
        Report {
            adapter: "broken".to_owned(),
            version: Some("0.1.0".to_owned()),
            wit_version: Some("0.2.0".to_owned()),
            capabilities: Vec::new(),
            docker: Err("engine not reachable".to_owned()),
            load_time: None,
            compile_source: None,
            results,
        }
    }

    #[test]
    fn render_says_where_the_component_came_from() {
        let mut cached = report(Vec::new());
        cached.load_time = Some(std::time::Duration::from_millis(12));
        cached.compile_source = Some(CompileSource::Cache);
        let mut compiled = cached.clone();
        compiled.compile_source = Some(CompileSource::Compiled);

        let cached_text = render(&cached);
        let compiled_text = render(&compiled);

        assert!(
            cached_text.contains("load time:    12.0ms (from the cache)\n"),
            "{cached_text}"
        );
        assert!(
            compiled_text.contains("load time:    12.0ms (compiled)\n"),
            "{compiled_text}"
        );
    }

    #[test]
    fn render_lists_each_rule_and_totals() {
        let report = report(vec![
            RuleResult {
                rule: "loads",
                outcome: Outcome::Pass("version 0.1.0".to_owned()),
            },
            RuleResult {
                rule: "destroy-is-idempotent",
                outcome: Outcome::Fail("second destroy failed".to_owned()),
            },
            RuleResult {
                rule: "start-is-idempotent",
                outcome: Outcome::Skip("no two-phase".to_owned()),
            },
        ]);
        let text = render(&report);

        assert!(
            text.contains("PASS  loads                  version 0.1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("FAIL  destroy-is-idempotent  second destroy failed\n"),
            "{text}"
        );
        assert!(
            text.contains("SKIP  start-is-idempotent    no two-phase\n"),
            "{text}"
        );
        assert!(text.contains("capabilities: none optional\n"), "{text}");
        assert!(text.contains("engine not reachable"), "{text}");
        assert!(text.ends_with("1 passed, 1 failed, 1 skipped\n"), "{text}");
    }

    #[test]
    fn report_with_a_failure_does_not_pass() {
        let failing = report(vec![RuleResult {
            rule: "loads",
            outcome: Outcome::Fail("bad options".to_owned()),
        }]);
        let skipping = report(vec![RuleResult {
            rule: "loads",
            outcome: Outcome::Skip("not reached".to_owned()),
        }]);

        assert!(!failing.passed());
        assert!(skipping.passed());
        assert_eq!(
            failing.outcome("loads"),
            Some(&Outcome::Fail("bad options".to_owned()))
        );
        assert_eq!(failing.outcome("create-is-idempotent"), None);
    }
}
