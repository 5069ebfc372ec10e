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
use envhost::adapters::{GuestLimits, Registry, Runtime};
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
/// holds the adapter and the state file.
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
