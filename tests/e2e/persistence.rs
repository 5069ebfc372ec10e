//! Records survive a restart of the host: a new process on the same state
//! database and adapters folder returns and manages what the old one created.

use std::time::Duration;

use envhost_e2e::{Host, containers_of_environment, endpoint_url, get_text_eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PAGE: &str = "still here after a restart\n";

fn id_of(descriptor: &Value) -> String {
    descriptor["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor has no environmentId: {descriptor}"))
        .to_owned()
}

#[tokio::test]
async fn restart_keeps_live_environment() {
    let mut host = Host::start().await;
    let workspace = host.workspace("persisted");
    std::fs::write(workspace.join("index.html"), PAGE).expect("failed to write index.html");
    let created = host
        .create(&json!({ "templateId": "web", "workspacePath": workspace }))
        .await;
    let id = id_of(&created);

    host.restart().await;

    let got = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "get after restart: {}",
        got.text
    );
    assert_eq!(got.body["status"], "ready", "{}", got.text);
    assert_eq!(got.body["createdAt"], created["createdAt"], "{}", got.text);
    assert_eq!(got.body["lease"], created["lease"], "{}", got.text);
    assert_eq!(got.body["endpoints"], created["endpoints"], "{}", got.text);

    let list = host.get("/v1/environments").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let listed: Vec<&Value> = list
        .body
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|item| item["environmentId"] == id.as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(listed.len(), 1, "list after restart: {}", list.text);

    let url = endpoint_url(&got.body, "http");
    let page = get_text_eventually(&url, Duration::from_secs(10)).await;
    assert_eq!(page, PAGE, "{url} stopped serving across the restart");

    let destroyed = host.delete(&format!("/v1/environments/{id}")).await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.text);
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "the restarted host did not remove the container"
    );
}

#[tokio::test]
async fn restart_keeps_terminated_record() {
    let mut host = Host::start().await;
    let created = host.create(&json!({ "command": ["sleep", "600"] })).await;
    let id = id_of(&created);
    let destroyed = host
        .delete(&format!("/v1/environments/{id}?reason=before-restart"))
        .await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.text);

    host.restart().await;

    let got = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "get after restart: {}",
        got.text
    );
    assert_eq!(got.body["status"], "terminated", "{}", got.text);
    assert_eq!(got.body["reason"], "before-restart", "{}", got.text);
}
