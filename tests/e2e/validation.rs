//! Requests the host rejects: each is a 4xx problem that names the offending
//! field or value, and leaves no record and no container behind.

use envhost_e2e::{Host, containers_named_like, containers_of_environment, unique_id};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Checks that nothing of environment `id` exists: no record in the list, a
/// 404 for it, and no container labelled or named after it.
async fn assert_nothing_created(host: &Host, id: &str) {
    let list = host.get("/v1/environments").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let listed = list
        .body
        .as_array()
        .unwrap_or_else(|| panic!("list is not an array: {}", list.text));
    assert!(
        listed.iter().all(|item| item["environmentId"] != id),
        "rejected environment `{id}` is listed: {}",
        list.text
    );

    let get = host.get(&format!("/v1/environments/{id}")).await;
    get.expect_problem(StatusCode::NOT_FOUND, "not-found");

    assert_eq!(
        containers_of_environment(id),
        Vec::<String>::new(),
        "containers labelled with rejected environment `{id}`"
    );
    assert_eq!(
        containers_named_like(id),
        Vec::<String>::new(),
        "containers named after rejected environment `{id}`"
    );
}

/// A rejected create: the `environmentId` it named and the problem returned.
struct Rejection {
    id: String,
    status: StatusCode,
    code: String,
    detail: String,
}

/// Sends a create with `environmentId` set to a fresh id, and checks that the
/// response is a 4xx problem.
async fn rejected_create(host: &Host, mut body: Value) -> Rejection {
    let id = unique_id("rejected");
    body["environmentId"] = json!(id);
    let response = host.post("/v1/environments", &body).await;
    assert!(
        response.status.is_client_error(),
        "create of {body} returned {}, expected a 4xx: {}",
        response.status,
        response.text
    );
    assert_eq!(
        response.content_type.as_deref(),
        Some("application/problem+json"),
        "{}",
        response.text
    );
    let detail = response.body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("problem without a `detail`: {}", response.text))
        .to_owned();
    let code = response.body["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Rejection {
        id,
        status: response.status,
        code,
        detail,
    }
}

#[tokio::test]
async fn invalid_quantity_names_field_and_value() {
    let host = Host::start().await;

    let rejection = rejected_create(&host, json!({ "resources": { "memory": "lots" } })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.status, StatusCode::BAD_REQUEST, "{detail}");
    assert_eq!(rejection.code, "invalid-request", "{detail}");
    assert!(
        detail.contains("resources.memory"),
        "field not named: {detail}"
    );
    assert!(detail.contains("lots"), "value not named: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn invalid_cpu_quantity_is_rejected() {
    let host = Host::start().await;

    let rejection = rejected_create(&host, json!({ "resources": { "cpu": "half" } })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.status, StatusCode::BAD_REQUEST, "{detail}");
    assert!(
        detail.contains("resources.cpu"),
        "field not named: {detail}"
    );
    assert!(detail.contains("half"), "value not named: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn workspace_outside_roots_is_denied() {
    let host = Host::start().await;

    let rejection = rejected_create(&host, json!({ "workspacePath": "/etc" })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.status, StatusCode::FORBIDDEN, "{detail}");
    assert_eq!(rejection.code, "denied", "{detail}");
    assert!(detail.contains("/etc"), "path not named: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn workspace_symlink_out_of_root_is_denied() {
    let host = Host::start().await;
    let link = host.dir().join("workspaces").join("escape");
    std::os::unix::fs::symlink("/etc", &link).expect("failed to create the symlink");

    let rejection = rejected_create(&host, json!({ "workspacePath": link })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.code, "denied", "{detail}");
    assert!(detail.contains("escape"), "path not named: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn workspace_dotdot_out_of_root_is_denied() {
    let host = Host::start().await;
    let inside = host.workspace("inside");
    let escaping = inside.join("..").join("..").join("..");

    let rejection = rejected_create(&host, json!({ "workspacePath": escaping })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.code, "denied", "{detail}");
    assert!(detail.contains("outside"), "reason not given: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn missing_workspace_is_rejected() {
    let host = Host::start().await;
    let missing = host.dir().join("workspaces").join("not-created");

    let rejection = rejected_create(&host, json!({ "workspacePath": missing })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.status, StatusCode::BAD_REQUEST, "{detail}");
    assert!(detail.contains("not-created"), "path not named: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn unknown_field_is_named() {
    let host = Host::start().await;
    let body = json!({ "command": ["sleep", "600"], "imageName": "x" });

    let rejection = rejected_create(&host, body).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.status, StatusCode::BAD_REQUEST, "{detail}");
    assert_eq!(rejection.code, "invalid-request", "{detail}");
    assert!(detail.contains("imageName"), "field not named: {detail}");
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn unknown_template_is_named() {
    let host = Host::start().await;

    let rejection = rejected_create(&host, json!({ "templateId": "no-such-template" })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.code, "invalid-request", "{detail}");
    assert!(
        detail.contains("no-such-template"),
        "template not named: {detail}"
    );
    assert_nothing_created(&host, &rejection.id).await;
}

#[tokio::test]
async fn image_outside_policy_is_denied() {
    let host = Host::start().await;

    let rejection = rejected_create(&host, json!({ "image": "busybox:latest" })).await;

    let detail = &rejection.detail;
    assert_eq!(rejection.code, "denied", "{detail}");
    assert!(
        detail.contains("busybox:latest"),
        "image not named: {detail}"
    );
    assert_nothing_created(&host, &rejection.id).await;
}
