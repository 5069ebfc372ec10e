//! Creates that name their own `environmentId`: the same request again returns
//! the same environment without a second container, a different one conflicts.

use envhost_e2e::{Host, containers_of_environment, unique_id};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn repeated_create_returns_same_environment() {
    let host = Host::start().await;
    let id = unique_id("idem");
    let body = json!({
        "environmentId": id,
        "command": ["sleep", "600"],
        "ttlMs": 600_000,
        "metadata": { "run": "first" },
    });

    let first = host.post("/v1/environments", &body).await;
    assert_eq!(
        first.status,
        StatusCode::CREATED,
        "first create: {}",
        first.text
    );
    let second = host.post("/v1/environments", &body).await;
    assert!(
        second.status.is_success(),
        "second create returned {}: {}",
        second.status,
        second.text
    );

    assert_eq!(first.body["environmentId"], id.as_str());
    assert_eq!(
        second.body, first.body,
        "the second create changed the descriptor"
    );
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "the engine should hold exactly one container of `{id}`"
    );
}

#[tokio::test]
async fn same_id_with_other_request_conflicts() {
    let host = Host::start().await;
    let id = unique_id("idem");
    let first = host
        .post(
            "/v1/environments",
            &json!({ "environmentId": id, "command": ["sleep", "600"] }),
        )
        .await;
    assert_eq!(
        first.status,
        StatusCode::CREATED,
        "first create: {}",
        first.text
    );

    let other = host
        .post(
            "/v1/environments",
            &json!({ "environmentId": id, "command": ["sleep", "700"] }),
        )
        .await;
    let detail = other.expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        detail.contains(&id),
        "detail does not name the id: {detail}"
    );

    let containers = containers_of_environment(&id);
    assert_eq!(containers.len(), 1, "containers of `{id}`: {containers:?}");
    let current = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text);
    assert_eq!(current.body["status"], "ready", "{}", current.text);
}
