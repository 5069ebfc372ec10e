//! Request handlers: each parses its input, calls the [`Environments`]
//! service once and turns the result into JSON or a problem.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::extract::{ApiJson, ApiQuery, IdPath, ListQuery, PathParam, SnapshotPath};
use super::openapi::{
    CreateSnapshotRequestSchema, EnvironmentLogsSchema, HealthSchema, ProbeRequestSchema,
    ProbeResultSchema, SnapshotListSchema, SnapshotSchema,
};
use super::problem::Problem;
use crate::environments::{
    CreateSnapshotRequest, EnvironmentLogs, Environments, ProbeRequest, ProbeResult, Snapshot,
    SnapshotList,
};
use crate::model::{
    AdapterSummary, Capabilities, CreateRequest, Descriptor, Lease, ListFilter, RenewRequest,
    ReserveRequest, StartRequest, Status,
};

/// Service shared by all handlers.
pub(crate) type Service = Arc<dyn Environments>;

type ApiResult<T> = Result<T, Problem>;

#[utoipa::path(
    post,
    path = "/v1/environments",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Created and started", body = Descriptor),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(service): State<Service>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> ApiResult<(StatusCode, Json<Descriptor>)> {
    let descriptor = service.create(request).await?;
    Ok((StatusCode::CREATED, Json(descriptor)))
}

#[utoipa::path(
    get,
    path = "/v1/environments",
    params(
        ("tenantId" = Option<String>, Query),
        ("namespace" = Option<String>, Query),
        ("runId" = Option<String>, Query),
        ("status" = Option<Status>, Query),
    ),
    responses(
        (status = 200, description = "Matching environments, oldest first", body = Vec<Descriptor>),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    State(service): State<Service>,
    ListQuery(filter): ListQuery,
) -> ApiResult<Json<Vec<Descriptor>>> {
    Ok(Json(service.list(&filter).await?))
}

#[utoipa::path(
    get,
    path = "/v1/environments/{id}",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 200, description = "Status, refreshed from the adapter", body = Descriptor),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get(
    State(service): State<Service>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Descriptor>> {
    Ok(Json(service.get(&id).await?))
}

/// Query of `DELETE /v1/environments/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestroyQuery {
    reason: Option<String>,
}

