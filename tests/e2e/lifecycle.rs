//! An environment's whole life through the HTTP API, checked against the Docker
//! engine: create, reach `ready`, serve and write its workspace, fail, destroy,
//! read `terminated`.

use std::time::Duration;

use envhost_e2e::{
    Host, containers_of_environment, endpoint_url, get_text_eventually, inspect_container,
    unique_id,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PAGE: &str = "<h1>served from an envhost workspace</h1>\n";

/// How long a created environment may take to read `ready` or `failed`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server in a fresh container may take to accept connections.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

fn id_of(descriptor: &Value) -> String {
    descriptor["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor has no environmentId: {descriptor}"))
        .to_owned()
}

#[tokio::test]
async fn web_environment_serves_workspace_until_destroyed() {
    let host = Host::start().await;
    let workspace = host.workspace("site");
    std::fs::write(workspace.join("index.html"), PAGE).expect("failed to write index.html");

    let created = host
        .create(&json!({
            "templateId": "web",
            "workspacePath": workspace,
            "ttlMs": 600_000,
        }))
        .await;
    let id = id_of(&created);
    assert_eq!(created["provider"], "docker", "{created}");
    assert_eq!(created["status"], "ready", "{created}");
    assert!(
        created["lease"]["expiresAt"].is_string(),
        "no lease: {created}"
    );

    let ready = host.wait_for_status(&id, "ready", STATUS_TIMEOUT).await;
    let url = endpoint_url(&ready, "http");
    let page = get_text_eventually(&url, ENDPOINT_TIMEOUT).await;
    assert_eq!(page, PAGE, "{url} did not serve the workspace's index.html");

    let destroyed = host.delete(&format!("/v1/environments/{id}")).await;
    assert_eq!(
        destroyed.status,
        StatusCode::OK,
        "destroy returned {}",
        destroyed.text
    );

    let after = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "get after destroy returned {}",
        after.text
    );
    assert_eq!(after.body["status"], "terminated", "{}", after.text);
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "container left behind"
    );
}

#[tokio::test]
async fn limits_labels_and_ports_reach_engine() {
    let host = Host::start().await;
    let workspace = host.workspace("limits");

    let created = host
        .create(&json!({
            "templateId": "web",
            "workspacePath": workspace,
            "resources": { "cpu": "500m", "memory": "64Mi" },
        }))
        .await;
    let id = id_of(&created);
    let container_name = format!("envhost-{id}");
    let containers = containers_of_environment(&id);
    assert_eq!(containers.len(), 1, "containers of `{id}`: {containers:?}");

    let container = inspect_container(&containers[0]);
    assert_eq!(container["Name"], format!("/{container_name}"));
    assert_eq!(container["HostConfig"]["NanoCpus"], 500_000_000_u64);
    assert_eq!(container["HostConfig"]["Memory"], 67_108_864_u64);

    let labels = &container["Config"]["Labels"];
    assert_eq!(labels["envhost.managed"], "true", "labels: {labels}");
    assert_eq!(labels["envhost.adapter"], "docker", "labels: {labels}");
    assert_eq!(
        labels["envhost.environment"],
        id.as_str(),
        "labels: {labels}"
    );
    let host_label = labels["envhost.host"].as_str().unwrap_or_default();
    assert!(!host_label.is_empty(), "no `envhost.host` label: {labels}");

    // Every binding the engine made, configured and actual, is on loopback.
    let configured = container["HostConfig"]["PortBindings"]
        .as_object()
        .unwrap_or_else(|| panic!("no port bindings: {}", container["HostConfig"]));
    assert!(!configured.is_empty(), "no ports published");
    let actual = container["NetworkSettings"]["Ports"]
        .as_object()
        .unwrap_or_else(|| panic!("no published ports: {}", container["NetworkSettings"]));
    for bindings in configured.values().chain(actual.values()) {
        for binding in bindings.as_array().map(Vec::as_slice).unwrap_or_default() {
            assert_eq!(binding["HostIp"], "127.0.0.1", "binding {binding}");
        }
    }
    let published_ports: Vec<&str> = actual["8080/tcp"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|binding| binding["HostPort"].as_str().unwrap_or_default())
        .collect();

    let endpoint = &created["endpoints"][0];
    assert_eq!(endpoint["name"], "http", "{created}");
    assert_eq!(endpoint["host"], "127.0.0.1", "{created}");
    let endpoint_port = endpoint["port"].as_u64().unwrap_or_default().to_string();
    assert_eq!(
        published_ports,
        vec![endpoint_port.as_str()],
        "endpoint port is not the engine's binding of 8080/tcp"
    );
}

