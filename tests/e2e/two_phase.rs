//! Two-phase provisioning: reserve an environment (`pending`, nothing running),
//! then start it (`ready`, serving).

use std::time::Duration;

use envhost_e2e::{Host, containers_of_environment, endpoint_url, get_text_eventually};
use reqwest::StatusCode;
use serde_json::json;

const PAGE: &str = "reserved, then started\n";

#[tokio::test]
async fn reserved_environment_starts_and_serves() {
    let host = Host::start().await;
    let workspace = host.workspace("two-phase");
    std::fs::write(workspace.join("index.html"), PAGE).expect("failed to write index.html");

    // The reserve request has no `templateId` field, so the Docker adapter
    // reads it from the metadata.
    let reserved = host
        .post(
            "/v1/reservations",
            &json!({ "ttlMs": 600_000, "metadata": { "templateId": "web" } }),
        )
        .await;
    assert_eq!(
        reserved.status,
        StatusCode::CREATED,
        "reserve: {}",
        reserved.text
    );
    assert_eq!(reserved.body["status"], "pending", "{}", reserved.text);
    let id = reserved.body["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("reserve returned no environmentId: {}", reserved.text))
        .to_owned();
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "a reservation must not run a container yet"
    );

    let start_path = format!("/v1/environments/{id}/start");
    let start_body = json!({ "workspacePath": workspace });
    let started = host.post(&start_path, &start_body).await;
    assert_eq!(started.status, StatusCode::OK, "start: {}", started.text);
    assert_eq!(started.body["status"], "ready", "{}", started.text);
    assert_eq!(started.body["environmentId"], id.as_str());
    let url = endpoint_url(&started.body, "http");
    let page = get_text_eventually(&url, Duration::from_secs(10)).await;
    assert_eq!(page, PAGE, "{url} did not serve the workspace's index.html");

    let again = host.post(&start_path, &start_body).await;
    assert_eq!(again.status, StatusCode::OK, "second start: {}", again.text);
    assert_eq!(
        again.body, started.body,
        "the second start changed the descriptor"
    );
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "the engine should hold exactly one container of `{id}`"
    );
}

#[tokio::test]
async fn start_with_other_request_conflicts() {
    let host = Host::start().await;
    let first_workspace = host.workspace("first");
    let other_workspace = host.workspace("other");
    let reserved = host
        .post(
            "/v1/reservations",
            &json!({ "metadata": { "templateId": "web" } }),
        )
        .await;
    assert_eq!(
        reserved.status,
        StatusCode::CREATED,
        "reserve: {}",
        reserved.text
    );
    let id = reserved.body["environmentId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let start_path = format!("/v1/environments/{id}/start");

    let started = host
        .post(&start_path, &json!({ "workspacePath": first_workspace }))
        .await;
    assert_eq!(started.status, StatusCode::OK, "start: {}", started.text);
    let other = host
        .post(&start_path, &json!({ "workspacePath": other_workspace }))
        .await;

    other.expect_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(containers_of_environment(&id).len(), 1);
}

#[tokio::test]
async fn start_of_unknown_reservation_is_not_found() {
    let host = Host::start().await;
    let id = envhost_e2e::unique_id("never-reserved");

    let response = host
        .post(&format!("/v1/environments/{id}/start"), &json!({}))
        .await;

    let detail = response.expect_problem(StatusCode::NOT_FOUND, "not-found");
    assert!(
        detail.contains(&id),
        "detail does not name the id: {detail}"
    );
}
