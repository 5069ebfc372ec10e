//! `envhost check FILE.wasm`: loads an adapter file offline, as the host
//! would, and prints what it found.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::adapters::{CheckReport, Compiler, GuestLimits, Runtime};

/// Limits of the offline check: the host's defaults.
const CHECK_LIMITS: GuestLimits = GuestLimits {
    memory_bytes: 256 * 1024 * 1024,
    call_timeout: Duration::from_secs(10),
    compiler: Compiler::Winch,
};

/// Checks `file` and prints the report on stdout. Returns failure, with the
/// reason on stderr, when the file would not load.
pub async fn check(file: &Path, options: &serde_json::Value) -> ExitCode {
    let runtime = match Runtime::new(CHECK_LIMITS, None) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.check_file(file, options).await;
    print!("{}", render(file, &report));
    match &report.problem {
        None => ExitCode::SUCCESS,
        Some(problem) => {
            eprintln!("error: `{}` would not load: {problem}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn render(file: &Path, report: &CheckReport) -> String {
    let unknown = "unknown";
    let mut text = format!("file:         {}\n", file.display());
    text += &format!(
        "digest:       {}\n",
        report.digest.as_deref().unwrap_or(unknown)
    );
    text += &format!(
        "wit version:  {}\n",
        report.wit_version.as_deref().unwrap_or(unknown)
    );
    text += &format!(
        "version:      {}\n",
        report.version.as_deref().unwrap_or(unknown)
    );
    match &report.capabilities {
        Some(capabilities) => {
            let mut names = vec!["lease-renewal"];
            if capabilities.supports_two_phase {
                names.push("two-phase");
            }
            if capabilities.supports_logs {
                names.push("logs");
            }
            if capabilities.supports_exec_probe {
                names.push("exec-probe");
            }
            if capabilities.supports_snapshots {
                names.push("snapshots");
            }
            text += &format!("capabilities: {}\n", names.join(", "));
            if !capabilities.custom.is_empty() {
                text += &format!(
                    "custom:       {}\n",
                    serde_json::Value::Object(capabilities.custom.clone())
                );
            }
        }
        None => text += &format!("capabilities: {unknown}\n"),
    }
    if report.unsatisfied_imports.is_empty() {
        text += "unsatisfied imports: none\n";
    } else {
        text += "unsatisfied imports:\n";
        for import in &report.unsatisfied_imports {
            text += &format!("  {import}\n");
        }
    }
    text
}
