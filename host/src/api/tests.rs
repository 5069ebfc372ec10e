//! Tests of the HTTP layer against a fake service, driven with
//! `tower::ServiceExt::oneshot`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ApiOptions, require_token_for, router};
use crate::environments::{
    CreateSnapshotRequest, EnvironmentLogs, Environments, ProbeRequest, ProbeResult, ServiceError,
    Snapshot, SnapshotList,
};
use crate::ids::EnvironmentId;
use crate::model::{
    AdapterHealth, AdapterSummary, Capabilities, CreateRequest, Descriptor, Endpoint, JsonObject,
    Lease, ListFilter, Protocol, ReserveRequest, StartRequest, Status,
};

const KNOWN_ID: &str = "env-1";
const TOKEN: &str = "t0ken";

/// Service that returns canned descriptors, records what it was called with, and
/// returns `next_error` instead once it is set.
#[derive(Default)]
struct FakeEnvironments {
    next_error: Mutex<Option<ServiceError>>,
    last_create: Mutex<Option<CreateRequest>>,
    last_filter: Mutex<Option<ListFilter>>,
    last_reason: Mutex<Option<Option<String>>>,
    last_renew: Mutex<Option<(String, u64)>>,
    last_snapshot_delete: Mutex<Option<(String, String)>>,
}

impl FakeEnvironments {
    fn fail_with(&self, err: ServiceError) {
        *self.next_error.lock().unwrap() = Some(err);
    }