/// Returns 200 with the descriptor, or 204 when the id was never known:
/// destroying an unknown id succeeds under the contract, but there is nothing
/// to describe.
#[utoipa::path(
    delete,
    path = "/v1/environments/{id}",
    params(
        ("id" = String, Path, description = "Environment id"),
        ("reason" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Destroyed", body = Descriptor),
        (status = 204, description = "The id was never known"),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn destroy(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiQuery(query): ApiQuery<DestroyQuery>,
) -> ApiResult<Response> {
    let response = match service.destroy(&id, query.reason).await? {
        Some(descriptor) => Json(descriptor).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/v1/reservations",
    request_body = ReserveRequest,
    responses(
        (status = 201, description = "Reserved", body = Descriptor),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reserve(
    State(service): State<Service>,
    ApiJson(request): ApiJson<ReserveRequest>,
) -> ApiResult<(StatusCode, Json<Descriptor>)> {
    let descriptor = service.reserve(request).await?;
    Ok((StatusCode::CREATED, Json(descriptor)))
}

#[utoipa::path(
    post,
    path = "/v1/environments/{id}/start",
    params(("id" = String, Path, description = "Environment id")),
    request_body = StartRequest,
    responses(
        (status = 200, description = "Started", body = Descriptor),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<StartRequest>,
) -> ApiResult<Json<Descriptor>> {
    Ok(Json(service.start(&id, request).await?))
}

#[utoipa::path(
    put,
    path = "/v1/environments/{id}/lease",
    params(("id" = String, Path, description = "Environment id")),
    request_body = RenewRequest,
    responses(
        (status = 200, description = "Renewed lease", body = Lease),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn renew(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<RenewRequest>,
) -> ApiResult<Json<Lease>> {
    Ok(Json(service.renew(&id, request.ttl_ms).await?))
}

#[utoipa::path(
    get,
    path = "/v1/adapters",
    responses(
        (status = 200, description = "Adapters, loaded or failed", body = Vec<AdapterSummary>),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn adapters(State(service): State<Service>) -> Json<Vec<AdapterSummary>> {
    Json(service.adapters())
}

#[utoipa::path(
    get,
    path = "/v1/adapters/{name}",
    params(("name" = String, Path, description = "Adapter name")),
    responses(
        (status = 200, description = "One adapter", body = AdapterSummary),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn adapter(
    State(service): State<Service>,
    PathParam(name): PathParam,
) -> ApiResult<Json<AdapterSummary>> {
    service
        .adapters()
        .into_iter()
        .find(|adapter| adapter.name == name)
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("adapter `{name}` not found")))
}

/// Returns what an adapter can do, in the contract's `getCapabilities`
/// shape. An adapter whose file failed to load has no capabilities: 404
/// with the load error.
#[utoipa::path(
    get,
    path = "/v1/adapters/{name}/capabilities",
    params(("name" = String, Path, description = "Adapter name")),
    responses(
        (status = 200, description = "Capabilities", body = Capabilities),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn capabilities(
    State(service): State<Service>,
    PathParam(name): PathParam,
) -> ApiResult<Json<Capabilities>> {
    let summary = service
        .adapters()
        .into_iter()
        .find(|adapter| adapter.name == name)
        .ok_or_else(|| Problem::not_found(format!("adapter `{name}` not found")))?;
    match (summary.capabilities, summary.last_error) {
        (Some(capabilities), _) => Ok(Json(capabilities)),
        (None, Some(error)) => Err(Problem::not_found(format!(
            "adapter `{name}` is not loaded: {error}"
        ))),
        (None, None) => Err(Problem::not_found(format!(
            "adapter `{name}` is not loaded"
        ))),
    }
}

/// Query of `GET /v1/environments/{id}/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsQuery {
    /// Lines to return, newest last; 100 when absent.
    tail: Option<u32>,
}

/// Lines `GET /v1/environments/{id}/logs` returns without `tail`.
const DEFAULT_LOG_TAIL: u32 = 100;

#[utoipa::path(
    get,
    path = "/v1/environments/{id}/logs",
    params(
        ("id" = String, Path, description = "Environment id"),
        ("tail" = Option<u32>, Query, description = "Lines to return; 100 when absent"),
    ),
    responses(
        (status = 200, description = "Last lines of output", body = EnvironmentLogsSchema),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logs(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> ApiResult<Json<EnvironmentLogs>> {
    let tail = query.tail.unwrap_or(DEFAULT_LOG_TAIL);
    Ok(Json(service.logs(&id, tail).await?))
}

#[utoipa::path(
    post,
    path = "/v1/environments/{id}/probe",
    params(("id" = String, Path, description = "Environment id")),
    request_body = ProbeRequestSchema,
    responses(
        (status = 200, description = "Exit code and output", body = ProbeResultSchema),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn probe(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<ProbeRequest>,
) -> ApiResult<Json<ProbeResult>> {
    Ok(Json(service.probe(&id, request).await?))
}

#[utoipa::path(
    post,
    path = "/v1/environments/{id}/snapshots",
    params(("id" = String, Path, description = "Environment id")),
    request_body = CreateSnapshotRequestSchema,
    responses(
        (status = 201, description = "Snapshot created", body = SnapshotSchema),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_snapshot(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<CreateSnapshotRequest>,
) -> ApiResult<(StatusCode, Json<Snapshot>)> {
    let snapshot = service.create_snapshot(&id, request).await?;
    Ok((StatusCode::CREATED, Json(snapshot)))
}

#[utoipa::path(
    get,
    path = "/v1/environments/{id}/snapshots",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 200, description = "Snapshots, oldest first", body = SnapshotListSchema),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_snapshots(
    State(service): State<Service>,
    IdPath(id): IdPath,
) -> ApiResult<Json<SnapshotList>> {
    Ok(Json(service.list_snapshots(&id).await?))
}

/// Returns 204 whether or not the snapshot existed, so that a retried
/// delete succeeds.
#[utoipa::path(
    delete,
    path = "/v1/environments/{id}/snapshots/{snapshotId}",
    params(
        ("id" = String, Path, description = "Environment id"),
        ("snapshotId" = String, Path, description = "Snapshot id"),
    ),
    responses(
        (status = 204, description = "Deleted, or already gone"),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_snapshot(
    State(service): State<Service>,
    SnapshotPath(id, snapshot_id): SnapshotPath,
) -> ApiResult<StatusCode> {
    service.delete_snapshot(&id, &snapshot_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/healthz",
    responses(
        (status = 200, description = "The host is serving", body = HealthSchema),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Renders the metrics, with the gauge of environments read from the
/// records at every scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        (status = "default", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn metrics(State(service): State<Service>) -> ApiResult<Response> {
    let environments = service.list(&ListFilter::default()).await?;
    let text = crate::metrics::render(&environments);
    Ok(([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

pub(crate) async fn unknown_route(uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!("no route for `{}`", uri.path()))
}

pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("method {method} is not allowed on `{}`", uri.path()),
    )
}
