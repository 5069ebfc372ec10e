//! An environment's whole life through the HTTP API: create from a template, reach
//! `ready`, serve its workspace on a published port, destroy, read `terminated`.

use std::time::Duration;

use envhost_e2e::{Host, containers_of_environment, endpoint_url, get_text_eventually};
use reqwest::StatusCode;
use serde_json::json;

const PAGE: &str = "<h1>served from an envhost workspace</h1>\n";

#[tokio::test]
async fn web_environment_serves_workspace_until_destroyed() {
    let host = Host::start().await;
    let workspace = host.workspace("site");
    std::fs::write(workspace.join("index.html"), PAGE).expect("failed to write index.html");

    let created = host
        .post(
            "/v1/environments",
            &json!({
                "templateId": "web",
                "workspacePath": workspace,
                "ttlMs": 600_000,
            }),
        )
        .await;
    assert!(
        created.status.is_success(),
        "create returned {}: {}",
        created.status,
        created.text
    );
    let id = created.body["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("create returned no environmentId: {}", created.text))
        .to_owned();
    assert_eq!(created.body["provider"], "docker", "{}", created.text);
    assert!(
        created.body["lease"]["expiresAt"].is_string(),
        "no lease: {}",
        created.text
    );

    let ready = host
        .wait_for_status(&id, "ready", Duration::from_secs(30))
        .await;
    let url = endpoint_url(&ready, "http");
    let page = get_text_eventually(&url, Duration::from_secs(10)).await;
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