    fn take_error(&self) -> Result<(), ServiceError> {
        match self.next_error.lock().unwrap().take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

fn descriptor(id: &str, status: Status) -> Descriptor {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    Descriptor {
        environment_id: EnvironmentId::parse(id).unwrap(),
        provider: "docker".to_owned(),
        status,
        reason: None,
        created_at: at,
        updated_at: at,
        lease: None,
        endpoints: vec![Endpoint {
            name: "http".to_owned(),
            protocol: Protocol::Http,
            host: "127.0.0.1".to_owned(),
            port: 32768,
            path: None,
        }],
        metadata: JsonObject::new(),
    }
}

#[async_trait]
impl Environments for FakeEnvironments {
    async fn create(&self, request: CreateRequest) -> Result<Descriptor, ServiceError> {
        self.take_error()?;
        let id = request
            .environment_id
            .clone()
            .unwrap_or_else(|| KNOWN_ID.to_owned());
        *self.last_create.lock().unwrap() = Some(request);
        Ok(descriptor(&id, Status::Ready))
    }

    async fn get(&self, id: &EnvironmentId) -> Result<Descriptor, ServiceError> {
        self.take_error()?;
        if id.as_str() != KNOWN_ID {
            return Err(ServiceError::NotFound(format!(
                "environment `{id}` not found"
            )));
        }
        Ok(descriptor(KNOWN_ID, Status::Ready))
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Descriptor>, ServiceError> {
        self.take_error()?;
        *self.last_filter.lock().unwrap() = Some(filter.clone());
        Ok(vec![descriptor(KNOWN_ID, Status::Ready)])
    }

    async fn destroy(
        &self,
        id: &EnvironmentId,
        reason: Option<String>,
    ) -> Result<Option<Descriptor>, ServiceError> {
        self.take_error()?;
        *self.last_reason.lock().unwrap() = Some(reason);
        Ok((id.as_str() == KNOWN_ID).then(|| descriptor(KNOWN_ID, Status::Terminated)))
    }

    async fn reserve(&self, _request: ReserveRequest) -> Result<Descriptor, ServiceError> {
        self.take_error()?;
        Ok(descriptor(KNOWN_ID, Status::Pending))
    }

    async fn start(
        &self,
        id: &EnvironmentId,
        _request: StartRequest,
    ) -> Result<Descriptor, ServiceError> {
        self.take_error()?;
        Ok(descriptor(id.as_str(), Status::Ready))
    }

    async fn renew(&self, id: &EnvironmentId, ttl_ms: u64) -> Result<Lease, ServiceError> {
        self.take_error()?;
        *self.last_renew.lock().unwrap() = Some((id.to_string(), ttl_ms));
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        Ok(Lease {
            lease_id: "lease-1".to_owned(),
            acquired_at: at,
            expires_at: at + chrono::Duration::milliseconds(ttl_ms as i64),
            owner: None,
        })
    }

    fn adapters(&self) -> Vec<AdapterSummary> {
        vec![AdapterSummary {
            name: "docker".to_owned(),
            file: "/adapters/docker.wasm".to_owned(),
            version: Some("0.1.0".to_owned()),
            wit_version: Some("0.1.0".to_owned()),
            digest: None,
            loaded_at: None,
            capabilities: Some(Capabilities {
                supports_lease_renewal: true,
                supports_logs: true,
                ..Capabilities::default()
            }),
            health: AdapterHealth::Healthy,
            last_error: None,
        }]
    }

    async fn logs(&self, id: &EnvironmentId, tail: u32) -> Result<EnvironmentLogs, ServiceError> {
        self.take_error()?;
        Ok(EnvironmentLogs {
            environment_id: id.clone(),
            lines: (0..tail.min(3))
                .map(|line| format!("line {line}"))
                .collect(),
        })
    }

    async fn probe(
        &self,
        id: &EnvironmentId,
        request: ProbeRequest,
    ) -> Result<ProbeResult, ServiceError> {
        self.take_error()?;
        Ok(ProbeResult {
            environment_id: id.clone(),
            exit_code: 3,
            output: request.command.join(" "),
            truncated: false,
        })
    }

    async fn create_snapshot(
        &self,
        id: &EnvironmentId,
        request: CreateSnapshotRequest,
    ) -> Result<Snapshot, ServiceError> {
        self.take_error()?;
        Ok(snapshot(id, &request.name))
    }

    async fn list_snapshots(&self, id: &EnvironmentId) -> Result<SnapshotList, ServiceError> {
        self.take_error()?;
        Ok(SnapshotList {
            environment_id: id.clone(),
            snapshots: vec![snapshot(id, "v1")],
        })
    }

    async fn delete_snapshot(
        &self,
        id: &EnvironmentId,
        snapshot_id: &str,
    ) -> Result<(), ServiceError> {
        self.take_error()?;
        *self.last_snapshot_delete.lock().unwrap() = Some((id.to_string(), snapshot_id.to_owned()));
        Ok(())
    }
}

fn snapshot(id: &EnvironmentId, name: &str) -> Snapshot {
    Snapshot {
        environment_id: id.clone(),
        id: name.to_owned(),
        name: name.to_owned(),
        image: format!("envhost-snapshot/{id}:{name}"),
        created_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
        size_bytes: Some(4096),
    }
}

struct Harness {
    fake: Arc<FakeEnvironments>,
    options: ApiOptions,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Harness {
    fn new() -> Self {
        Self {
            fake: Arc::new(FakeEnvironments::default()),
            options: ApiOptions {
                max_body_bytes: 64 * 1024,
                token: None,
            },
        }
    }

    fn with_token() -> Self {
        let mut harness = Self::new();
        harness.options.token = Some(TOKEN.to_owned());
        harness
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let app = router(self.fake.clone(), self.options.clone());
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, uri: &str) -> Reply {
        self.send(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post_json(&self, uri: &str, body: &Value) -> Reply {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }
}

fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(reply.body["status"], status.as_u16());
    assert_eq!(reply.body["code"], code);
    assert_eq!(reply.body["type"], format!("urn:envhost:problem:{code}"));
    assert!(reply.body["title"].is_string());
    assert!(reply.body["detail"].is_string());
}

fn detail(reply: &Reply) -> &str {
    reply.body["detail"].as_str().unwrap()
}

#[tokio::test]
async fn create_returns_201_with_camel_case_descriptor() {
    let harness = Harness::new();
    let body = json!({"environmentId": "run-7", "runId": "r", "ttlMs": 60000});

    let reply = harness.post_json("/v1/environments", &body).await;

    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["environmentId"], "run-7");
    assert_eq!(reply.body["status"], "ready");
    assert_eq!(reply.body["createdAt"], "2026-12-01T10:00:00Z");
    assert_eq!(reply.body["endpoints"][0]["port"], 32768);
    let request = harness.fake.last_create.lock().unwrap().clone().unwrap();
    assert_eq!(request.run_id.as_deref(), Some("r"));
    assert_eq!(request.ttl_ms, Some(60000));
}

#[tokio::test]
async fn list_passes_every_filter() {
    let harness = Harness::new();

    let uri = "/v1/environments?tenantId=t&namespace=n&runId=r&status=degraded";
    let reply = harness.call(Method::GET, uri).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body[0]["environmentId"], KNOWN_ID);
    let filter = harness.fake.last_filter.lock().unwrap().clone().unwrap();
    assert_eq!(filter.tenant_id.as_deref(), Some("t"));
    assert_eq!(filter.namespace.as_deref(), Some("n"));
    assert_eq!(filter.run_id.as_deref(), Some("r"));
    assert_eq!(filter.status, Some(Status::Degraded));
}

#[tokio::test]
async fn list_rejects_unknown_query_parameter() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments?state=ready")
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("`state`"), "{}", detail(&reply));
}

#[tokio::test]
async fn list_rejects_bad_status() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments?status=running")
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("`status`"), "{}", detail(&reply));
    assert!(detail(&reply).contains("`running`"), "{}", detail(&reply));
}

