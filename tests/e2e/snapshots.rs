//! Snapshots of a running Docker environment through the built binary and
//! the real engine: the committed image, its labels, listing, deleting, a
//! rejected name, and an adapter without the `snapshots` export.

use std::process::{Command, Stdio};
use std::time::Duration;

use envhost_e2e::{DEFAULT_CONFIG, ENVIRONMENT_LABEL, HOST_LABEL, Host, testing_adapter};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a created environment may take to read `ready`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(30);

/// Removes every image labelled with the environment when dropped, so that a
/// failing test leaves no snapshot image behind.
struct ImageCleanup {
    environment_id: String,
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        for image in snapshot_images(&self.environment_id) {
            let _ = Command::new("docker")
                .args(["image", "rm", "--force", &image])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Returns the `repository:tag` of every image labelled with the environment.
fn snapshot_images(environment_id: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "image",
            "ls",
            "--filter",
            &format!("label={ENVIRONMENT_LABEL}={environment_id}"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `docker image ls`");
    assert!(
        output.status.success(),
        "`docker image ls` failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Returns the labels of a local image, as `docker image inspect` reports them.
fn image_labels(image: &str) -> Value {
    let output = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            image,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `docker image inspect`");
    assert!(
        output.status.success(),
        "`docker image inspect {image}` failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).expect("image labels are not JSON")
}

fn id_of(descriptor: &Value) -> String {
    descriptor["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor has no environmentId: {descriptor}"))
        .to_owned()
}

/// [`DEFAULT_CONFIG`] with snapshot images allowed, as an operator who
/// restricts `allowed_images` must configure it.
fn config_allowing_snapshots() -> String {
    DEFAULT_CONFIG.replace(
        r#"allowed_images = ["envhost/*"]"#,
        r#"allowed_images = ["envhost/*", "envhost-snapshot/*"]"#,
    )
}

#[tokio::test]
async fn snapshot_round_trip_through_engine() {
    let host = Host::start_with_config(&config_allowing_snapshots()).await;
    let created = host
        .create(&json!({"command": ["sh", "-c", "echo saved > /marker; sleep 600"]}))
        .await;
    let id = id_of(&created);
    let _cleanup = ImageCleanup {
        environment_id: id.clone(),
    };
    host.wait_for_status(&id, "ready", STATUS_TIMEOUT).await;

    let capabilities = host.get("/v1/adapters/docker/capabilities").await;
    assert_eq!(
        capabilities.body["supportsSnapshots"], true,
        "{}",
        capabilities.text
    );

    let path = format!("/v1/environments/{id}/snapshots");
    let created = host.post(&path, &json!({"name": "before-upgrade"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let image = format!("envhost-snapshot/{id}:before-upgrade");
    assert_eq!(created.body["image"], image.as_str(), "{}", created.text);
    assert_eq!(created.body["id"], "before-upgrade", "{}", created.text);
    assert_eq!(created.body["environmentId"], id.as_str());
    assert!(created.body["createdAt"].is_string(), "{}", created.text);

    assert_eq!(snapshot_images(&id), std::slice::from_ref(&image));
    let labels = image_labels(&image);
    assert_eq!(labels[ENVIRONMENT_LABEL], id.as_str(), "{labels}");
    assert_eq!(
        labels[HOST_LABEL].as_str(),
        host.host_id().as_deref(),
        "{labels}"
    );
    assert_eq!(labels["envhost.snapshot"], "before-upgrade", "{labels}");

    let taken = host.post(&path, &json!({"name": "before-upgrade"})).await;
    taken.expect_problem(StatusCode::CONFLICT, "conflict");

    let listed = host.get(&path).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let names: Vec<&str> = listed.body["snapshots"]
        .as_array()
        .unwrap_or_else(|| panic!("list has no snapshots: {}", listed.text))
        .iter()
        .filter_map(|snapshot| snapshot["name"].as_str())
        .collect();
    assert_eq!(names, ["before-upgrade"]);

    // An environment created from the snapshot sees the saved file.
    let restored = host
        .create(&json!({"image": image, "command": ["sh", "-c", "cat /marker; sleep 600"]}))
        .await;
    let restored_id = id_of(&restored);
    host.wait_for_status(&restored_id, "ready", STATUS_TIMEOUT)
        .await;
    let probe = host
        .post(
            &format!("/v1/environments/{restored_id}/probe"),
            &json!({"command": ["cat", "/marker"]}),
        )
        .await;
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.text);
    assert_eq!(probe.body["output"], "saved\n", "{}", probe.text);
    let destroyed = host
        .delete(&format!("/v1/environments/{restored_id}"))
        .await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.text);

    for attempt in ["first", "second"] {
        let deleted = host.delete(&format!("{path}/before-upgrade")).await;
        assert_eq!(
            deleted.status,
            StatusCode::NO_CONTENT,
            "{attempt} delete: {}",
            deleted.text
        );
    }
    assert!(
        snapshot_images(&id).is_empty(),
        "{:?}",
        snapshot_images(&id)
    );
    let listed = host.get(&path).await;
    assert_eq!(listed.body["snapshots"], json!([]), "{}", listed.text);
}

#[tokio::test]
async fn snapshot_invalid_name_is_400() {
    let host = Host::start().await;
    let created = host.create(&json!({})).await;
    let id = id_of(&created);
    let _cleanup = ImageCleanup {
        environment_id: id.clone(),
    };
    host.wait_for_status(&id, "ready", STATUS_TIMEOUT).await;

    let path = format!("/v1/environments/{id}/snapshots");
    for name in ["Upper", "-dash", "a/b", ""] {
        let reply = host.post(&path, &json!({ "name": name })).await;
        let detail = reply.expect_problem(StatusCode::BAD_REQUEST, "invalid-request");
        assert!(detail.contains(&format!("`{name}`")), "{detail}");
    }
    assert!(
        snapshot_images(&id).is_empty(),
        "{:?}",
        snapshot_images(&id)
    );

    // The default config allows only `envhost/*`, and snapshots do not
    // widen it.
    let created = host.create(&json!({})).await;
    let other = id_of(&created);
    let _other_cleanup = ImageCleanup {
        environment_id: other.clone(),
    };
    host.wait_for_status(&other, "ready", STATUS_TIMEOUT).await;
    let snapshot = host
        .post(
            &format!("/v1/environments/{other}/snapshots"),
            &json!({"name": "v1"}),
        )
        .await;
    assert_eq!(snapshot.status, StatusCode::CREATED, "{}", snapshot.text);
    let restored = host
        .post(
            "/v1/environments",
            &json!({"image": format!("envhost-snapshot/{other}:v1")}),
        )
        .await;
    restored.expect_problem(StatusCode::FORBIDDEN, "denied");
}

#[tokio::test]
async fn snapshot_of_unknown_or_ended_environment() {
    let host = Host::start().await;
    let unknown = host
        .post(
            "/v1/environments/never-created/snapshots",
            &json!({"name": "v1"}),
        )
        .await;
    unknown.expect_problem(StatusCode::NOT_FOUND, "not-found");

    let created = host.create(&json!({})).await;
    let id = id_of(&created);
    let _cleanup = ImageCleanup {
        environment_id: id.clone(),
    };
    let destroyed = host.delete(&format!("/v1/environments/{id}")).await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.text);
    let ended = host
        .post(
            &format!("/v1/environments/{id}/snapshots"),
            &json!({"name": "v1"}),
        )
        .await;
    ended.expect_problem(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn snapshot_without_export_is_501() {
    let config = DEFAULT_CONFIG.replace("default = \"docker\"", "default = \"testing\"");
    let host = Host::start_with_adapters(&config, &[("testing.wasm", &testing_adapter())]).await;
    let created = host.create(&json!({})).await;
    let id = id_of(&created);

    let capabilities = host.get("/v1/adapters/testing/capabilities").await;
    assert_eq!(
        capabilities.body["supportsSnapshots"], false,
        "{}",
        capabilities.text
    );
    let path = format!("/v1/environments/{id}/snapshots");
    let reply = host.post(&path, &json!({"name": "v1"})).await;
    let detail = reply.expect_problem(StatusCode::NOT_IMPLEMENTED, "not-implemented");
    assert!(detail.contains("snapshots"), "{detail}");
    let listed = host.get(&path).await;
    listed.expect_problem(StatusCode::NOT_IMPLEMENTED, "not-implemented");
}

#[test]
fn snapshot_cli_round_trip() {
    let runtime = tokio::runtime::Runtime::new().expect("failed to start a runtime");
    let host = runtime.block_on(Host::start());
    let created = runtime.block_on(host.create(&json!({})));
    let id = id_of(&created);
    let _cleanup = ImageCleanup {
        environment_id: id.clone(),
    };
    runtime.block_on(host.wait_for_status(&id, "ready", STATUS_TIMEOUT));

    let create = host.cli(&["env", "snapshot", "create", &id, "v1"]);
    assert!(
        create.status.success(),
        "{}{}",
        create.stdout,
        create.stderr
    );
    assert!(
        create.stdout.contains(&format!("envhost-snapshot/{id}:v1")),
        "{}",
        create.stdout
    );

    let list = host.cli(&["env", "snapshot", "list", &id]);
    assert!(list.status.success(), "{}", list.stderr);
    assert!(
        list.stdout.lines().any(|line| line.starts_with("v1 ")),
        "{}",
        list.stdout
    );

    for _ in 0..2 {
        let delete = host.cli(&["env", "snapshot", "delete", &id, "v1"]);
        assert!(delete.status.success(), "{}", delete.stderr);
    }
    assert!(
        snapshot_images(&id).is_empty(),
        "{:?}",
        snapshot_images(&id)
    );
}
