//! Logs, exec probes and hot reload through the built binary against the real
//! engine: the operations an operator uses on a running host.

use std::time::{Duration, Instant};

use envhost_e2e::Host;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a created environment may take to read `ready`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the watcher may take to pick up a changed adapter file.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

fn id_of(descriptor: &Value) -> String {
    descriptor["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor has no environmentId: {descriptor}"))
        .to_owned()
}

async fn adapter_digest(host: &Host) -> Option<String> {
    let reply = host.get("/v1/adapters/docker").await;
    reply.body["digest"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn logs_return_the_workload_output() {
    let host = Host::start().await;
    let created = host
        .create(&json!({
            "command": ["sh", "-c", "echo first-line; echo second-line; sleep 600"],
        }))
        .await;
    let id = id_of(&created);
    host.wait_for_status(&id, "ready", STATUS_TIMEOUT).await;

    // The engine may need a moment to flush the first lines to its log.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let reply = host
            .get(&format!("/v1/environments/{id}/logs?tail=10"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "logs returned {}", reply.text);
        let lines: Vec<String> = serde_json::from_value(reply.body["lines"].clone())
            .unwrap_or_else(|err| panic!("logs body has no lines ({err}): {}", reply.text));
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let text = lines.join("\n");
    assert!(text.contains("first-line"), "logs: {text}");
    assert!(text.contains("second-line"), "logs: {text}");

    let tail = host
        .get(&format!("/v1/environments/{id}/logs?tail=1"))
        .await;
    let tail_lines = tail.body["lines"].as_array().map_or(0, Vec::len);
    assert_eq!(tail_lines, 1, "tail=1 returned {}", tail.text);
}

#[tokio::test]
async fn probe_runs_a_command_inside() {
    let host = Host::start().await;
    let created = host.create(&json!({})).await;
    let id = id_of(&created);
    host.wait_for_status(&id, "ready", STATUS_TIMEOUT).await;

    let passing = host
        .post(
            &format!("/v1/environments/{id}/probe"),
            &json!({"command": ["sh", "-c", "echo probe-ok"]}),
        )
        .await;
    assert_eq!(
        passing.status,
        StatusCode::OK,
        "probe returned {}",
        passing.text
    );
    assert_eq!(passing.body["exitCode"], 0, "{}", passing.text);
    let output = passing.body["output"].as_str().unwrap_or_default();
    assert!(output.contains("probe-ok"), "probe output: {output}");

    let failing = host
        .post(
            &format!("/v1/environments/{id}/probe"),
            &json!({"command": ["sh", "-c", "exit 7"]}),
        )
        .await;
    assert_eq!(
        failing.status,
        StatusCode::OK,
        "probe returned {}",
        failing.text
    );
    assert_eq!(failing.body["exitCode"], 7, "{}", failing.text);

    let cli = host.cli(&["env", "probe", &id, "--", "sh", "-c", "exit 5"]);
    assert_eq!(cli.status.code(), Some(5), "stderr: {}", cli.stderr);
}

#[tokio::test]
async fn changed_adapter_file_is_reloaded_and_bad_one_rejected() {
    let host = Host::start().await;
    let adapter_file = host.dir().join("adapters/docker.wasm");
    let original = std::fs::read(&adapter_file).expect("failed to read the installed adapter");
    let first_digest = adapter_digest(&host)
        .await
        .expect("docker adapter not loaded");

    // A half-copied file must be rejected while the loaded version keeps
    // serving.
    std::fs::write(&adapter_file, &original[..original.len() / 2])
        .expect("failed to truncate the adapter file");
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    let summary = loop {
        let reply = host.get("/v1/adapters/docker").await;
        if reply.body["lastError"].is_string() || Instant::now() > deadline {
            break reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        summary["lastError"].is_string(),
        "no load error recorded: {summary}"
    );
    let created = host.create(&json!({})).await;
    assert_eq!(created["status"], "ready", "{created}");

    // The safe deploy: write under a hidden name, then rename over the old
    // file. An appended custom section (id 0, size 5, the name `note`) keeps
    // the component valid and gives it a new digest.
    let mut changed = original.clone();
    changed.extend_from_slice(&[0, 5, 4, b'n', b'o', b't', b'e']);
    let partial = host.dir().join("adapters/.docker.wasm.partial");
    std::fs::write(&partial, &changed).expect("failed to write the new adapter");
    std::fs::rename(&partial, &adapter_file).expect("failed to rename the new adapter");

    let deadline = Instant::now() + RELOAD_TIMEOUT;
    let second_digest = loop {
        let digest = adapter_digest(&host).await;
        if digest.as_ref().is_some_and(|d| *d != first_digest) || Instant::now() > deadline {
            break digest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(
        second_digest.as_deref(),
        Some(first_digest.as_str()),
        "adapter not reloaded"
    );
    let created = host.create(&json!({})).await;
    assert_eq!(created["status"], "ready", "{created}");

    std::fs::remove_file(&adapter_file).expect("failed to remove the adapter file");
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    let reply = loop {
        let reply = host.post("/v1/environments", &json!({})).await;
        if reply.status == StatusCode::NOT_FOUND || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let detail = reply.expect_problem(StatusCode::NOT_FOUND, "not-found");
    assert!(
        detail.contains("docker"),
        "detail does not name the adapter: {detail}"
    );
}