#[tokio::test]
async fn list_rejects_repeated_parameter() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments?runId=a&runId=b")
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("`runId`"), "{}", detail(&reply));
}

#[tokio::test]
async fn get_returns_descriptor() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments/env-1")
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["environmentId"], KNOWN_ID);
    assert_eq!(reply.body["provider"], "docker");
}

#[tokio::test]
async fn get_unknown_id_is_404_problem() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments/env-2")
        .await;

    assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
    assert!(detail(&reply).contains("env-2"));
}

#[tokio::test]
async fn invalid_id_in_path_is_400_naming_it() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments/-bad%20id")
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("`-bad id`"), "{}", detail(&reply));
}

#[tokio::test]
async fn destroy_known_id_returns_200_with_reason_passed() {
    let harness = Harness::new();

    let reply = harness
        .call(Method::DELETE, "/v1/environments/env-1?reason=done")
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "terminated");
    let reason = harness.fake.last_reason.lock().unwrap().clone().unwrap();
    assert_eq!(reason.as_deref(), Some("done"));
}

#[tokio::test]
async fn destroy_unknown_id_returns_204() {
    let reply = Harness::new()
        .call(Method::DELETE, "/v1/environments/env-9")
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, Value::Null);
}

#[tokio::test]
async fn destroy_rejects_unknown_query_parameter() {
    let reply = Harness::new()
        .call(Method::DELETE, "/v1/environments/env-1?force=1")
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("`force`"), "{}", detail(&reply));
}

#[tokio::test]
async fn reserve_returns_201_pending() {
    let reply = Harness::new()
        .post_json("/v1/reservations", &json!({"runId": "r"}))
        .await;

    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["status"], "pending");
}

#[tokio::test]
async fn start_returns_200_descriptor() {
    let body = json!({"image": "envhost/busybox:test", "env": {"A": "1"}});

    let reply = Harness::new()
        .post_json("/v1/environments/env-3/start", &body)
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["environmentId"], "env-3");
    assert_eq!(reply.body["status"], "ready");
}

#[tokio::test]
async fn renew_returns_the_lease() {
    let harness = Harness::new();
    let request = Request::put("/v1/environments/env-4/lease")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"ttlMs": 30000}).to_string()))
        .unwrap();

    let reply = harness.send(request).await;

    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body["leaseId"], "lease-1");
    assert_eq!(reply.body["expiresAt"], "2026-12-01T10:00:30Z");
    let renewed = harness.fake.last_renew.lock().unwrap().clone();
    assert_eq!(renewed, Some(("env-4".to_owned(), 30000)));
}

#[tokio::test]
async fn renew_without_ttl_is_400_naming_the_field() {
    let request = Request::put("/v1/environments/env-4/lease")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();

    let reply = Harness::new().send(request).await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("ttlMs"), "{}", detail(&reply));
}

#[tokio::test]
async fn array_body_is_rejected_not_read_in_order() {
    let harness = Harness::new();
    let request = Request::put("/v1/environments/env-4/lease")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("[5]"))
        .unwrap();

    let reply = harness.send(request).await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(
        detail(&reply).contains("expected a JSON object"),
        "{}",
        detail(&reply)
    );
    assert_eq!(*harness.fake.last_renew.lock().unwrap(), None);
}

#[tokio::test]
async fn adapters_lists_summaries() {
    let reply = Harness::new().call(Method::GET, "/v1/adapters").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body[0]["name"], "docker");
    assert_eq!(reply.body[0]["witVersion"], "0.1.0");
    assert_eq!(reply.body[0]["health"], "healthy");
}

#[tokio::test]
async fn adapter_by_name_returns_summary() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/adapters/docker")
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "docker");
}

#[tokio::test]
async fn unknown_adapter_is_404_naming_it() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/adapters/podman")
        .await;

    assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
    assert!(detail(&reply).contains("`podman`"));
}

