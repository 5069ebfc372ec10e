//! Metrics and the OpenAPI document, checked against the real service and
//! router with the testing adapter (WIT 0.1.0), which creates nothing in
//! Docker. The service still connects to the engine at
//! `/var/run/docker.sock`, as `envhost serve` does.
//!
//! The component comes from `scripts/build.sh` (or `cargo build --profile
//! guest --target wasm32-wasip2 -p envhost-testing-adapter`);
//! `ENVHOST_TESTING_ADAPTER` overrides its path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use envhost::adapters::{Compiler, GuestLimits, Registry, Runtime};
use envhost::api::{self, ApiOptions};
use envhost::container::{ContainerHost, Policy};
use envhost::environments::{EnvironmentService, ServiceSettings};
use envhost::ids::{AdapterName, HostId};
use envhost::leases::LeaseSchedule;
use envhost::state::SqliteStore;
use serde_json::{Value, json};
use tower::ServiceExt;

const SOCKET: &str = "unix:///var/run/docker.sock";

const LIMITS: GuestLimits = GuestLimits {
    memory_bytes: 64 * 1024 * 1024,
    call_timeout: Duration::from_secs(10),
    compiler: Compiler::Winch,
};

fn testing_adapter() -> Vec<u8> {
    let path = std::env::var_os("ENVHOST_TESTING_ADAPTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
            let target = match std::env::var_os("CARGO_TARGET_DIR") {
                Some(dir) => workspace.join(dir),
                None => workspace.join("target"),
            };
            target.join("wasm32-wasip2/guest/envhost_testing_adapter.wasm")
        });
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "failed to read test component `{}` ({err}): run scripts/build.sh or set \
             ENVHOST_TESTING_ADAPTER",
            path.display()
        )
    })
}

/// A router over a real service whose only adapter is the testing adapter
/// under the name the test chose, the default. Tests in this binary share one
/// metrics registry, so each uses its own adapter name. The temporary folder
/// contains the adapter and the state file.
struct TestHost {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn start_host(adapter: &str) -> TestHost {
    let dir = tempfile::tempdir().unwrap();
    let adapters = dir.path().join("adapters");
    std::fs::create_dir(&adapters).unwrap();
    std::fs::write(adapters.join(format!("{adapter}.wasm")), testing_adapter()).unwrap();

    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
    let host_id = HostId::from_stored(format!("test-observability-{}", std::process::id()));
    let containers = ContainerHost::connect(Some(SOCKET), Policy::default(), host_id)
        .await
        .unwrap_or_else(|err| {
            panic!("failed to connect to the Docker engine ({err}): run scripts/ensure-docker.sh")
        });
    let runtime = Runtime::new(LIMITS, None).unwrap();
    let registry = Registry::load_dir(&runtime, &adapters, &BTreeMap::new())
        .await
        .unwrap();
    let settings = ServiceSettings {
        default_adapter: Some(AdapterName::parse(adapter).unwrap()),
        default_ttl: Duration::from_secs(600),
        max_ttl: Duration::from_secs(3600),
        tombstone_retention: Duration::from_secs(3600),
    };
    let service = EnvironmentService::new(
        store,
        Arc::new(registry),
        containers,
        settings,
        Arc::new(LeaseSchedule::new()),
    );
    let options = ApiOptions {
        max_body_bytes: 1024 * 1024,
        token: None,
    };
    TestHost {
        router: api::router(Arc::new(service), options),
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("response is not JSON ({err}): {}", self.body))
    }
}

