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

use super::extract::{ApiJson, ApiQuery, IdPath, ListQuery, PathParam};
use super::problem::Problem;
use crate::environments::{EnvironmentLogs, Environments, ProbeRequest, ProbeResult};
use crate::model::{
    AdapterSummary, Capabilities, CreateRequest, Descriptor, Lease, ListFilter, RenewRequest,
    ReserveRequest, StartRequest,
};

/// Service shared by all handlers.
pub(crate) type Service = Arc<dyn Environments>;

type ApiResult<T> = Result<T, Problem>;

pub(crate) async fn create(
    State(service): State<Service>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> ApiResult<(StatusCode, Json<Descriptor>)> {
    let descriptor = service.create(request).await?;
    Ok((StatusCode::CREATED, Json(descriptor)))
}

pub(crate) async fn list(
    State(service): State<Service>,
    ListQuery(filter): ListQuery,
) -> ApiResult<Json<Vec<Descriptor>>> {
    Ok(Json(service.list(&filter).await?))
}

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

pub(crate) async fn reserve(
    State(service): State<Service>,
    ApiJson(request): ApiJson<ReserveRequest>,
) -> ApiResult<(StatusCode, Json<Descriptor>)> {
    let descriptor = service.reserve(request).await?;
    Ok((StatusCode::CREATED, Json(descriptor)))
}

pub(crate) async fn start(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<StartRequest>,
) -> ApiResult<Json<Descriptor>> {
    Ok(Json(service.start(&id, request).await?))
}

pub(crate) async fn renew(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<RenewRequest>,
) -> ApiResult<Json<Lease>> {
    Ok(Json(service.renew(&id, request.ttl_ms).await?))
}

pub(crate) async fn adapters(State(service): State<Service>) -> Json<Vec<AdapterSummary>> {
    Json(service.adapters())
}

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

pub(crate) async fn logs(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> ApiResult<Json<EnvironmentLogs>> {
    let tail = query.tail.unwrap_or(DEFAULT_LOG_TAIL);
    Ok(Json(service.logs(&id, tail).await?))
}

pub(crate) async fn probe(
    State(service): State<Service>,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<ProbeRequest>,
) -> ApiResult<Json<ProbeResult>> {
    Ok(Json(service.probe(&id, request).await?))
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Renders the metrics, with the gauge of environments read from the
/// records at every scrape.
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