#[tokio::test]
async fn healthz_returns_ok() {
    let reply = Harness::new().call(Method::GET, "/healthz").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn service_errors_map_to_problem_statuses() {
    let cases = [
        (
            ServiceError::InvalidRequest("bad cpu `x`".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            ServiceError::NotFound("no provider `p`".into()),
            StatusCode::NOT_FOUND,
        ),
        (
            ServiceError::Conflict("id `a` exists".into()),
            StatusCode::CONFLICT,
        ),
        (
            ServiceError::Denied("image `x` not allowed".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            ServiceError::NotImplemented("no two-phase".into()),
            StatusCode::NOT_IMPLEMENTED,
        ),
        (
            ServiceError::Unavailable("engine down".into()),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            ServiceError::AdapterFailed("adapter `a` trapped in `create`".into()),
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (err, status) in cases {
        let harness = Harness::new();
        let code = err.code();
        let message = err.to_string();
        harness.fake.fail_with(err);

        let reply = harness.post_json("/v1/environments", &json!({})).await;

        assert_problem(&reply, status, code);
        assert_eq!(detail(&reply), message);
    }
}

#[tokio::test]
async fn internal_error_hides_its_detail() {
    let harness = Harness::new();
    harness.fake.fail_with(ServiceError::Internal(
        "sqlite: disk I/O error at /var/x".into(),
    ));

    let reply = harness.call(Method::GET, "/v1/environments").await;

    assert_problem(&reply, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(!detail(&reply).contains("sqlite"), "{}", detail(&reply));
}

#[tokio::test]
async fn unknown_body_field_is_named() {
    let reply = Harness::new()
        .post_json("/v1/environments", &json!({"imgae": "x"}))
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("`imgae`"), "{}", detail(&reply));
}

#[tokio::test]
async fn wrong_field_type_names_the_field() {
    let body = json!({"resources": {"cpu": 2}});

    let reply = Harness::new().post_json("/v1/environments", &body).await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(
        detail(&reply).contains("resources.cpu"),
        "{}",
        detail(&reply)
    );
}

#[tokio::test]
async fn malformed_json_is_400_problem() {
    let request = Request::post("/v1/environments")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"image\": "))
        .unwrap();

    let reply = Harness::new().send(request).await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
}

#[tokio::test]
async fn missing_content_type_is_400_problem() {
    let request = Request::post("/v1/environments")
        .body(Body::from("{}"))
        .unwrap();

    let reply = Harness::new().send(request).await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(
        detail(&reply).contains("application/json"),
        "{}",
        detail(&reply)
    );
}

#[tokio::test]
async fn body_over_limit_is_413_problem() {
    let mut harness = Harness::new();
    harness.options.max_body_bytes = 100;
    let body = json!({"image": "x".repeat(200)});

    let reply = harness.post_json("/v1/environments", &body).await;

    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    assert!(detail(&reply).contains("100 bytes"), "{}", detail(&reply));
    assert!(harness.fake.last_create.lock().unwrap().is_none());
}

#[tokio::test]
async fn unknown_route_is_404_problem() {
    let reply = Harness::new().call(Method::GET, "/v2/things").await;

    assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
    assert!(detail(&reply).contains("/v2/things"));
}

#[tokio::test]
async fn wrong_method_is_405_problem() {
    let reply = Harness::new().call(Method::PUT, "/v1/adapters").await;

    assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
}

#[tokio::test]
async fn missing_token_is_401_with_challenge() {
    let reply = Harness::with_token()
        .call(Method::GET, "/v1/environments")
        .await;

    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
}

#[tokio::test]
async fn wrong_token_is_401() {
    let request = Request::get("/v1/environments")
        .header(header::AUTHORIZATION, "Bearer not-the-token")
        .body(Body::empty())
        .unwrap();

    let reply = Harness::with_token().send(request).await;

    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
}

#[tokio::test]
async fn right_token_is_accepted() {
    let request = Request::get("/v1/environments")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();

    let reply = Harness::with_token().send(request).await;

    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_route_needs_token_too() {
    let reply = Harness::with_token().call(Method::GET, "/v2/things").await;

    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn healthz_needs_no_token() {
    let reply = Harness::with_token().call(Method::GET, "/healthz").await;

    assert_eq!(reply.status, StatusCode::OK);
}

#[test]
fn non_loopback_listen_requires_token() {
    let any: std::net::SocketAddr = "0.0.0.0:8480".parse().unwrap();

    let err = require_token_for(any, None).unwrap_err();

    assert!(err.contains("0.0.0.0:8480"), "{err}");
    assert!(require_token_for(any, Some("")).is_err());
    assert!(require_token_for(any, Some("t")).is_ok());
}

#[test]
fn loopback_listen_needs_no_token() {
    for listen in ["127.0.0.1:8480", "[::1]:8480", "[::ffff:127.0.0.1]:8480"] {
        let listen = listen.parse().unwrap();
        assert!(require_token_for(listen, None).is_ok(), "{listen}");
    }
}

#[tokio::test]
async fn capabilities_use_the_contract_field_names() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/adapters/docker/capabilities")
        .await;

    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body["supportsLogs"], true);
    assert_eq!(reply.body["supportsExecProbe"], false);
    assert_eq!(reply.body["supportsSnapshots"], false);
    assert_eq!(reply.body["supportsLeaseRenewal"], true);
    assert!(reply.body["custom"].is_object());
}

#[tokio::test]
async fn capabilities_of_unknown_adapter_is_404() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/adapters/podman/capabilities")
        .await;

    assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
    assert!(detail(&reply).contains("`podman`"), "{}", detail(&reply));
}

#[tokio::test]
async fn logs_passes_tail_and_returns_lines() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments/env-1/logs?tail=2")
        .await;

    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body["environmentId"], "env-1");
    assert_eq!(reply.body["lines"], json!(["line 0", "line 1"]));
}