async fn send(host: &TestHost, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    let response = host
        .router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// Returns the value of the sample `name{labels}` in a scrape, or 0 when the
/// scrape has no such sample. `labels` is written as the encoder writes it.
fn sample(scrape: &str, name: &str, labels: &str) -> f64 {
    let key = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(&key)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
        .unwrap_or(0.0)
}

async fn scrape(host: &TestHost) -> String {
    let reply = send(host, Method::GET, "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply
            .content_type
            .starts_with("application/openmetrics-text"),
        "content type `{}`",
        reply.content_type
    );
    reply.body
}

#[tokio::test]
async fn metrics_count_create_and_destroy() {
    let host = start_host("counted").await;
    let created_label = r#"operation="create",adapter="counted",outcome="ok""#;
    let destroyed_label = r#"operation="destroy",adapter="counted",outcome="ok""#;
    let call_label = r#"adapter="counted",function="create""#;
    let before = scrape(&host).await;

    let created = send(&host, Method::POST, "/v1/environments", Some(json!({}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["environmentId"].as_str().unwrap().to_owned();
    let while_ready = scrape(&host).await;
    let destroyed = send(
        &host,
        Method::DELETE,
        &format!("/v1/environments/{id}"),
        None,
    )
    .await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.body);
    let after = scrape(&host).await;

    let operations = "envhost_operations_total";
    assert_eq!(
        sample(&after, operations, created_label) - sample(&before, operations, created_label),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, operations, destroyed_label) - sample(&before, operations, destroyed_label),
        1.0,
        "{after}"
    );
    let calls = "envhost_adapter_call_duration_seconds_count";
    assert!(
        sample(&after, calls, call_label) > sample(&before, calls, call_label),
        "{after}"
    );
    let environments = "envhost_environments";
    assert_eq!(
        sample(
            &while_ready,
            environments,
            r#"adapter="counted",status="ready""#
        ),
        1.0,
        "{while_ready}"
    );
    assert_eq!(
        sample(
            &after,
            environments,
            r#"adapter="counted",status="terminated""#
        ),
        1.0,
        "{after}"
    );
    assert!(after.ends_with("# EOF\n"), "{after}");
}

#[tokio::test]
async fn metrics_count_adapter_loads() {
    let host = start_host("loaded").await;
    let scrape = scrape(&host).await;

    let loads = sample(
        &scrape,
        "envhost_adapter_loads_total",
        r#"adapter="loaded",outcome="loaded""#,
    );
    assert_eq!(loads, 1.0, "{scrape}");
}

/// Returns every `(method, path)` the router in `host/src/api.rs` serves,
/// read from its `.route(PATH, METHOD(handler)...)` calls, so that a route
/// added there without documentation fails the test.
fn routed_operations() -> Vec<(String, String)> {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api.rs")).unwrap();
    let mut operations = Vec::new();
    for call in source.split(".route(").skip(1) {
        let path = call.split('"').nth(1).unwrap().to_owned();
        // The arguments end at the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find_map(|(at, character)| {
                match character {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(at)
            })
            .unwrap();
        let arguments = &call[..end];
        for method in ["get", "post", "put", "delete"] {
            let routed = arguments
                .match_indices(&format!("{method}("))
                .any(|(at, _)| {
                    let before = arguments[..at].chars().next_back();
                    before.is_none_or(|c| !c.is_alphanumeric() && c != '_')
                });
            if routed {
                operations.push((method.to_owned(), path.clone()));
            }
        }
    }
    operations
}

async fn openapi(host: &TestHost) -> Value {
    let reply = send(host, Method::GET, "/v1/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

/// Returns how `body` breaks the schema the document gives for `method
/// path` with `status` and `media_type`, or `default` for problems.
fn schema_errors(
    document: &Value,
    method: &str,
    path: &str,
    status: StatusCode,
    media_type: &str,
    body: &Value,
) -> Vec<String> {
    let responses = &document["paths"][path][method]["responses"];
    assert!(
        responses.is_object(),
        "the document has no `{method} {path}`"
    );
    let status = status.as_u16().to_string();
    let response = if responses[&status].is_object() {
        &responses[&status]
    } else {
        &responses["default"]
    };
    let schema = &response["content"][media_type]["schema"];
    assert!(
        schema.is_object(),
        "the document has no `{media_type}` schema for `{method} {path}` status {status}: {response}"
    );

    // The response schema refers to `#/components/schemas/...`: give it the
    // document's components so that the references resolve.
    let mut root = schema.clone();
    root["components"] = document["components"].clone();
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|err| panic!("invalid schema for `{method} {path}`: {err}"));
    validator
        .iter_errors(body)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect()
}

fn assert_matches_document(document: &Value, method: &str, path: &str, reply: &Reply) {
    let media_type = reply.content_type.split(';').next().unwrap();
    let body = reply.json();
    let errors = schema_errors(document, method, path, reply.status, media_type, &body);
    assert!(
        errors.is_empty(),
        "`{method} {path}` status {} does not match the document: {errors:?}\nbody: {body}",
        reply.status
    );
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let host = start_host("documented").await;
    let document = openapi(&host).await;

    let operations = routed_operations();
    assert!(
        operations.len() >= 15,
        "parsed too few routes: {operations:?}"
    );
    for (method, path) in &operations {
        assert!(
            document["paths"][path][method].is_object(),
            "`{} {path}` is routed but missing from the OpenAPI document",
            method.to_uppercase()
        );
    }
    let documented = document["paths"].as_object().unwrap();
    let documented_count: usize = documented
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(documented_count, operations.len(), "{documented:?}");
    assert_eq!(document["openapi"].as_str().unwrap().get(..2), Some("3."));
}

#[tokio::test]
async fn served_responses_match_openapi() {
    let host = start_host("validated").await;
    let document = openapi(&host).await;

    let request = json!({
        "tenantId": "tenant-a",
        "metadata": {"team": "observability"},
        "resources": {"cpu": "500m", "memory": "64Mi"},
        "ttlMs": 60000,
    });
    let created = send(&host, Method::POST, "/v1/environments", Some(request)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_matches_document(&document, "post", "/v1/environments", &created);
    let id = created.json()["environmentId"].as_str().unwrap().to_owned();

    // The schema is strict enough to catch a wrong body.
    let mut broken = created.json();
    broken["status"] = json!("bogus");
    broken["endpoints"] = json!([{"name": "http"}]);
    let errors = schema_errors(
        &document,
        "post",
        "/v1/environments",
        StatusCode::CREATED,
        "application/json",
        &broken,
    );
    assert!(
        errors.iter().any(|error| error.ends_with("at /status")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|error| error.ends_with("at /endpoints/0")),
        "{errors:?}"
    );

    let path = format!("/v1/environments/{id}");
    let fetched = send(&host, Method::GET, &path, None).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
    assert_matches_document(&document, "get", "/v1/environments/{id}", &fetched);

    let listed = send(&host, Method::GET, "/v1/environments", None).await;
    assert_matches_document(&document, "get", "/v1/environments", &listed);
    let adapters = send(&host, Method::GET, "/v1/adapters", None).await;
    assert_matches_document(&document, "get", "/v1/adapters", &adapters);
    let health = send(&host, Method::GET, "/healthz", None).await;
    assert_matches_document(&document, "get", "/healthz", &health);

    let renewed = send(
        &host,
        Method::PUT,
        &format!("{path}/lease"),
        Some(json!({"ttlMs": 120000})),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_matches_document(&document, "put", "/v1/environments/{id}/lease", &renewed);

    // The testing adapter does not export `snapshots`.
    let snapshots = send(&host, Method::GET, &format!("{path}/snapshots"), None).await;
    assert_eq!(
        snapshots.status,
        StatusCode::NOT_IMPLEMENTED,
        "{}",
        snapshots.body
    );
    assert_matches_document(
        &document,
        "get",
        "/v1/environments/{id}/snapshots",
        &snapshots,
    );

    let destroyed = send(&host, Method::DELETE, &path, None).await;
    assert_matches_document(&document, "delete", "/v1/environments/{id}", &destroyed);

    let rejected = send(
        &host,
        Method::POST,
        "/v1/environments",
        Some(json!({"resources": {"cpu": "lots"}})),
    )
    .await;
    assert_eq!(
        rejected.status,
        StatusCode::BAD_REQUEST,
        "{}",
        rejected.body
    );
    assert_matches_document(&document, "post", "/v1/environments", &rejected);
}