#[tokio::test]
async fn destroy_twice_succeeds_and_removes_container() {
    let host = Host::start().await;
    let created = host.create(&json!({ "command": ["sleep", "600"] })).await;
    let id = id_of(&created);
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "no container created"
    );

    let path = format!("/v1/environments/{id}?reason=finished-run");
    let first = host.delete(&path).await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "first destroy: {}",
        first.text
    );
    assert_eq!(first.body["status"], "terminated", "{}", first.text);
    assert_eq!(first.body["reason"], "finished-run", "{}", first.text);
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "container left behind"
    );

    let second = host.delete(&path).await;
    assert_eq!(
        second.status,
        StatusCode::OK,
        "second destroy: {}",
        second.text
    );
    assert_eq!(second.body["status"], "terminated", "{}", second.text);

    let after = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.body["status"], "terminated", "{}", after.text);
    assert_eq!(after.body["reason"], "finished-run", "{}", after.text);
    assert_eq!(after.body["endpoints"], json!([]), "{}", after.text);
}

#[tokio::test]
async fn destroy_of_unknown_id_returns_no_content() {
    let host = Host::start().await;
    let id = unique_id("never-created");

    let response = host.delete(&format!("/v1/environments/{id}")).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.text);
    assert_eq!(response.text, "", "a 204 has no body");
}

#[tokio::test]
async fn get_of_unknown_id_is_not_found() {
    let host = Host::start().await;
    let id = unique_id("never-created");

    let response = host.get(&format!("/v1/environments/{id}")).await;
    let detail = response.expect_problem(StatusCode::NOT_FOUND, "not-found");
    assert!(
        detail.contains(&id),
        "detail does not name the id: {detail}"
    );
}

#[tokio::test]
async fn container_writes_reach_workspace() {
    let host = Host::start().await;
    let workspace = host.workspace("output");

    let created = host
        .create(&json!({
            "workspacePath": workspace,
            "command": ["sh", "-c", "echo hi > /workspace/out.txt; sleep 600"],
        }))
        .await;
    let id = id_of(&created);

    let out = workspace.join("out.txt");
    let deadline = std::time::Instant::now() + STATUS_TIMEOUT;
    let content = loop {
        match std::fs::read_to_string(&out) {
            Ok(content) if !content.is_empty() => break content,
            _ if std::time::Instant::now() >= deadline => host.fail(&format!(
                "`{}` did not appear within {STATUS_TIMEOUT:?} (environment `{id}`)",
                out.display()
            )),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert_eq!(content, "hi\n");
}

#[tokio::test]
async fn nonzero_exit_reads_failed_with_code() {
    let host = Host::start().await;
    let created = host
        .create(&json!({ "command": ["sh", "-c", "exit 3"] }))
        .await;
    let id = id_of(&created);

    let failed = host.wait_for_status(&id, "failed", STATUS_TIMEOUT).await;
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("code 3"),
        "reason does not give the exit code: {failed}"
    );
}

#[tokio::test]
async fn destroy_of_failed_environment_removes_container() {
    let host = Host::start().await;
    let created = host
        .create(&json!({ "command": ["sh", "-c", "exit 3"] }))
        .await;
    let id = id_of(&created);
    host.wait_for_status(&id, "failed", STATUS_TIMEOUT).await;
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "the exited container should still be there before destroy"
    );

    let destroyed = host.delete(&format!("/v1/environments/{id}")).await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.text);
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "destroy left the failed environment's container in the engine"
    );
}