#[tokio::test]
async fn logs_rejects_a_bad_tail() {
    let reply = Harness::new()
        .call(Method::GET, "/v1/environments/env-1/logs?tail=many")
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
}

#[tokio::test]
async fn probe_returns_exit_code_and_output() {
    let body = json!({"command": ["cat", "/etc/hostname"], "timeoutMs": 500});

    let reply = Harness::new()
        .post_json("/v1/environments/env-1/probe", &body)
        .await;

    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body["exitCode"], 3);
    assert_eq!(reply.body["output"], "cat /etc/hostname");
    assert_eq!(reply.body["truncated"], false);
}

#[tokio::test]
async fn probe_without_capability_is_501() {
    let harness = Harness::new();
    harness.fake.fail_with(ServiceError::NotImplemented(
        "adapter `docker` does not support exec probes".to_owned(),
    ));

    let reply = harness
        .post_json(
            "/v1/environments/env-1/probe",
            &json!({"command": ["true"]}),
        )
        .await;

    assert_problem(&reply, StatusCode::NOT_IMPLEMENTED, "not-implemented");
    assert!(detail(&reply).contains("exec probes"), "{}", detail(&reply));
}

#[tokio::test]
async fn create_snapshot_returns_201_with_camel_case_body() {
    let harness = Harness::new();
    let reply = harness
        .post_json("/v1/environments/env-1/snapshots", &json!({"name": "v2"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["environmentId"], "env-1");
    assert_eq!(reply.body["id"], "v2");
    assert_eq!(reply.body["image"], "envhost-snapshot/env-1:v2");
    assert_eq!(reply.body["createdAt"], "2026-12-01T10:00:00Z");
    assert_eq!(reply.body["sizeBytes"], 4096);
}

#[tokio::test]
async fn create_snapshot_rejects_unknown_field() {
    let harness = Harness::new();
    let reply = harness
        .post_json(
            "/v1/environments/env-1/snapshots",
            &json!({"name": "v2", "tag": "x"}),
        )
        .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-request");
    assert!(detail(&reply).contains("tag"), "{}", detail(&reply));
}

#[tokio::test]
async fn list_snapshots_returns_them() {
    let harness = Harness::new();
    let reply = harness
        .call(Method::GET, "/v1/environments/env-1/snapshots")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["environmentId"], "env-1");
    assert_eq!(reply.body["snapshots"][0]["name"], "v1");
}

#[tokio::test]
async fn delete_snapshot_returns_204_with_ids_passed() {
    let harness = Harness::new();
    let reply = harness
        .call(Method::DELETE, "/v1/environments/env-1/snapshots/v1")
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let passed = harness.fake.last_snapshot_delete.lock().unwrap().clone();
    assert_eq!(passed, Some(("env-1".to_owned(), "v1".to_owned())));
}

#[tokio::test]
async fn snapshots_without_capability_are_501() {
    let harness = Harness::new();
    harness.fake.fail_with(ServiceError::NotImplemented(
        "adapter `testing` does not support snapshots".to_owned(),
    ));
    let reply = harness
        .post_json("/v1/environments/env-1/snapshots", &json!({"name": "v2"}))
        .await;
    assert_problem(&reply, StatusCode::NOT_IMPLEMENTED, "not-implemented");
}
