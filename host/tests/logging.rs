//! The binary's log output: JSON lines for collectors with `--log-format json`,
//! and plain text without colour codes when stderr is not a terminal.

use std::process::{Command, Stdio};

fn run_serve(log_format: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_envhost"))
        .args(["--log-format", log_format, "serve", "--config"])
        .arg("/nonexistent/envhost-test.toml")
        .stdin(Stdio::null())
        .output()
        .expect("failed to run the envhost binary");
    assert!(
        !output.status.success(),
        "serve with a missing config succeeded"
    );
    String::from_utf8(output.stderr).expect("stderr is not UTF-8")
}

#[test]
fn json_format_writes_one_object_per_line() {
    let stderr = run_serve("json");

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    let stopped = lines
        .iter()
        .find(|line| line["fields"]["message"] == "host stopped")
        .unwrap_or_else(|| panic!("no `host stopped` event in: {stderr}"));
    assert_eq!(stopped["level"], "ERROR", "{stopped}");
    let error = stopped["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("envhost-test.toml"),
        "error does not name the file: {stopped}"
    );
    assert!(stopped["timestamp"].is_string(), "{stopped}");
}

#[test]
fn text_format_has_no_colour_codes_off_a_terminal() {
    let stderr = run_serve("text");

    assert!(stderr.contains("host stopped"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a log file: {stderr:?}"
    );
}
