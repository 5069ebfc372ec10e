//! `envhost serve` with the example Python adapter (an 18 MB component) in
//! its adapters folder: the first load compiles it and writes the compiled
//! artifact to the cache, and a restart loads that artifact instead of
//! compiling again.

use std::time::{Duration, Instant};

use envhost_e2e::CrashableHost;
use envhost_e2e::conformance::Component;
use reqwest::StatusCode;

/// How long the host may take to compile the Python example after it
/// appears in the adapters folder. A release host on a busy 2-core machine
/// took about 20 s; a debug host about 100 s.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(300);

/// Returns the `adapter loaded` log lines of the adapter `name`, in order.
fn load_lines<'a>(log: &'a str, name: &str) -> Vec<&'a str> {
    let field = format!("adapter={name} ");
    log.lines()
        .filter(|line| line.contains("adapter loaded") && line.contains(&field))
        .collect()
}

#[tokio::test]
async fn python_example_loads_from_cache_on_restart() {
    let component = Component::Python.path();
    let mut host = CrashableHost::start().await;

    // Copied in after the start, so the host compiles it through hot reload
    // rather than inside the start-up deadline of the harness. The rename
    // makes the file appear whole.
    let adapters = host.dir().join("adapters");
    let partial = adapters.join(".pyledger.wasm.partial");
    std::fs::copy(&component, &partial).expect("failed to copy the Python example");
    std::fs::rename(&partial, adapters.join("pyledger.wasm"))
        .expect("failed to rename the Python example into the adapters folder");

    let deadline = Instant::now() + COMPILE_TIMEOUT;
    while load_lines(&host.log(), "pyledger").is_empty() {
        if Instant::now() >= deadline {
            host.fail(&format!(
                "the Python example did not load within {COMPILE_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = host.log();
    let first = load_lines(&log, "pyledger");
    assert!(
        first[0].contains("compiled=Compiled"),
        "the first load did not compile: {}",
        first[0]
    );

    host.kill();
    host.start_again().await;

    let log = host.log();
    let loads = load_lines(&log, "pyledger");
    assert_eq!(loads.len(), 2, "loads of pyledger:\n{}", loads.join("\n"));
    assert!(
        loads[1].contains("compiled=Cache"),
        "the restart compiled the Python example again: {}",
        loads[1]
    );
    let adapter = host.get("/v1/adapters/pyledger").await;
    assert_eq!(adapter.status, StatusCode::OK, "{}", adapter.text);
}
