//! `envhost conformance` against the Docker adapter, the example Rust and
//! Python adapters and a deliberately broken guest, with the real Docker
//! engine.

use envhost_e2e::CliOutput;
use envhost_e2e::conformance::{Component, run_conformance, run_conformance_cached};

/// Every rule that a conforming adapter without two-phase must pass.
const SINGLE_PHASE_RULES: &[&str] = &[
    "loads",
    "create-returns-valid-descriptor",
    "create-is-idempotent",
    "status-values-are-valid",
    "unknown-id-is-not-found",
    "destroy-unknown-id-succeeds",
    "destroy-is-idempotent",
    "destroyed-reads-terminated",
    "errors-are-typed",
];

const TWO_PHASE_RULES: &[&str] = &["reserve-is-idempotent", "start-is-idempotent"];

const SNAPSHOT_RULES: &[&str] = &["snapshots-round-trip"];

/// Returns the report line of `rule`, such as `PASS  loads  version 0.1.0`.
fn rule_line<'a>(output: &'a CliOutput, rule: &str) -> &'a str {
    output
        .stdout
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(rule))
        .unwrap_or_else(|| panic!("no line for rule `{rule}` in:\n{}", output.stdout))
}

fn assert_passes(output: &CliOutput, rules: &[&str]) {
    for rule in rules {
        let line = rule_line(output, rule);
        assert!(
            line.starts_with("PASS"),
            "rule `{rule}`: {line}\n{}",
            output.stdout
        );
    }
}

#[test]
fn docker_adapter_conforms() {
    let options = r#"{"defaultImage": "envhost/busybox:test", "stopGraceSeconds": 1}"#;
    let output = run_conformance(Component::Docker, "docker", Some(options));

    assert!(
        output.status.success(),
        "exit {}:\n{}\n{}",
        output.status,
        output.stdout,
        output.stderr
    );
    assert_passes(&output, SINGLE_PHASE_RULES);
    assert_passes(&output, TWO_PHASE_RULES);
    assert_passes(&output, SNAPSHOT_RULES);
    assert!(
        output.stdout.contains("docker:       connected"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("12 passed, 0 failed, 0 skipped"),
        "{}",
        output.stdout
    );
}

#[test]
fn rust_example_conforms() {
    let output = run_conformance(Component::Ledger, "ledger", None);

    assert!(
        output.status.success(),
        "exit {}:\n{}\n{}",
        output.status,
        output.stdout,
        output.stderr
    );
    assert_passes(&output, SINGLE_PHASE_RULES);
    assert_passes(&output, TWO_PHASE_RULES);
    assert!(
        output.stdout.contains("capabilities: two-phase\n"),
        "{}",
        output.stdout
    );
}

/// A release host takes 12 to 20 s to compile the 18 MB component on a
/// 2-core machine, so the tests share one artifact cache. The first run
/// compiles it (once per host build and component build), and the second
/// must load it from the cache.
#[test]
fn python_example_conforms() {
    let first = run_conformance(Component::Python, "pyledger", None);
    let second = run_conformance(Component::Python, "pyledger", None);

    for output in [&first, &second] {
        assert!(
            output.status.success(),
            "exit {}:\n{}\n{}",
            output.status,
            output.stdout,
            output.stderr
        );
        assert_passes(output, SINGLE_PHASE_RULES);
        assert!(
            output.stdout.contains("9 passed, 0 failed, 3 skipped"),
            "{}",
            output.stdout
        );
    }
    assert!(
        second.stdout.contains("(from the cache)"),
        "the second run compiled the component again:\n{}",
        second.stdout
    );
}

#[test]
fn conformance_cache_is_reused() {
    let cache = tempfile::tempdir().expect("failed to create a temporary folder");
    let first = run_conformance_cached(Component::Ledger, "ledger", None, cache.path());
    let second = run_conformance_cached(Component::Ledger, "ledger", None, cache.path());

    assert!(first.status.success(), "{}\n{}", first.stdout, first.stderr);
    assert!(
        second.status.success(),
        "{}\n{}",
        second.stdout,
        second.stderr
    );
    assert!(
        first.stdout.contains("(compiled)"),
        "the first run with an empty cache did not compile:\n{}",
        first.stdout
    );
    assert!(
        second.stdout.contains("(from the cache)"),
        "the second run did not use the cache:\n{}",
        second.stdout
    );
    let artifacts: Vec<_> = std::fs::read_dir(cache.path())
        .expect("failed to list the cache folder")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "artifacts: {artifacts:?}");
}

#[test]
fn broken_guest_fails_destroy_rules() {
    let output = run_conformance(Component::Broken, "broken", None);

    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{}",
        output.stdout,
        output.stderr
    );
    let twice = rule_line(&output, "destroy-is-idempotent");
    assert!(twice.starts_with("FAIL"), "{twice}");
    assert!(twice.contains("second destroy"), "{twice}");
    let unknown = rule_line(&output, "destroy-unknown-id-succeeds");
    assert!(unknown.starts_with("FAIL"), "{unknown}");

    // Only destroy is broken: the other rules pass, and two-phase is skipped.
    let passing: Vec<&str> = SINGLE_PHASE_RULES
        .iter()
        .copied()
        .filter(|rule| !rule.starts_with("destroy-") || *rule == "destroyed-reads-terminated")
        .collect();
    assert_passes(&output, &passing);
    for rule in TWO_PHASE_RULES.iter().chain(SNAPSHOT_RULES) {
        assert!(
            rule_line(&output, rule).starts_with("SKIP"),
            "{}",
            output.stdout
        );
    }
    assert!(
        output.stderr.contains("does not conform"),
        "{}",
        output.stderr
    );
}

#[test]
fn options_that_fail_init_fail_the_load_rule() {
    let output = run_conformance(Component::Docker, "docker", Some(r#"{"autoRemov": true}"#));

    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{}",
        output.stdout,
        output.stderr
    );
    let loads = rule_line(&output, "loads");
    assert!(loads.starts_with("FAIL"), "{loads}");
    assert!(loads.contains("`autoRemov`"), "{loads}");
    assert!(
        rule_line(&output, "create-is-idempotent").starts_with("SKIP"),
        "{}",
        output.stdout
    );
}
